"""Phase 6: edge routing.

Each edge is a polyline through its dummy positions: it leaves the source box at its border,
runs vertically through the band of every layer it passes (so it cannot cut a box, whose
layers are the only places boxes live) and bends only in the gaps between layers. The
polyline is then smoothed into cubic Bezier pieces whose tangents are vertical at every bend,
so each piece stays inside the bounding box of its two ends, i.e. inside the free gap.
"""

from __future__ import annotations

from nnviz.layout.layered.bands import Geometry
from nnviz.layout.layered.dummies import Proper
from nnviz.layout.layered.problem import LevelInput

Point = tuple[float, float]

# px an edge runs straight out of (into) a frame's border before it bends: a bend that
# starts on the border runs almost along it for a few px, where it reads as the border
FRAME_CLEAR = 6.0


def dedupe(points: list[Point]) -> list[Point]:
    """``points`` without repeats (a point within 1e-6 px of the last kept one in x and y)."""
    if not points:
        return []
    last = points[0]
    out = [last]
    lx, ly = last
    for p in points[1:]:
        x, y = p
        # abs(lx - x) > 1e-6 written as two comparisons (a - b is exactly -(b - a)): this
        # runs on every point of every bending edge of a 50k-node drawing
        if x - lx > 1e-6 or lx - x > 1e-6 or y - ly > 1e-6 or ly - y > 1e-6:
            out.append(p)
            lx, ly = x, y
    return out


def simplify(points: list[Point]) -> list[Point]:
    """Drop interior points on a straight vertical or horizontal run."""
    if len(points) <= 2:
        return points
    out = [points[0]]
    ax, ay = points[0]
    bx, by = points[1]
    for c in points[2:]:
        cx, cy = c
        # b goes when a-b-c is one vertical or one horizontal run (within 1e-6 px)
        if (-1e-6 < ax - bx < 1e-6 and -1e-6 < bx - cx < 1e-6) or (
                -1e-6 < ay - by < 1e-6 and -1e-6 < by - cy < 1e-6):
            bx, by = cx, cy
            continue
        out.append((bx, by))
        ax, ay, bx, by = bx, by, cx, cy
    out.append(points[-1])
    return out


def to_spline(points: list[Point], vertical: bool = True) -> list[Point]:
    """Cubic Bezier control points p0 (c1 c2 p)+ through ``points``.

    With ``vertical`` the flow is along y: every bend gets vertical tangents (half the
    segment's height as handle length); otherwise along x (LR drawings).
    """
    pts = dedupe(points)
    if len(pts) < 2:
        return pts
    out = [pts[0]]
    ax, ay = pts[0]
    for b in pts[1:]:
        bx, by = b
        if -0.5 < (ax - bx if vertical else ay - by) < 0.5:  # straight: thirds
            out.append((ax + (bx - ax) / 3, ay + (by - ay) / 3))
            out.append((ax + 2 * (bx - ax) / 3, ay + 2 * (by - ay) / 3))
        elif vertical:
            dy = (by - ay) / 2
            out.append((ax, ay + dy))
            out.append((bx, by - dy))
        else:
            dx = (bx - ax) / 2
            out.append((ax + dx, ay))
            out.append((bx - dx, by))
        out.append((bx, by))
        ax, ay = bx, by
    return out


def finish_raw(points: list[Point], direction: str, tb_h: float) -> tuple[list[Point], bool]:
    """finish() before rounding: the cleaned, rotated (and smoothed) points, and whether
    they are spline control points. place.assemble rounds the points of all edges at once."""
    if len(points) == 2 and direction == "TB":
        # most edges of a big drawing: one straight run between two distinct points (what
        # dedupe, simplify and the straight test below give them, without the calls)
        (ax, ay), (bx, by) = points
        dx, dy = abs(ax - bx), abs(ay - by)
        if (dx > 1e-6 or dy > 1e-6) and (dx < 0.5 or dy < 0.5):
            return points, False
    pts = simplify(dedupe(points))
    if direction == "BT":
        pts = [(x, tb_h - y) for x, y in pts]
    elif direction == "LR":
        pts = [(y, x) for x, y in pts]
    elif direction == "RL":
        pts = [(tb_h - y, x) for x, y in pts]
    if len(pts) == 2:
        (ax, ay), (bx, by) = pts
        if abs(ax - bx) < 0.5 or abs(ay - by) < 0.5:
            return pts, False
    return to_spline(pts, vertical=direction in ("TB", "BT")), True


