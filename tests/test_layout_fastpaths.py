"""Fast paths of the layered layout's hot loops say what the general code says."""

from __future__ import annotations

import math
import random

from nnviz.layout.layered.routing import dedupe, finish, round2, simplify, to_spline


def test_two_point_edges_finish_like_the_general_path() -> None:
    """finish() answers a two-point TB edge without dedupe/simplify; the same edge with its
    end repeated (which dedupe folds back to two points) takes the general path."""
    rng = random.Random(3)
    cases = [((10.0, 5.0), (10.0, 40.0)), ((10.0, 5.0), (10.3, 40.0)), ((10.0, 5.0), (10.6, 40.0)),
             ((10.0, 5.0), (10.0, 5.0)), ((10.0, 5.0), (10.0, 5.0000001)),
             ((10.0, 5.0), (80.0, 5.2)), ((-0.001, 0.004), (0.0, 9.0))]
    for _ in range(2000):
        ax, ay = rng.uniform(-50, 500), rng.uniform(-50, 500)
        dx = rng.choice([0.0, 1e-7, rng.uniform(-0.6, 0.6), rng.uniform(-200, 200)])
        dy = rng.choice([0.0, 1e-7, rng.uniform(-0.6, 0.6), rng.uniform(-200, 200)])
        cases.append(((ax, ay), (ax + dx, ay + dy)))
    fast = 0
    for a, b in cases:
        got = finish([a, b], "TB", 600.0)
        assert got == finish([a, b, b], "TB", 600.0), (a, b)
        fast += not got[1] and len(got[0]) == 2
    assert fast > 100  # the fast path was taken


def _dedupe_spec(points):
    out = []
    for p in points:
        if not out or abs(out[-1][0] - p[0]) > 1e-6 or abs(out[-1][1] - p[1]) > 1e-6:
            out.append(p)
    return out


def _simplify_spec(points):
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


def _spline_spec(points, vertical):
    pts = _dedupe_spec(points)
    if len(pts) < 2:
        return pts
    out = [pts[0]]
    for (ax, ay), (bx, by) in zip(pts, pts[1:]):
        straight = abs(ax - bx) < 0.5 if vertical else abs(ay - by) < 0.5
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


def test_polyline_cleaning_says_what_its_plain_form_says() -> None:
    """dedupe/simplify/to_spline run as running-point loops (every bending edge of a 50k-node
    drawing goes through them): on random polylines with repeats, near-repeats, straight runs
    and half-pixel steps they give exactly what the plain per-index forms give."""
    rng = random.Random(7)
    steps = [0.0, 1e-7, 2e-6, -1e-7, 0.3, -0.49, 0.5, -0.5, 12.0, -40.25]
    for _ in range(3000):
        x, y = round(rng.uniform(-100, 900), 1), round(rng.uniform(-100, 900), 1)
        pts = [(x, y)]
        for _ in range(rng.randrange(0, 9)):
            x += rng.choice(steps + [rng.uniform(-300, 300)])
            y += rng.choice(steps + [rng.uniform(-300, 300)])
            pts.append((x, y))
        assert dedupe(pts) == _dedupe_spec(pts)
        clean = dedupe(pts)
        assert simplify(clean) == _simplify_spec(clean)
        assert simplify(pts) == _simplify_spec(pts)
        for vertical in (True, False):
            assert to_spline(pts, vertical) == _spline_spec(pts, vertical)


def test_round2_is_pythons_round_to_hundredths() -> None:
    """routing.round2 rounds a drawing's coordinates at once, exactly as round(v, 2) + 0.0:
    on random coordinates, on ties (v*100 a half: 0.125, 2.675, 1.005), on values a hair
    either side of a tie, on -0.001 (-0.0 -> 0.0) and on magnitudes past the fast range."""
    rng = random.Random(11)
    values = [rng.uniform(-5000, 50000) for _ in range(20000)]
    values += [rng.randrange(-10**6, 10**6) / 8 for _ in range(5000)]  # exact ties
    values += [k / 1000 for k in range(-3000, 3000)]  # x.xx5: ties as written, not in binary
    ties = [0.125, 2.675, 1.005, -0.125, -2.5e-3, 0.015, 1e9 + 0.005]
    values += ties + [math.nextafter(t, math.inf) for t in ties] + \
        [math.nextafter(t, -math.inf) for t in ties]
    values += [-0.001, -0.0, 0.0, 3e7, -3e7, 1e300, -1e300, math.inf, -math.inf]
    got = round2(values)
    want = [round(v, 2) + 0.0 for v in values]
    assert got == want
    assert all(math.copysign(1.0, g) == math.copysign(1.0, w) for g, w in zip(got, want))
