"""Last phase of the compound layout: absolute positions, rotation and routed edges.

Levels are placed top-down (each child's origin from its item's centre in the parent), the
TB-space result is rotated for LR/BT/RL, and every edge's pieces are joined into one
polyline and smoothed (routing.finish). Boxes keep graph order, stubs right before their
consumer; frames are sorted outermost first.
"""

from __future__ import annotations

from itertools import chain

from nnviz.layout.layered.boxes import Key
from nnviz.layout.layered.routing import finish_raw, round2
from nnviz.layout.layered.tree import LevelTree, Piece
from nnviz.layout.model import EdgePath, GroupFrame, LabelLine, Layout, NodeBox
from nnviz.theme import Theme


def assemble(tree: LevelTree, pieces: list[Piece], stub_of: dict[Key, str],
             lines: dict[Key, list[LabelLine]], size: dict[Key, tuple[float, float]],
             labels: dict[tuple[str, ...], str], theme: Theme, direction: str) -> Layout:
    levels, group_first, node_ids = tree.levels, tree.first, tree.node_ids
    horizontal = direction in ("LR", "RL")
    margin = float(theme["spacing"]["margin"])
    origin: dict[tuple[str, ...], tuple[float, float]] = {(): (margin, margin)}
    centers: dict[Key, tuple[float, float]] = {}
    frames: list[tuple[tuple[str, ...], float, float, float, float]] = []
    for p in sorted(levels, key=lambda q: (len(q), group_first.get(q, -1))):
        lv = levels[p]
        res = lv.result
        assert res is not None
        ox, oy = origin[p]
        for k, rx, ry in zip(lv.items, res.cx, res.cy):
            cx, cy = ox + rx, oy + ry
            if k[0] == "g":
                cr = levels[k[1]].result
                assert cr is not None
                gx, gy = cx - cr.width / 2, cy - cr.height / 2
                origin[k[1]] = (gx, gy)
                frames.append((k[1], gx, gy, cr.width, cr.height))
            else:
                centers[k] = (cx, cy)
    root = levels[()].result
    assert root is not None
    tb_w, tb_h = root.width + 2 * margin, root.height + 2 * margin

    def tf(x: float, y: float) -> tuple[float, float]:
        if direction == "TB":
            return x, y
        if direction == "BT":
            return x, tb_h - y
        if direction == "LR":
            return y, x
        return tb_h - y, x  # RL

    def rnd(v: float) -> float:
        return round(v, 2) + 0.0

    boxes: dict[str, NodeBox] = {}
    tb = direction == "TB"
    corners: list[float] = []  # x, y of every box's top-left corner, rounded all at once
    for k, (cx, cy) in centers.items():
        w, h = size[k]
        fx, fy = (cx, cy) if tb else tf(cx, cy)
        corners.append(fx - w / 2)
        corners.append(fy - h / 2)
    corners = round2(corners)
    for j, k in enumerate(centers):
        w, h = size[k]
        if k[0] == "n":
            bid, shape = k[1], "box"
        else:
            bid, shape = f"{k[1]}::stub::{k[2]}", "stub"
        boxes[bid] = NodeBox(bid, corners[2 * j], corners[2 * j + 1], w, h, lines[k], shape)
    # keep node order = graph order, stubs right before their consumer
    ordered: dict[str, NodeBox] = {}
    stubs_for: dict[str, list[str]] = {}
    for k in stub_of:
        stubs_for.setdefault(k[2], []).append(f"{k[1]}::stub::{k[2]}")
    for nid in node_ids:
        for sid in stubs_for.get(nid, ()):
            ordered[sid] = boxes[sid]
        ordered[nid] = boxes[nid]
    group_frames = []
    for path, gx, gy, gw, gh in frames:
        x0, y0 = tf(gx, gy)
        x1, y1 = tf(gx + gw, gy + gh)
        group_frames.append(GroupFrame(path, labels[path], rnd(min(x0, x1)), rnd(min(y0, y1)),
                                       rnd(abs(x1 - x0)), rnd(abs(y1 - y0))))
    group_frames.sort(key=lambda f: (len(f.path), f.path))

    # every edge cleaned and smoothed (routing.finish), its points rounded all at once
    drawn: list[tuple[str, str, str, int, bool]] = []
    flat: list[float] = []
    for src, dst, tensor, seq in pieces:
        if len(seq) == 1:
            p, i = seq[0]
            ox, oy = origin[p]
            pts = [(ox + x, oy + y) for x, y in levels[p].result.paths[i]]  # type: ignore[union-attr]
        else:
            pts = []
            for p, i in seq:
                ox, oy = origin[p]
                pts.extend((ox + x, oy + y) for x, y in levels[p].result.paths[i])  # type: ignore[union-attr]
        if len(pts) < 2:
            continue
        final, spline = finish_raw(pts, direction, tb_h)
        if len(final) >= 2:
            drawn.append((src, dst, tensor, len(final), spline))
            flat.extend(chain.from_iterable(final))
    flat = round2(flat)
    points = list(zip(flat[::2], flat[1::2]))  # every edge's points, one after the other
    paths: list[EdgePath] = []
    at = 0
    for src, dst, tensor, npts, spline in drawn:
        paths.append(EdgePath(src, dst, tensor, points[at:at + npts], spline=spline))
        at += npts
    fw, fh = (tb_h, tb_w) if horizontal else (tb_w, tb_h)
    return Layout(width=rnd(fw), height=rnd(fh), nodes=ordered, edges=paths,
                  groups=group_frames, direction=direction, engine="layered")
