"""One end-to-end run in a fresh process: model file -> SVG, with phase times and peak RSS.

    python -m bench.e2e MODEL OUT.svg [--cli]     # prints one JSON line

Default ("full"): load -> annotate (shapes, params, FLOPs) -> layout of every node -> SVG.
``--cli`` uses the CLI's default view instead (prepare: annotate + fold/collapse), which
draws a 50k-node model as a few dozen boxes.
"""

from __future__ import annotations

import json
import resource
import sys
import time


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


def main(argv: list[str]) -> None:
    src, out = argv[0], argv[1]
    t0 = time.perf_counter()
    import nnviz
    from nnviz.layout import layout
    from nnviz.passes import ViewOptions, annotate, prepare
    from nnviz.render import render
    from nnviz.theme import load_theme

    t1 = time.perf_counter()
    graph = nnviz.load(src)
    t2 = time.perf_counter()
    graph = prepare(graph, ViewOptions()) if "--cli" in argv else annotate(graph)
    t3 = time.perf_counter()
    theme = load_theme()
    lay = layout(graph, theme=theme)
    t4 = time.perf_counter()
    render(graph, lay, out, theme=theme)
    t5 = time.perf_counter()
    rss = peak_rss_mb()
    print(json.dumps({"import_s": round(t1 - t0, 3), "load_s": round(t2 - t1, 3),
                      "prepare_s": round(t3 - t2, 3), "layout_s": round(t4 - t3, 3),
                      "render_s": round(t5 - t4, 3), "file_to_svg_s": round(t5 - t1, 3),
                      "total_s": round(t5 - t0, 3), "peak_rss_mb": round(rss, 1),
                      "nodes": len(graph.nodes)}))


if __name__ == "__main__":
    main(sys.argv[1:])
