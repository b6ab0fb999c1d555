"""Where a frame's title goes: the first spot along the frame's top that no edge crosses.

One function for every renderer: the SVG/PNG scene draws the title's patch there and the
HTML viewer packs the same box into its page data, so both draw a title in the same place
(an edge entering a frame at its left would otherwise run through the words).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import chain
from operator import attrgetter

from nnviz.layout.model import EdgePath, GroupFrame
from nnviz.text import line_height, text_width

_BULK_SEGMENTS = 4096  # edge segments from which the search runs in numpy


def _blockers(edges: list[EdgePath], frames: list[GroupFrame], bands: list[float],
              widths: list[float], flat: tuple | None = None
              ) -> dict[int, list[tuple[float, float]]]:
    """Per frame whose usual title spot (from x + 6, ``widths[i]`` + 4 wide: the title and
    its patch's margin) an edge crosses, the x spans (x0 - 3, x1 + 3) of every edge segment
    that crosses the band of height ``bands[i]`` below the frame's top within its width (a
    spline by its control polygon, which contains the curve). A frame left out keeps its
    usual spot (_title_x would return it).

    Frames sorted by top: a segment meets a band only if the frame's top lies in
    (y0 - the highest band, y1), found by bisection, then tested exactly; a big drawing
    (~200k segments, ~5k frames) does the same as numpy operations over all segments
    (``flat``: the edges' points as an (n, 2) array and the count per edge, when the caller
    has them)."""
    labelled = [i for i, fr in enumerate(frames) if fr.label]
    if not labelled:
        return {}
    order = sorted(labelled, key=lambda i: frames[i].y)
    tops = [frames[i].y for i in order]
    reach = max(bands[i] for i in labelled)
    if flat is not None or sum(map(len, map(attrgetter("points"), edges))) >= _BULK_SEGMENTS:
        return _blockers_bulk(edges, frames, bands, widths, order, tops, reach, flat)
    out: dict[int, list[tuple[float, float]]] = {}
    for e in edges:
        pts = e.points
        for (ax, ay), (bx, by) in zip(pts, pts[1:]):
            y0, y1, x0, x1 = min(ay, by), max(ay, by), min(ax, bx), max(ax, bx)
            for k in range(bisect_right(tops, y0 - reach), bisect_left(tops, y1)):
                i = order[k]
                fr = frames[i]
                if y0 < fr.y + bands[i] and y1 > fr.y and x1 > fr.x and x0 < fr.x + fr.w:
                    out.setdefault(i, []).append((x0 - 3, x1 + 3))
    return {i: spans for i, spans in out.items()
            if any(a < frames[i].x + 6 + widths[i] + 4 and b > frames[i].x + 6
                   for a, b in spans)}


def _blockers_bulk(edges: list[EdgePath], frames: list[GroupFrame], bands: list[float],
                   widths: list[float], order: list[int], tops: list[float], reach: float,
                   flat: tuple | None) -> dict[int, list[tuple[float, float]]]:
    """_blockers' search as numpy operations: every (segment, frame) pair whose frame top
    lies in (y0 - reach, y1), then the exact tests on all pairs at once (the same float
    comparisons, so the same pairs and frames)."""
    import numpy as np

    if flat is None:
        counts = np.fromiter(map(len, map(attrgetter("points"), edges)), dtype=np.int64,
                             count=len(edges))
        xy = np.fromiter(chain.from_iterable(chain.from_iterable(e.points for e in edges)),
                         dtype=np.float64, count=2 * int(counts.sum())).reshape(-1, 2)
    else:
        xy, counts = flat
    starts = np.ones(len(xy), dtype=bool)  # a segment starts at every point but the last
    starts[np.cumsum(counts)[counts > 0] - 1] = False
    a = np.flatnonzero(starts)
    p, q = xy[a], xy[a + 1]
    y0, y1 = np.minimum(p[:, 1], q[:, 1]), np.maximum(p[:, 1], q[:, 1])
    x0, x1 = np.minimum(p[:, 0], q[:, 0]), np.maximum(p[:, 0], q[:, 0])
    top = np.asarray(tops, dtype=np.float64)
    first = np.searchsorted(top, y0 - reach, "right")
    n = np.maximum(np.searchsorted(top, y1, "left") - first, 0)
    seg = np.repeat(np.arange(len(a)), n)
    fi = np.asarray(order, dtype=np.int64)[np.repeat(first - np.cumsum(n) + n, n)
                                           + np.arange(int(n.sum()))]
    fy, fx, fw = (np.array([getattr(fr, f) for fr in frames], dtype=np.float64)[fi]
                  for f in ("y", "x", "w"))
    sx0, sx1 = x0[seg], x1[seg]
    hit = (y0[seg] < fy + np.asarray(bands, dtype=np.float64)[fi]) & (y1[seg] > fy) \
        & (sx1 > fx) & (sx0 < fx + fw)
    fi, lo, hi, start = fi[hit], sx0[hit] - 3, sx1[hit] + 3, fx[hit] + 6
    crossed = np.zeros(len(frames), dtype=bool)
    crossed[fi[(lo < start + np.asarray(widths, dtype=np.float64)[fi] + 4) & (hi > start)]] = True
    keep = crossed[fi]
    out: dict[int, list[tuple[float, float]]] = {}
    for i, a0, b0 in zip(fi[keep].tolist(), lo[keep].tolist(), hi[keep].tolist()):
        out.setdefault(i, []).append((a0, b0))
    return out


def _title_x(blocked: list[tuple[float, float]], fx: float, fw: float, tw: float) -> float:
    """Left x of a frame title's patch: the first spot from the frame's left where the
    title's band meets no edge (``blocked``: the x spans of those crossing it); the usual
    spot when there is none."""
    blocked = sorted(blocked)
    start = fx + 6
    for x in [start] + [b for _, b in blocked]:
        if x < start or x + tw + 4 > fx + fw - 6:
            continue
        if not any(a < x + tw + 4 and b > x for a, b in blocked):
            return x
    return start


def title_boxes(frames: list[GroupFrame], edges: list[EdgePath], size: float,
                flat: tuple | None = None) -> list[tuple[float, float, float, float]]:
    """The title patch (x, y, w, h) of each frame, in the order given, for titles of font
    `size`: the patch starts at the first place from the frame's left where no edge crosses
    the title's band, and holds the title's lines (`GroupFrame.lines`, else the label).
    A frame without a label gets an empty patch at its usual spot. ``flat``: the edges'
    points as an (n, 2) numpy array and their count per edge, when the caller has them."""
    lh = line_height(size)
    titles = [fr.lines or [fr.label] for fr in frames]  # two lines where the layout broke one
    bands = [lh * len(title) + 5 for title in titles]
    tws = [min(max(text_width(t, size) for t in title), max(0.0, fr.w - 12)) if fr.label
           else 0.0 for fr, title in zip(frames, titles)]
    blockers = _blockers(edges, frames, bands, tws, flat) if frames else {}
    out = []
    for i, (fr, title, tw) in enumerate(zip(frames, titles, tws)):
        if not fr.label:
            out.append((fr.x + 6, fr.y + 3, 0.0, 0.0))
            continue
        blocked = blockers.get(i)
        x = _title_x(blocked, fr.x, fr.w, tw) if blocked else fr.x + 6
        out.append((x, fr.y + 3, tw + 4, lh * len(title) + 2))
    return out
