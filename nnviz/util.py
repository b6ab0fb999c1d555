"""Helpers of no stage: every stage may import them, they import nothing of nnviz."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Run a block with the cyclic garbage collector off (restored afterwards).

    A 50k-node graph is ~1M small objects; the passes and writers allocate hundreds of
    thousands more, and every generation-2 collection rescans them all: that was half of the
    time of annotate, the view transforms and the SVG writer. These blocks create no
    reference cycles worth collecting early, and the collector runs normally afterwards.
    Nested use is fine: only the outermost block turns it back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
