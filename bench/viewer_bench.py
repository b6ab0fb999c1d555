"""Benchmark of the HTML viewer in headless Chromium.

    python bench/viewer_bench.py                 # 50k-node synthetic transformer export
    python bench/viewer_bench.py --nodes 5000    # smaller
    python bench/viewer_bench.py --model examples/transformer12.onnx
    python bench/viewer_bench.py --flat          # no groups: one 50k-box view (worst case)
    python bench/viewer_bench.py --torch-gpt 12  # a real export: GPT-style torch -> ONNX

Measures: Python render time (per-group layouts + packing), file size, time from navigation
start to the first drawn frame, and the cost of a zoom/pan frame (the draw() call, measured in
the page, including rasterisation: a pixel read-back waits for it) at several zoom levels in
the biggest view, plus real rAF frame intervals while
panning. Targets: first frame < 2 s, frame < 16 ms, file < 20 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from viewer_browser import browser_page  # noqa: E402
from viewer_model import transformer_nodes  # noqa: E402

from nnviz.ir import Graph  # noqa: E402
from nnviz.layout.model import Layout  # noqa: E402
from nnviz.render.html import render  # noqa: E402
from nnviz.theme import load_theme  # noqa: E402


def build(args: argparse.Namespace) -> Graph:
    if args.torch_gpt:
        from viewer_gpt import export_gpt

        out = Path(tempfile.mkdtemp(prefix="nnviz-gpt-")) / f"gpt{args.torch_gpt}.onnx"
        args.model = str(export_gpt(out, layers=args.torch_gpt))
    if args.model:
        from nnviz.loaders import load
        from nnviz.passes import annotate

        return annotate(load(args.model))
    graph = transformer_nodes(args.nodes)
    if args.flat:
        for node in graph.nodes.values():
            node.group = ()
        graph.groups.clear()
    return graph


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


FRAME_JS = """async ([zooms, steps]) => {
  const st = nnviz.state();
  const out = {};
  for (const z of zooms) {
    if (z === 'fit') nnviz.fit(); else nnviz.zoomAt(z / nnviz.state().scale, 640, 400);
    const times = [];
    for (let i = 0; i < steps; i++) {
      nnviz.pan(i % 2 ? 37 : -35, i % 3 ? 23 : -21);
      if (i % 5 === 0) nnviz.zoomAt(i % 10 ? 1.1 : 1 / 1.1, 600, 380);
      times.push(nnviz.drawNow());
    }
    out[z] = times;
  }
  // Real frames: rAF intervals while panning every frame.
  const iv = [];
  await new Promise(res => {
    let last = 0, n = 0;
    function tick(t) {
      if (last) iv.push(t - last);
      last = t;
      nnviz.pan(n % 2 ? 30 : -29, 11);
      if (++n < 90) requestAnimationFrame(tick); else res();
    }
    requestAnimationFrame(tick);
  });
  out.raf = iv;
  return out;
}"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--nodes", type=int, default=50_000)
    ap.add_argument("--model", help="a model file instead of the synthetic transformer")
    ap.add_argument("--flat", action="store_true", help="drop all groups (one huge view)")
    ap.add_argument("--torch-gpt", type=int, metavar="LAYERS",
                    help="export a GPT-style torch model to ONNX and view that")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", help="keep the HTML file here")
    ap.add_argument("--screenshot", help="write a screenshot of the biggest view here")
    args = ap.parse_args()

    t0 = time.perf_counter()
    graph = build(args)
    t_build = time.perf_counter() - t0
    theme = load_theme()
    t0 = time.perf_counter()
    page = render(graph, Layout(0, 0), theme)  # the viewer lays out each group itself
    t_render = time.perf_counter() - t0
    data = page.encode("utf-8")
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="nnviz-bench-")) / "v.html"
    out.write_bytes(data)
    print(f"model: {graph.name}: {len(graph.nodes):,} nodes, {len(graph.groups):,} groups "
          f"(built in {t_build:.1f} s)")
    print(f"render (per-group layouts + packing): {t_render:.2f} s")
    print(f"file: {len(data) / 1e6:.2f} MB  ({out})")

    with browser_page(1280, 800) as pg:
        t0 = time.perf_counter()
        pg.goto(out.resolve().as_uri())
        pg.wait_for_selector("html[data-ready]", timeout=120_000)
        wall = time.perf_counter() - t0
        first = pg.evaluate("window.__nnvizFirstFrame")
        parse = pg.evaluate("performance.getEntriesByType('navigation')[0].domInteractive")
        print(f"first frame: {first / 1000:.2f} s after navigation start "
              f"(HTML parsed at {parse / 1000:.2f} s; wall {wall:.2f} s)")
        views = pg.evaluate("nnviz.views().map(v => [v.boxes + v.edges, v.index])")
        biggest = max(views)[1]
        t0 = time.perf_counter()
        pg.evaluate(f"nnviz.openGroup({biggest})")
        t_open = (time.perf_counter() - t0) * 1000
        st = pg.evaluate("nnviz.state()")
        print(f"biggest view: {'/'.join(st['path']) or 'top'}: {st['boxes']} boxes, "
              f"{st['edges']} edges; opened in {t_open:.0f} ms (incl. first draw)")
        # Three rounds; per zoom level the round least disturbed by other processes counts
        # (the machine running this is usually shared).
        rounds = [pg.evaluate(FRAME_JS, [["fit", 0.1, 0.35, 1.0, 2.0], args.steps])
                  for _ in range(3)]
        worst = 0.0
        for z in rounds[0]:
            if z == "raf":
                continue
            best = min((r[z] for r in rounds), key=lambda t: pct(t, 0.95))
            med, p95 = statistics.median(best), pct(best, 0.95)
            worst = max(worst, p95)
            print(f"  zoom {z:>4}: frame median {med:.2f} ms, p95 {p95:.2f} ms, "
                  f"max {max(best):.2f} ms (best of 3 rounds of {len(best)})")
        raf = min((r["raf"] for r in rounds), key=lambda t: pct(t, 0.95))
        print(f"  rAF intervals while panning: median {statistics.median(raf):.1f} ms, "
              f"p95 {pct(raf, 0.95):.1f} ms")
        if args.screenshot:
            pg.evaluate("nnviz.fit()")
            pg.wait_for_timeout(100)
            pg.screenshot(path=args.screenshot)
        if pg.console_errors:
            print("console errors:", pg.console_errors)
        # Frame spikes on a shared machine are scheduling noise: report the load with them.
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        ok = first < 2000 and worst < 16 and len(data) < 20e6
        print("targets (first frame < 2 s, frame p95 < 16 ms, file < 20 MB):",
              "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
