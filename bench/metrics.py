"""Quality metrics counted the same way for every engine (the peers' crossings.py method).

A :class:`Layout` (ours or dot's, read back into our model) becomes the peers' JSON shape
``{graph:{width,height}, nodes:{id:[cx,cy,w,h]}, edges:[[src,dst,[[x,y],...]]]}`` with
splines sampled 8 points per cubic piece, then /work/shared/peers/crossings.py counts
crossings per gap between rank lines. When that file is absent, an identical local copy of
the counting rule is used.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from nnviz.layout.model import Layout

PEERS = Path(os.environ.get("NNVIZ_PEERS", "/work/shared/peers"))
_T = np.linspace(0, 1, 9)[1:]
_B = np.stack([(1 - _T) ** 3, 3 * _T * (1 - _T) ** 2, 3 * _T ** 2 * (1 - _T), _T ** 3], 1)


def _sample(points: list[tuple[float, float]], spline: bool) -> np.ndarray:
    c = np.asarray(points, dtype=float)
    if not spline or len(c) < 4:
        return c
    k = (len(c) - 1) // 3
    segs = np.stack([c[3 * i:3 * i + 4] for i in range(k)])
    pts = np.einsum("tj,kjd->ktd", _B, segs).reshape(-1, 2)
    return np.vstack([c[:1], pts])


def to_peer_json(lay: Layout) -> dict:
    nodes = {k: [b.cx, b.cy, b.w, b.h] for k, b in lay.nodes.items()}
    edges = []
    for e in lay.edges:
        src = f"{e.src}::stub::{e.dst}"
        if src not in nodes:
            src = e.src
        edges.append([src, e.dst, _sample(e.points, e.spline)])
    return {"graph": {"width": lay.width, "height": lay.height}, "nodes": nodes, "edges": edges}


def _peer_module():
    path = PEERS / "crossings.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("nnviz_peer_crossings", path)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_MOD = _peer_module()


def _inversions(a: np.ndarray) -> int:
    n = len(a)
    if n < 2:
        return 0
    # merge-sort inversion count (strict), same rule as the peers' counter
    def rec(x: np.ndarray) -> tuple[int, np.ndarray]:
        if len(x) <= 48:
            return int(np.triu(x[:, None] > x[None, :], 1).sum()), np.sort(x)
        m = len(x) // 2
        il, left = rec(x[:m])
        ir, right = rec(x[m:])
        cross = int((len(left) - np.searchsorted(left, right, side="right")).sum())
        return il + ir + cross, np.sort(np.concatenate([left, right]))
    return rec(a)[0]


def _local_metrics(d: dict) -> dict:
    nodes = d["nodes"]
    ys = np.round(np.array([v[1] for v in nodes.values()]) * 2) / 2
    ranks = np.unique(ys)
    rank_of = {k: int(np.searchsorted(ranks, round(v[1] * 2) / 2)) for k, v in nodes.items()}
    gaps, tops, bots = [], [], []
    for s, t, pts in d["edges"]:
        a, b = nodes[s], nodes[t]
        poly = np.vstack([[a[:2]], pts, [b[:2]]]) if len(pts) else np.array([a[:2], b[:2]])
        ra, rb = rank_of[s], rank_of[t]
        if ra == rb:
            continue
        if ra > rb:
            ra, rb, a, b, poly = rb, ra, b, a, poly[::-1]
        xs = np.empty(rb - ra + 1)
        xs[0], xs[-1] = a[0], b[0]
        if rb - ra > 1:
            o = np.argsort(poly[:, 1], kind="stable")
            xs[1:-1] = np.interp(ranks[ra + 1:rb], poly[o, 1], poly[o, 0])
        gaps.append(np.arange(ra, rb))
        tops.append(xs[:-1])
        bots.append(xs[1:])
    total = 0
    if gaps:
        g, tp, bt = np.concatenate(gaps), np.concatenate(tops), np.concatenate(bots)
        order = np.lexsort((bt, tp, g))
        g, bt = g[order], bt[order]
        for chunk in np.split(bt, np.flatnonzero(np.diff(g)) + 1):
            total += _inversions(chunk)
    gw, gh = d["graph"]["width"], d["graph"]["height"]
    return {"crossings": total, "area_mpx": round(gw * gh / 1e6, 3)}


def metrics(lay: Layout) -> dict:
    """{"crossings": int, "area_mpx": float, ...} for a layout in TB direction."""
    d = to_peer_json(lay)
    if _MOD is not None:
        return _MOD.metrics(d)
    return _local_metrics(d)
