"""Helpers of no stage: every stage may import them, they import nothing of nnviz."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


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
