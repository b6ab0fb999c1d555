"""Fast paths of the layered layout's hot loops say what the general code says."""

from __future__ import annotations

import random

from nnviz.layout.layered.routing import finish


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
