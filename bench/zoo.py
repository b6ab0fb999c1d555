"""Real models, fully expanded, laid out by us and by ELK/dagre with the same boxes and edges.

    python -m bench.zoo [FILES...]        # default: the zoo's built files ($NNVIZ_ZOO_DIR,
                                          # fill it with `python -m tests.zoo build`)
    python -m bench.zoo --peers elk,dagre --limit 300

For every model file: load, annotate, expand everything (``--depth 99 --no-fold``) and lay it
out flat (no frames: the peers have none) with our engine; the same boxes (our sizes) and
the same edges go to the peers (stub edges are left out for all: we draw high-fan-out
inputs as stubs, so those edges are not given to anyone). Crossings, drawing area and edge
length are counted by one shared counter (bench/metrics.py = shared/peers/crossings.py).
Also our grouped layout (module frames) for reference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench.metrics import metrics
from bench.peers import run_peer_json
from nnviz.ir import Graph
from nnviz.layout import layout
from nnviz.loaders import load_file
from nnviz.passes import ViewOptions, prepare

SUFFIXES = (".onnx", ".keras", ".h5", ".pt2")


def peer_layout(engine: str, graph: Graph, lay, limit: float) -> dict | None:
    """elkjs / dagre on our boxes and the edges we draw (stub edges left out)."""
    drawn = {(e.src, e.dst) for e in lay.edges}
    nodes = [{"id": k, "label": k, "w": b.w, "h": b.h} for k, b in lay.nodes.items()
             if k in graph.nodes]
    edges = sorted({(e.src, e.dst) for e in graph.edges() if e.src != e.dst
                    and (e.src, e.dst) in drawn})
    return run_peer_json(engine, {"nodes": nodes, "edges": [list(e) for e in edges]}, limit)


def zoo_files() -> list[Path]:
    root = Path(os.environ.get("NNVIZ_ZOO_DIR", Path.home() / ".cache" / "nnviz-zoo"))
    return sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def measure(path: Path, peers: list[str], limit: float) -> dict:
    graph = prepare(load_file(path), ViewOptions(depth=99, fold=False))
    t0 = time.perf_counter()
    grouped = layout(graph)
    t_grouped = time.perf_counter() - t0
    for node in graph.nodes.values():
        node.group = ()
    t0 = time.perf_counter()
    flat = layout(graph)
    t_flat = time.perf_counter() - t0
    row = {"model": f"{path.parent.name}/{path.name}", "boxes": len(graph.nodes), "ours_s": t_flat,
           "ours": metrics(flat), "grouped_s": t_grouped, "grouped": metrics(grouped)}
    for peer in peers:
        row[peer] = peer_layout(peer, graph, flat, limit)
    return row


# ELK's defaults (shared/peers/elk_layout.js sets none): spacing.nodeNode,
# layered.spacing.nodeNodeBetweenLayers, spacing.edgeEdge, spacing.edgeNode, padding
ELK_SPACING = {"node": 20, "layer": 20, "edge": 10, "edge-node": 10, "padding": 12}


def spacing_note() -> str:
    """The gaps each engine ran with, so an area comparison says whether it is like for like."""
    from nnviz.theme import load_theme

    sp = load_theme()["spacing"]
    e = ELK_SPACING
    return (f"spacing, ours (default theme): node {sp['node_sep']:g}, layer gap "
            f"{sp.get('rank_sep_straight', sp['rank_sep']):g} (+{sp['edge_sep'] / 2:g} per "
            f"overlapping bend, up to {sp['rank_sep']:g}), edge {sp['edge_sep']:g}, margin "
            f"{sp['margin']:g}; ELK (its defaults): node {e['node']}, layer gap {e['layer']} "
            f"(wider where its orthogonal routing needs more tracks), edge {e['edge']}, "
            f"edge-node {e['edge-node']}, padding {e['padding']}")


def _fmt(v, nd: int = 2) -> str:
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--peers", default="elk,dagre")
    ap.add_argument("--limit", type=float, default=300.0, help="seconds per peer run")
    ap.add_argument("--json", help="also write the rows as JSON to this file")
    args = ap.parse_args(argv)
    files = args.files or zoo_files()
    if not files:
        sys.exit("no model files: pass some, or build the zoo (python -m tests.zoo build)")
    peers = [p for p in args.peers.split(",") if p]
    hdr = f"{'model':<34}{'boxes':>6}{'ours s':>8}{'cross':>6}{'area Mpx':>9}"
    for p in peers:
        hdr += f"{p + ' s':>9}{'cross':>6}{'area':>8}"
    hdr += f"{'grouped area':>13}"
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for f in files:
        try:
            row = measure(f, peers, args.limit)
        except Exception as exc:  # noqa: BLE001 - report and go on with the other models
            print(f"{f.name:<34} failed: {type(exc).__name__}: {exc}"[:150])
            continue
        rows.append(row)
        line = (f"{row['model'][:33]:<34}{row['boxes']:>6}{_fmt(row['ours_s']):>8}"
                f"{row['ours']['crossings']:>6}{_fmt(row['ours']['area_mpx']):>9}")
        for p in peers:
            r = row.get(p) or {}
            line += (f"{_fmt(r.get('time')):>9}{_fmt(r.get('crossings')):>6}"
                     f"{_fmt(r.get('area_mpx')):>8}")
        line += f"{_fmt(row['grouped']['area_mpx']):>13}"
        print(line, flush=True)
    if peers:
        print(spacing_note())
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
