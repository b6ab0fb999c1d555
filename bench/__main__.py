"""Layout benchmark: nnviz's layered engine vs Graphviz dot (and elkjs/dagre when installed).

    python -m bench                      # full table: 100 .. 50k nodes, examples/*.onnx
    python -m bench --quick              # 100, 500, 2k only
    python -m bench --sizes 500,5000 --families transformer --dot-limit 120 --peers

For every NN-shaped graph (bench/graphs.py: GPT-2-like transformer with one attention mask
feeding every block, ResNet bottleneck stages, UNet with long skips) it prints: our layout
time on the flat graph and on the grouped graph (module scopes as frames), dot's time on the
same flat graph (skipped past --dot-limit seconds, and for bigger sizes once a size timed
out), the ratio, crossings and area counted the same way for both (bench/metrics.py = the
peers' crossings.py), and the end-to-end time ONNX file -> SVG of the grouped graph in a
fresh process with its peak RSS. Then the fitted exponent of our time vs n per family.
Then the end-to-end rows of issue 19 (bench/e2e.py `--rows`; `--e2e-only`, `--no-e2e`): the
50k-node GPT-style export fully drawn and in the default view, and a 1.4 GB ONNX file with
weights inside, file -> SVG in fresh processes, with the targets.
Then the live PyTorch rows (bench/torch_bench.py; `--torch-only`, `--no-torch`): ResNet-18 and a
48-layer encoder, live nn.Module -> SVG in cold processes, nnviz vs torchview.
Last, the HTML viewer rows (bench/viewer_page.py; `--viewer-only`, `--no-viewer`): the 50k-node
GPT-style export and the zoo's GPT-2 as viewer pages, file size and first frame in Chromium.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.graphs import FAMILIES
from bench.metrics import metrics
from bench.peers import run_peer_json
from nnviz.errors import NnvizError
from nnviz.ir import Graph
from nnviz.layout import layout
from nnviz.theme import load_theme

REPO = Path(__file__).resolve().parent.parent


def _timed(fn, *args, **kw):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0, time.process_time() - c0


def _peer_json(graph: Graph, lay) -> dict:
    nodes = [{"id": k, "label": k, "w": b.w, "h": b.h} for k, b in lay.nodes.items()
             if k in graph.nodes]
    edges = [[e.src, e.dst] for e in graph.edges() if e.src != e.dst]
    return {"nodes": nodes, "edges": edges}


def run_peer(engine: str, graph: Graph, lay, limit: float) -> dict | None:
    """elkjs / dagre on the same graph with our box sizes (optional: needs node + npm)."""
    res = run_peer_json(engine, _peer_json(graph, lay), limit)
    if res is None or res.get("time") is None:
        return res
    return {"time": res["time"], "crossings": res["crossings"], "area": res["area_mpx"]}


def e2e(graph: Graph, tmpdir: Path) -> dict | None:
    from bench.onnx_export import to_onnx

    path = to_onnx(graph, tmpdir / f"{graph.name}.onnx")
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.e2e", str(path),
                               str(tmpdir / f"{graph.name}.svg")], capture_output=True,
                              text=True, cwd=str(REPO), timeout=600, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"  e2e failed for {graph.name}: {getattr(exc, 'stderr', '')!s:.200}",
              file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(v, nd=2, none="-"):
    if v is None:
        return none
    if isinstance(v, str):
        return v
    return f"{v:.{nd}f}"


def fit_exponent(points: list[tuple[int, float]]) -> float | None:
    pts = [(math.log(n), math.log(t)) for n, t in points if t and t > 0 and n >= 400]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,500,2000,5000,20000,50000")
    ap.add_argument("--quick", action="store_true", help="sizes 100,500,2000")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--dot-limit", type=float, default=90.0, help="seconds per dot run")
    ap.add_argument("--no-dot", action="store_true")
    ap.add_argument("--no-e2e", action="store_true",
                    help="skip the end-to-end runs (per size, and the e2e rows)")
    ap.add_argument("--peers", action="store_true",
                    help="also run elkjs and dagre (needs `npm i elkjs @dagrejs/dagre` in "
                         "~/.cache/nnviz-peers)")
    ap.add_argument("--no-stubs", action="store_true",
                    help="draw high-fan-out inputs as ordinary edges (like dot does)")
    ap.add_argument("--no-viewer", action="store_true",
                    help="skip the HTML viewer rows (page size and first frame in Chromium)")
    ap.add_argument("--viewer-only", action="store_true", help="only the HTML viewer rows")
    ap.add_argument("--e2e-only", action="store_true",
                    help="only the end-to-end rows (50k-node export full and default view, "
                         "1.4 GB ONNX file)")
    ap.add_argument("--e2e-reps", type=int, default=3, help="fresh processes per e2e row")
    ap.add_argument("--no-torch", action="store_true",
                    help="skip the live PyTorch rows (nnviz vs torchview, cold processes)")
    ap.add_argument("--torch-only", action="store_true", help="only the live PyTorch rows")
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    sizes = [100, 500, 2000] if args.quick else [int(s) for s in args.sizes.split(",")]
    theme = load_theme()
    have_dot = shutil.which("dot") is not None and not args.no_dot
    if args.no_stubs:
        from nnviz.layout.layered import aux

        aux.MIN_FANOUT = 1 << 30
    rows: list[dict] = []
    if args.viewer_only:
        return _viewer(args, rows)
    if args.torch_only:
        _torch_rows(args, rows)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
        return 0
    if args.e2e_only:
        _e2e_rows(args, rows)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
        return 0
    hdr = (f"{'graph':<23}{'nodes':>7}{'ours s':>8}{'cpu s':>7}{'grp s':>7}{'dot s':>9}"
           f"{'ratio':>7}{'cross ours/dot':>16}{'area Mpx ours/dot':>19}{'e2e s':>7}"
           f"{'RSS MB':>8}")
    if args.peers:
        hdr += f"{'elk s':>8}{'elk x':>7}{'dagre s':>9}{'dagre x':>8}"
    print(hdr)
    print("-" * len(hdr))
    tmp = Path(tempfile.mkdtemp(prefix="nnviz-bench-"))
    for fam in args.families.split(","):
        dot_dead = not have_dot
        for n in sizes:
            flat = FAMILIES[fam](n, grouped=False)
            grouped = FAMILIES[fam](n, grouped=True)
            lay, t_ours, c_ours = _timed(layout, flat, theme=theme)
            _, t_grp, _ = _timed(layout, grouped, theme=theme)
            m_ours = metrics(lay)
            row = {"graph": f"{fam}_{n}", "family": fam, "nodes": len(flat.nodes), "ours_s": t_ours,
                   "ours_cpu_s": c_ours, "grouped_s": t_grp,
                   "crossings": m_ours["crossings"], "area": m_ours["area_mpx"]}
            dot_txt = "skip" if have_dot else "n/a"
            if not dot_dead:
                try:
                    dl, t_dot, _ = _timed(layout_dot_flat, flat, theme, args.dot_limit)
                    m_dot = metrics(dl)
                    row.update(dot_s=t_dot, dot_crossings=m_dot["crossings"],
                               dot_area=m_dot["area_mpx"])
                    dot_txt = fmt(t_dot)
                except NnvizError:
                    dot_dead = True
                    dot_txt = f">{args.dot_limit:g}"
                    row["dot_s"] = f">{args.dot_limit:g}"
            if not args.no_e2e:
                r = e2e(grouped, tmp)
                if r:
                    row.update(e2e_s=r["file_to_svg_s"], rss_mb=r["peak_rss_mb"], e2e=r)
                    if n >= 20000:
                        print("    e2e breakdown: " + ", ".join(
                            f"{k} {v}" for k, v in r.items() if k.endswith("_s")), flush=True)
            if args.peers:
                for eng in ("elk", "dagre"):
                    r = run_peer(eng, flat, lay, max(args.dot_limit, 60))
                    if r:
                        row[f"{eng}_s"] = r["time"]
                        row[f"{eng}_crossings"] = r.get("crossings")
            rows.append(row)
            ratio = (row["dot_s"] / t_ours) if isinstance(row.get("dot_s"), float) else None
            cross = f"{row['crossings']}/{row.get('dot_crossings', '-')}"
            area = f"{row['area']:.1f}/{fmt(row.get('dot_area'), 1)}"
            line = (f"{row['graph']:<23}{row['nodes']:>7}{t_ours:>8.2f}{c_ours:>7.2f}"
                    f"{t_grp:>7.2f}{dot_txt:>9}{fmt(ratio, 1):>7}{cross:>16}{area:>19}"
                    f"{fmt(row.get('e2e_s')):>7}{fmt(row.get('rss_mb'), 0):>8}")
            if args.peers:
                line += (f"{fmt(row.get('elk_s')):>8}{fmt(row.get('elk_crossings'), 0):>7}"
                         f"{fmt(row.get('dagre_s')):>9}{fmt(row.get('dagre_crossings'), 0):>8}")
            print(line, flush=True)
    # the shipped example models, file -> layout, ours vs dot
    for path in sorted((REPO / "examples").glob("*.onnx")):
        import nnviz

        g = nnviz.load(path)
        lay, t_ours, _ = _timed(layout, g, theme=theme)
        m = metrics(lay)
        line = f"{path.name:<23}{len(g.nodes):>7}{t_ours:>8.3f}{'':>7}{'':>7}"
        if have_dot:
            dl, t_dot, _ = _timed(layout_dot_flat, g, theme, args.dot_limit)
            md = metrics(dl)
            line += (f"{t_dot:>9.3f}{t_dot / t_ours:>7.1f}"
                     f"{str(m['crossings']) + '/' + str(md['crossings']):>16}"
                     f"{m['area_mpx']:>9.2f}/{md['area_mpx']:<9.2f}")
        print(line)
        rows.append({"graph": path.name, "nodes": len(g.nodes), "ours_s": t_ours})
    print()
    for fam in args.families.split(","):
        mine = [r for r in rows if r.get("family") == fam]
        pts = [(r["nodes"], r["ours_s"]) for r in mine]
        grp = [(r["nodes"], r["grouped_s"]) for r in mine]
        dots = [(r["nodes"], r["dot_s"]) for r in mine if isinstance(r.get("dot_s"), float)]
        print(f"{fam:<12} time ~ n^{fmt(fit_exponent(pts))} (flat), "
              f"n^{fmt(fit_exponent(grp))} (grouped), dot ~ n^{fmt(fit_exponent(dots))}")
    shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_e2e:
        print()
        _e2e_rows(args, rows)
    if not args.no_torch:
        print()
        _torch_rows(args, rows)
    if not args.no_viewer:
        print()
        return _viewer(args, rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


def _e2e_rows(args: argparse.Namespace, rows: list[dict]) -> None:
    """Issue 19's end-to-end rows (bench/e2e.py): model file -> SVG in fresh processes."""
    from bench import e2e as e2e_bench

    table = e2e_bench.rows(reps=args.e2e_reps)
    e2e_bench.print_rows(table)
    rows += table


