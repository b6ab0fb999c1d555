"""Where a frame's title goes: the first spot along the frame's top that no edge crosses.

One function for every renderer: the SVG/PNG scene draws the title's patch there and the
HTML viewer packs the same box into its page data, so both draw a title in the same place
(an edge entering a frame at its left would otherwise run through the words).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from itertools import chain

from nnviz.layout.model import EdgePath, GroupFrame
from nnviz.text import line_height, text_width

_ROW = 64.0  # px: edge segments are bucketed by rows of this height for the title search


def _band_index(edges: list[EdgePath], frames: list[GroupFrame],
                band: float) -> dict[int, list[tuple[float, float, float, float]]]:
    """Edge segments (y0, y1, x0, x1) bucketed by the rows they span (splines by their
    control polygon, which contains the curve), for the rows a frame title's band meets.

    numpy picks the segments that reach such a row (a big drawing has ~200k segments and
    only a few near each title); the buckets hold the very Python values, as before."""
    import numpy as np

    need = sorted({r for fr in frames if fr.label
                   for r in range(int(fr.y // _ROW), int((fr.y + band) // _ROW) + 1)})
    rows: dict[int, list[tuple[float, float, float, float]]] = {}
    lens = [len(e.points) for e in edges]
    total = sum(lens)
    if not need or total < 2:
        return rows
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(e.points for e in edges)),
                       dtype=np.float64, count=2 * total)
    ys = flat[1::2]
    lo = np.minimum(ys[:-1], ys[1:])
    hi = np.maximum(ys[:-1], ys[1:])
    # A segment can block a title only if it meets some title band (fy, fy + band) in y:
    # the first band top above lo - band (1 px of slack for rounding) must lie below hi.
    tops = np.array(sorted(fr.y for fr in frames if fr.label), dtype=np.float64)
    first_top = np.searchsorted(tops, lo - band - 1.0, "right")
    hits = tops[np.minimum(first_top, len(tops) - 1)] < hi + 1.0
    hits &= first_top < len(tops)
    ends = np.cumsum(lens) - 1  # a segment starts at every point but an edge's last
    hits[ends[(ends >= 0) & (ends < total - 1)]] = False
    if not hits.any():
        return rows
    points = list(chain.from_iterable(e.points for e in edges))
    for i in np.flatnonzero(hits).tolist():
        (ax, ay), (bx, by) = points[i], points[i + 1]
        seg = (min(ay, by), max(ay, by), min(ax, bx), max(ax, bx))
        first, last = int(seg[0] // _ROW), int(seg[1] // _ROW)
        for r in need[bisect_left(need, first):bisect_right(need, last)]:
            rows.setdefault(r, []).append(seg)
    return rows


def _title_x(rows: dict[int, list[tuple[float, float, float, float]]], fx: float, fy: float,
             fw: float, tw: float, band: float) -> float:
    """Left x of a frame title's patch: the first spot from the frame's left where the
    title's band meets no edge; the usual spot when there is none."""
    blocked = sorted((x0 - 3, x1 + 3) for r in range(int(fy // _ROW), int((fy + band) // _ROW) + 1)
                     for y0, y1, x0, x1 in rows.get(r, ()) if y0 < fy + band and y1 > fy
                     and x1 > fx and x0 < fx + fw)
    start = fx + 6
    for x in [start] + [b for _, b in blocked]:
        if x < start or x + tw + 4 > fx + fw - 6:
            continue
        if not any(a < x + tw + 4 and b > x for a, b in blocked):
            return x
    return start


def title_boxes(frames: list[GroupFrame], edges: list[EdgePath],
                size: float) -> list[tuple[float, float, float, float]]:
    """The title patch (x, y, w, h) of each frame, in the order given, for titles of font
    `size`: the patch starts at the first place from the frame's left where no edge crosses
    the title's band, and holds the title's lines (`GroupFrame.lines`, else the label).
    A frame without a label gets an empty patch at its usual spot."""
    lh = line_height(size)
    band = lh * max([1] + [len(fr.lines) for fr in frames]) + 5
    crossings = _band_index(edges, frames, band) if frames else {}
    out = []
    for fr in frames:
        if not fr.label:
            out.append((fr.x + 6, fr.y + 3, 0.0, 0.0))
            continue
        title = fr.lines or [fr.label]  # two lines where the layout broke a wide title
        tw = min(max(text_width(t, size) for t in title), max(0.0, fr.w - 12))
        x = _title_x(crossings, fr.x, fr.y, fr.w, tw, lh * len(title) + 5)
        out.append((x, fr.y + 3, tw + 4, lh * len(title) + 2))
    return out
