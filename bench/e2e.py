"""One end-to-end run in a fresh process: model file -> SVG, with phase times and peak RSS.

    python -m bench.e2e MODEL OUT.svg [--cli|--full]   # prints one JSON line
    python -m bench.e2e --rows [--reps N]         # the end-to-end rows of `python -m bench`

Default: load -> annotate() (shapes, params, FLOPs, on a copy) -> layout of every node -> SVG.
``--full`` draws the same every-node drawing as ``nnviz --depth 99 --no-fold`` prepares it
(in place, no copy); ``--cli`` uses the CLI's default view (prepare: annotate +
fold/collapse), which draws a 50k-node model as a few dozen boxes.

``--rows``: issue 19's end-to-end cases, each in fresh processes, best of N by wall time
(the CPU time of that run beside it: on a shared machine wall time includes waiting for a
core): the 50k-node GPT-style ONNX export fully drawn and in the default view, and a 1.4 GB
single-file ONNX (GPT-2 medium's size and depth, weights inside). The model files are built
once into $NNVIZ_BENCH_DIR (default ~/.cache/nnviz-bench).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

USAGE = ("usage: python -m bench.e2e MODEL OUT.svg [--cli|--full]\n"
         "       python -m bench.e2e --rows [--reps N]")
REPO = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """Peak RSS of this process since exec (VmHWM). ru_maxrss would also count the memory
    of the parent that forked us (the benchmark itself), which exec does not reset."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str]) -> int:
    if "--rows" in argv:
        reps = int(argv[argv.index("--reps") + 1]) if "--reps" in argv[:-1] else 3
        print_rows(rows(reps=reps))
        return 0
    paths = [a for a in argv if not a.startswith("--")]
    if len(paths) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    src, out = paths
    c0 = time.process_time()
    t0 = time.perf_counter()
    import nnviz
    from nnviz.layout import layout
    from nnviz.passes import ViewOptions, annotate, prepare
    from nnviz.render import render
    from nnviz.theme import load_theme

    t1 = time.perf_counter()
    c1 = time.process_time()
    graph = nnviz.load(src)
    t2 = time.perf_counter()
    c2 = time.process_time()
    # as the CLI prepares a graph it loaded itself (in place, no copy): --cli is the default
    # view, --full is `--depth 99 --no-fold` (every node drawn); neither: annotate() on a copy
    if "--full" in argv:
        graph = prepare(graph, ViewOptions(depth=99, fold=False), owned=True)
    elif "--cli" in argv:
        graph = prepare(graph, ViewOptions(), owned=True)
    else:
        graph = annotate(graph)
    t3 = time.perf_counter()
    theme = load_theme()
    lay = layout(graph, theme=theme)
    t4 = time.perf_counter()
    render(graph, lay, out, theme=theme)
    t5 = time.perf_counter()
    c5 = time.process_time()
    rss = peak_rss_mb()
    print(json.dumps({"import_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3),
                      "prepare_s": round(t3 - t2, 3), "layout_s": round(t4 - t3, 3),
                      "render_s": round(t5 - t4, 3), "file_to_svg_s": round(t5 - t1, 3),
                      "total_s": round(t5 - t0, 3), "load_cpu_s": round(c2 - c1, 3),
                      "file_to_svg_cpu_s": round(c5 - c1, 3), "total_cpu_s": round(c5 - c0, 3),
                      "peak_rss_mb": round(rss, 1), "nodes": len(graph.nodes)}))
    return 0


# ---- the end-to-end rows of `python -m bench` -----------------------------------------------

# case -> (model file name, the CLI's view flag, target file -> SVG seconds, target peak RSS
# MB or None); the full row prepares in place as `nnviz --depth 99 --no-fold` does (the same
# drawing as annotate(), which copies the graph first)
CASES: dict[str, tuple[str, str, float, float | None]] = {
    "gpt50k full (--depth 99 --no-fold)": ("gpt50k-v2.onnx", "--full", 4.0, 600.0),
    "gpt50k default view": ("gpt50k-v2.onnx", "--cli", 2.0, None),
    "1.4 GB ONNX, weights inside": ("gpt2_medium_size.onnx", "--cli", 0.6, 200.0),
}


