"""The HTML viewer rows of `python -m bench`: model file -> viewer page, its size, its first frame.

    python -m bench.viewer_page MODEL [MODEL ...]      # one table, no layout benchmark

For each model: the CLI writes the page in a fresh process (`python -m nnviz MODEL -o x.html`,
wall and child CPU time), the page's size with its data element's share, and the first frame
in headless Chromium (Debian's chromium through Playwright): navigation start -> first drawn
frame as the page reports it (``window.__nnvizFirstFrame``), best of ``reps`` fresh browsers,
with the page's own marks (data inflated, header parsed, data unpacked) of that best run.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MARKS = ("nnviz-start", "nnviz-inflated", "nnviz-parsed")


def first_frame(page: Path, reps: int = 3) -> dict | None:
    """Best-of-``reps`` first frame (seconds) and that run's marks; None without a browser."""
    try:
        sys.path.insert(0, str(REPO / "bench"))
        from viewer_browser import browser_page, chromium_path
    except ImportError:
        return None
    if chromium_path() is None:
        return None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    best: dict | None = None
    for _ in range(reps):
        with browser_page(1280, 800) as pg:
            pg.goto(page.resolve().as_uri())
            pg.wait_for_selector("html[data-ready]", timeout=180_000)
            ff = pg.evaluate("window.__nnvizFirstFrame") / 1000
            marks = dict(pg.evaluate(
                "performance.getEntriesByType('mark').map(m => [m.name, m.startTime / 1000])"))
            if pg.console_errors:
                raise RuntimeError(f"{page}: console errors {pg.console_errors[:3]}")
        if best is None or ff < best["first_frame_s"]:
            best = {"first_frame_s": ff, **{m: marks.get(m) for m in MARKS}}
    return best


def measure(model: Path, out_dir: Path, reps: int = 3) -> dict:
    """One row: render the page in a fresh CLI process, then open it ``reps`` times."""
    out = out_dir / (model.parent.name + "_" + model.stem + ".html")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "nnviz", str(model), "-o", str(out)],
                          capture_output=True, text=True, cwd=str(REPO), env=env, timeout=1800)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{model}: {proc.stderr.strip()[-300:]}")
    text = out.read_text(encoding="utf-8")
    m = re.search(r'id="nnviz-data" data-encoding="[^"]*">([^<]*)</script>', text)
    row = {"model": f"{model.parent.name}/{model.name}", "render_s": wall,
           "render_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
           "file_mb": out.stat().st_size / 1e6, "data_mb": len(m.group(1)) / 1e6 if m else None}
    from nnviz.viewer.payload import read_page

    row["nodes"] = len(read_page(text)["nodes"]["name"])
    ff = first_frame(out, reps)
    if ff:
        row.update(ff)
    return row


HEADER = (f"{'viewer page':<28}{'nodes':>7}{'render s':>10}{'cpu s':>8}{'file MB':>9}"
          f"{'data MB':>9}{'first frame s':>15}{'  (script start / inflated / unpacked s)'}")


def line(row: dict) -> str:
    def f(v, nd=2):
        return "-" if v is None else f"{v:.{nd}f}"

    marks = " / ".join(f(row.get(m)) for m in MARKS)
    return (f"{row['model']:<28}{row['nodes']:>7}{row['render_s']:>10.1f}"
            f"{row['render_cpu_s']:>8.1f}{row['file_mb']:>9.2f}{f(row.get('data_mb')):>9}"
            f"{f(row.get('first_frame_s')):>15}  ({marks})")


def bench_models(tmp: Path, nodes: int = 50_000) -> list[Path]:
    """The 50k-node GPT-style ONNX export (bench.graphs.transformer + bench.onnx_export) and,
    when the zoo is built, its GPT-2 dynamo export."""
    from bench.graphs import transformer
    from bench.onnx_export import to_onnx

    folder = tmp / f"gpt{nodes // 1000}k"
    folder.mkdir(parents=True, exist_ok=True)
    models = [to_onnx(transformer(nodes), folder / "model.onnx")]
    zoo = Path(os.environ.get("NNVIZ_ZOO_DIR", Path.home() / ".cache" / "nnviz-zoo"))
    gpt2 = zoo / "gpt2" / "dynamo.onnx"
    if gpt2.is_file():
        models.append(gpt2)
    return models


def run(models: list[Path], reps: int = 3) -> list[dict]:
    print(HEADER)
    print("-" * len(HEADER))
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnviz-viewer-") as tmp:
        for model in models:
            try:
                row = measure(Path(model), Path(tmp), reps)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"{str(model):<28} failed: {exc}", flush=True)
                continue
            rows.append(row)
            print(line(row), flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; first frame = "
          "navigation start to first drawn frame, best of "
          f"{reps} fresh headless Chromium pages)")
    return rows


if __name__ == "__main__":
    run([Path(p) for p in sys.argv[1:]])
