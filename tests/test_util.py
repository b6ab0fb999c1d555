"""nnviz.util: the stage-neutral helpers."""

from __future__ import annotations

import random

from nnviz.util import union_find_root


def _components(n: int, pairs: list[tuple[int, int]]) -> list[set[int]]:
    """Connected components by repeated merging (slow, obviously right)."""
    comps = [{v} for v in range(n)]
    for a, b in pairs:
        ca = next(c for c in comps if a in c)
        cb = next(c for c in comps if b in c)
        if ca is not cb:
            ca |= cb
            comps.remove(cb)
    return comps


def test_union_find_root_groups_as_connected_components_for_lists_and_dicts():
    rng = random.Random(7)
    for _ in range(50):
        n = rng.randint(1, 40)
        pairs = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(0, 2 * n))]
        as_list = list(range(n))
        as_dict = {f"n{v}": f"n{v}" for v in range(n)}
        for a, b in pairs:
            as_list[union_find_root(as_list, a)] = union_find_root(as_list, b)
            ra, rb = union_find_root(as_dict, f"n{a}"), union_find_root(as_dict, f"n{b}")
            if ra != rb:
                as_dict[max(ra, rb)] = min(ra, rb)
        want = sorted(sorted(c) for c in _components(n, pairs))
        for parent, key in ((as_list, lambda v: v), (as_dict, lambda v: f"n{v}")):
            got: dict[object, list[int]] = {}
            for v in range(n):
                got.setdefault(union_find_root(parent, key(v)), []).append(v)
            assert sorted(got.values()) == want
            # every root is its own parent
            assert all(parent[r] == r for r in got)


def test_union_find_root_halves_the_path_it_walks():
    parent = [0, 0, 1, 2, 3, 4]  # a chain 5 -> 4 -> 3 -> 2 -> 1 -> 0
    assert union_find_root(parent, 5) == 0
    # each visited item now points at its former grandparent
    assert parent == [0, 0, 1, 1, 3, 3]
    assert union_find_root(parent, 5) == 0
    assert parent[5] == 1
