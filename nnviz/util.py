"""Helpers of no stage: every stage may import them, they import nothing of nnviz."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Hashable, Iterator
from typing import Protocol, TypeVar

_K = TypeVar("_K", bound=Hashable)


class UnionFindParents(Protocol[_K]):
    """A union-find forest: item -> its parent, a root being its own parent (a dict, or a
    list of ints for items 0..n-1)."""

    def __getitem__(self, item: _K, /) -> _K: ...

    def __setitem__(self, item: _K, parent: _K, /) -> None: ...


def union_find_root(parent: UnionFindParents[_K], item: _K) -> _K:
    """The root of ``item``'s set in the union-find forest ``parent``, halving the path on the
    way (each visited item is re-pointed to its grandparent), so repeated lookups stay near
    constant time. Callers union by ``parent[root_a] = root_b`` themselves: which root wins
    decides their components' keys, so each keeps its own direction."""
    while parent[item] != item:
        parent[item] = parent[parent[item]]
        item = parent[item]
    return item


@contextlib.contextmanager
def paused_gc(promote: bool = False) -> Iterator[None]:
    """Run a block with the cyclic garbage collector off (restored afterwards).

    A 50k-node graph is ~1M small objects; the passes and writers allocate hundreds of
    thousands more, and every generation-2 collection rescans them all: that was half of the
    time of annotate, the view transforms and the SVG writer. These blocks create no
    reference cycles worth collecting early, and the collector runs normally afterwards.
    Nested use is fine: only the outermost block turns it back on.

    ``promote``: for a block that builds a structure meant to live on (a loaded graph). The
    young generation then holds every object the block made, and the first collection after
    it scans them all (0.1-0.2 s for the 370k tracked objects of a 50k-node graph), only to
    move them one generation up; promoted, they join the oldest generation at once
    (``gc.freeze`` then ``gc.unfreeze``: two list splices, no scan). Skipped when the program
    froze objects itself (a pre-forking server keeps its pages shared so): unfreezing would
    undo that.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if promote and gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