def finish(points: list[Point], direction: str, tb_h: float) -> tuple[list[Point], bool]:
    """Clean a TB-space polyline, rotate it to ``direction`` and smooth it; rounded to 0.01.

    Returns (points, spline). An edge that is one straight run stays a 2-point polyline
    (smaller files, and nothing to smooth).
    """
    pts, spline = finish_raw(points, direction, tb_h)
    return [(round(x, 2) + 0.0, round(y, 2) + 0.0) for x, y in pts], spline


def round2(values: list[float]) -> list[float]:
    """``[round(v, 2) + 0.0 for v in values]``, exactly, at numpy speed (a 50k-node drawing
    rounds ~500k coordinates: Python's round(v, 2) was a third of placing them).

    round(v, 2) is the double nearest to k/100, k the integer nearest to the exact v*100
    (ties to even). With y = fl(v*100) and |y| < 2**31, y is within 2**-22 of v*100, so when
    y is more than 1e-6 away from a half, k = rint(y); k/100.0 is then correctly rounded by
    IEEE division, i.e. the same double. The few values near a half (or huge, or not
    finite) are rounded by Python itself. A small drawing rounds in Python: importing numpy
    costs more than its whole rounding."""
    if len(values) < 4096:
        return [round(v, 2) + 0.0 for v in values]
    import numpy as np

    a = np.array(values, dtype=np.float64)
    y = a * 100.0
    with np.errstate(invalid="ignore"):
        safe = (np.abs(y - np.floor(y) - 0.5) > 1e-6) & (np.abs(y) < 2.0 ** 31)
    out = (np.rint(y) / 100.0 + 0.0).tolist()
    for i in np.flatnonzero(~safe).tolist():
        out[i] = round(values[i], 2) + 0.0
    return out


def route_level(inp: LevelInput, pg: Proper, geo: Geometry) -> list[list[Point]]:
    """Phase 6 for one level: one TB-space polyline per input edge, from its source's bottom
    border through the bands of its dummies to its target's top border; back edges go down
    out of the source, across the free gap under its layer, up their lane, across the gap
    above the target, and down into it."""
    xs, ys, layer_top, layer_h = geo.xs, geo.ys, geo.layer_top, geo.layer_h
    vrank, tail, height = pg.vrank, pg.tail, pg.height
    dst_off = geo.dst_off
    n = len(inp.widths)
    is_group = inp.is_group or [False] * n
    paths: list[list[Point]] = []
    for i, chain in enumerate(pg.chains):
        if len(chain) < 2:
            paths.append([])
            continue
        ao, bo = pg.chain_off[i]
        if i in dst_off:
            bo = dst_off[i]
        a, b = chain[0], chain[-1]
        pts: list[Point] = []
        ax = xs[a] + ao
        ay = ys[a] + height[a] / 2
        pts.append((ax, ay))
        ra = vrank[tail[a]]
        band_bottom = layer_top[ra] + layer_h[ra]
        if a < n and is_group[a]:
            band_bottom = max(band_bottom, ay + FRAME_CLEAR)
        if ay < band_bottom - 0.5:
            pts.append((ax, band_bottom))
        for v in chain[1:-1]:
            r = vrank[v]
            pts.append((xs[v], layer_top[r]))
            if layer_h[r] > 0:
                pts.append((xs[v], layer_top[r] + layer_h[r]))
        bx = xs[b] + bo
        by = ys[b] - height[b] / 2
        rb = vrank[b]
        band_top = layer_top[rb]
        if b < n and is_group[b]:
            band_top = min(band_top, by - FRAME_CLEAR)
        if band_top < by - 0.5:
            pts.append((bx, band_top))
        pts.append((bx, by))
        paths.append(pts)
    for k, i in enumerate(geo.back):
        s_, d_, so, do = inp.edges[i]
        lx = geo.lane_x[k] - geo.left
        sx, dx = xs[s_] + so, xs[d_] + do
        r_s = vrank[tail[s_]]
        below = layer_top[r_s] + layer_h[r_s] + min(inp.rank_sep / 2, 12.0)
        r_d = vrank[d_]
        above = layer_top[r_d] - min(inp.rank_sep / 2, 12.0 if r_d == 0 else inp.rank_sep / 2)
        paths[i] = [(sx, ys[s_] + height[s_] / 2), (sx, below), (lx, below), (lx, above),
                    (dx, above), (dx, ys[d_] - height[d_] / 2)]
    return paths