def _torch_rows(args: argparse.Namespace, rows: list[dict]) -> None:
    """Issue 19's live PyTorch rows (bench/torch_bench.py): ResNet-18 and a 48-layer encoder,
    nn.Module -> SVG in cold processes, the default capture vs torchview (when installed)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        print("torch not installed: the live PyTorch rows are skipped")
        return
    from bench import torch_bench

    rows += [{"graph": f"torch:{r['model']}", **r}
             for r in torch_bench.main(["--captures", "auto", "--repeat", str(args.e2e_reps)])]


def _viewer(args: argparse.Namespace, rows: list[dict]) -> int:
    """The HTML viewer rows (bench/viewer_page.py): the 50k-node GPT-style export and the zoo's
    GPT-2, file -> page in a fresh process, page size, first frame in headless Chromium."""
    from bench.viewer_page import bench_models
    from bench.viewer_page import run as run_viewer

    tmp = Path(tempfile.mkdtemp(prefix="nnviz-bench-viewer-"))
    try:
        rows += [{"graph": "viewer:" + r["model"], **r} for r in run_viewer(bench_models(tmp))]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


def layout_dot_flat(graph: Graph, theme, limit: float):
    import importlib

    dot = importlib.import_module("nnviz.layout.dot")
    return dot.layout_dot(graph, theme, timeout=limit, clusters=False)


if __name__ == "__main__":
    sys.exit(main())
