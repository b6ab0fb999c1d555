"""Phase 6: edge routing.

Each edge is a polyline through its dummy positions: it leaves the source box at its border,
runs vertically through the band of every layer it passes (so it cannot cut a box, whose
layers are the only places boxes live) and bends only in the gaps between layers. The
polyline is then smoothed into cubic Bezier pieces whose tangents are vertical at every bend,
so each piece stays inside the bounding box of its two ends, i.e. inside the free gap.
"""

from __future__ import annotations

Point = tuple[float, float]


def dedupe(points: list[Point]) -> list[Point]:
    out: list[Point] = []
    for p in points:
        if not out or abs(out[-1][0] - p[0]) > 1e-6 or abs(out[-1][1] - p[1]) > 1e-6:
            out.append(p)
    return out


def simplify(points: list[Point]) -> list[Point]:
    """Drop interior points on a straight vertical or horizontal run."""
    if len(points) <= 2:
        return points
    out = [points[0]]
    for i in range(1, len(points) - 1):
        (ax, ay), (bx, by), (cx, cy) = out[-1], points[i], points[i + 1]
        if (abs(ax - bx) < 1e-6 and abs(bx - cx) < 1e-6) or (
                abs(ay - by) < 1e-6 and abs(by - cy) < 1e-6):
            continue
        out.append(points[i])
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
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        if vertical:
            straight = abs(ax - bx) < 0.5
        else:
            straight = abs(ay - by) < 0.5
        if straight:
            c1 = (ax + (bx - ax) / 3, ay + (by - ay) / 3)
            c2 = (ax + 2 * (bx - ax) / 3, ay + 2 * (by - ay) / 3)
        elif vertical:
            dy = (by - ay) / 2
            c1, c2 = (ax, ay + dy), (bx, by - dy)
        else:
            dx = (bx - ax) / 2
            c1, c2 = (ax + dx, ay), (bx - dx, by)
        out.extend((c1, c2, (bx, by)))
    return out


def finish(points: list[Point], direction: str, tb_h: float) -> tuple[list[Point], bool]:
    """Clean a TB-space polyline, rotate it to ``direction`` and smooth it; rounded to 0.01.

    Returns (points, spline). An edge that is one straight run stays a 2-point polyline
    (smaller files, and nothing to smooth).
    """
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
            return [(round(ax, 2) + 0.0, round(ay, 2) + 0.0),
                    (round(bx, 2) + 0.0, round(by, 2) + 0.0)], False
    ctrl = to_spline(pts, vertical=direction in ("TB", "BT"))
    return [(round(x, 2) + 0.0, round(y, 2) + 0.0) for x, y in ctrl], True