def bench_dir() -> Path:
    d = Path(os.environ.get("NNVIZ_BENCH_DIR", Path.home() / ".cache" / "nnviz-bench"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_models(folder: Path) -> None:
    """The bench's model files, each written once (both writers are deterministic)."""
    # v2: a valid ONNX file (onnx.checker full_check passes; bench/onnx_export.py), with a
    # sparse gpt50k-v2.weights beside it; v1 files (gpt50k.onnx) were not valid ONNX
    gpt = folder / "gpt50k-v2.onnx"
    if not gpt.is_file():
        from bench.graphs import transformer
        from bench.onnx_export import to_onnx

        to_onnx(transformer(50_000), gpt)
    big = folder / "gpt2_medium_size.onnx"
    if not big.is_file():
        from bench.onnx_big import write_big_model

        # GPT-2 medium: 24 blocks, 355M float32 weights = 1.42 GB in one file
        tmp = big.with_suffix(".part")
        write_big_model(tmp, 1.42e9 / (1 << 30), 24)
        tmp.replace(big)


def bytecode_env(pyc: Path) -> dict[str, str]:
    """The children's environment: byte code cached (in ``pyc``, not the checkout) as an
    installed package has it. With PYTHONDONTWRITEBYTECODE set, as it is on the team machine,
    each phase compiled the nnviz modules it imports first from source (0.2 s of the 50k
    load was compiling the ONNX loader), while onnx, numpy and the standard library read
    their .pyc files. nnviz is compiled once here; the rest on a run's first import."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(pyc)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "nnviz")], env=env,
                   capture_output=True, check=False)
    return env


def run_once(model: Path, view: str, env: dict[str, str] | None = None) -> dict:
    out = model.with_suffix(".bench.svg")
    cmd = [sys.executable, "-m", "bench.e2e", str(model), str(out), view]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO), timeout=900,
                              check=True, env=env)
    finally:
        out.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rows(reps: int = 3, folder: Path | None = None) -> list[dict]:
    folder = folder or bench_dir()
    build_models(folder)
    out = []
    with tempfile.TemporaryDirectory(prefix="nnviz-e2e-") as tmp:
        env = bytecode_env(Path(tmp) / "pyc")
        run_once(folder / CASES[next(iter(CASES))][0], "--cli", env)  # the first imports compile
        for case, (name, view, target_s, target_mb) in CASES.items():
            runs = [run_once(folder / name, view, env) for _ in range(reps)]
            best = min(runs, key=lambda r: r["file_to_svg_s"])
            out.append({"graph": "e2e:" + case, "case": case, "file": name,
                        "target_s": target_s, "target_mb": target_mb, "reps": reps,
                        "min_cpu_s": min(r["file_to_svg_cpu_s"] for r in runs),
                        "max_rss_mb": max(r["peak_rss_mb"] for r in runs), **best})
    return out


HEADER = (f"{'end to end (file -> SVG)':<36}{'nodes':>7}{'load':>7}{'prep':>7}{'layout':>7}"
          f"{'render':>7}{'total s':>8}{'cpu s':>7}{'target':>7}{'x tgt':>6}{'RSS MB':>8}"
          f"{'target':>7}")


def print_rows(table: list[dict]) -> None:
    print(HEADER)
    print("-" * len(HEADER))
    for r in table:
        mb = r["target_mb"]
        print(f"{r['case']:<36}{r['nodes']:>7}{r['load_s']:>7.2f}{r['prepare_s']:>7.2f}"
              f"{r['layout_s']:>7.2f}{r['render_s']:>7.2f}{r['file_to_svg_s']:>8.2f}"
              f"{r['min_cpu_s']:>7.2f}{r['target_s']:>7.1f}"
              f"{r['file_to_svg_s'] / r['target_s']:>6.2f}{r['max_rss_mb']:>8.0f}"
              f"{'-' if mb is None else f'{mb:.0f}':>7}")
    print(f"(phases and total: wall seconds of the fastest of {table[0]['reps'] if table else 0}"
          f" fresh processes; cpu s: least CPU time of them; x tgt = total / target; RSS: "
          f"the largest VmHWM; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
