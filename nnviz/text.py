"""Text measurement from the metrics table shipped with nnviz (DejaVu Sans).

No font library at layout time: the same string has the same width on every machine, and
the renderers embed or reference the same font, so boxes fit their text in every format.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVu Sans"
FONT_FILES = {"regular": FONT_DIR / "DejaVuSans.ttf", "bold": FONT_DIR / "DejaVuSans-Bold.ttf"}


@lru_cache(maxsize=1)
def metrics() -> dict:
    """The shipped DejaVu Sans metrics: per face, advance widths by code point (em units)."""
    data = json.loads((FONT_DIR / "metrics.json").read_text())
    for face in data.values():
        face["widths"] = {int(k): v for k, v in face["widths"].items()}
    return data


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Advance width of ``text`` in px at font ``size`` px."""
    face = metrics()["bold" if bold else "regular"]
    widths = face["widths"]
    default = face["default"]
    units = sum(widths.get(ord(ch), default) for ch in text)
    return units * size / face["units_per_em"]


def line_height(size: float) -> float:
    face = metrics()["regular"]
    return (face["ascent"] - face["descent"]) * size / face["units_per_em"]


def ascent(size: float) -> float:
    face = metrics()["regular"]
    return face["ascent"] * size / face["units_per_em"]


def truncate(text: str, size: float, max_width: float, bold: bool = False) -> str:
    """Shorten ``text`` with an ellipsis so that it fits ``max_width``."""
    if text_width(text, size, bold) <= max_width:
        return text
    ell = "\u2026"
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid] + ell, size, bold) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + ell


def subset_font(face: str, *, text: str = "", unicodes: list[int] | None = None,
                features: tuple[str, ...] = ("kern",), woff: bool = False,
                notdef_outline: bool = False) -> bytes:
    """The shipped font ``face`` ("regular"/"bold") cut down to ``text`` and ``unicodes``.

    The one subsetter of nnviz (SVG --embed-font and the HTML viewer's inline font). Fixed
    options keep it deterministic; the copyright and family names stay (the licence wants
    them); hinting goes (browsers rasterise well without it; halves the size).
    """
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont

    opts = subset.Options()
    opts.layout_features = list(features)
    opts.name_IDs = [0, 1, 2]
    opts.notdef_outline = notdef_outline
    opts.recalc_timestamp = False
    opts.hinting = False
    opts.drop_tables += ["FFTM"]  # a FontForge timestamp table subset() cannot handle
    if woff:
        opts.flavor = "woff"
    font = TTFont(str(FONT_FILES[face]), recalcTimestamp=False)
    sub = subset.Subsetter(opts)
    sub.populate(text=text, unicodes=unicodes or [])
    sub.subset(font)
    if woff:
        font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf, reorderTables=True)
    return buf.getvalue()


def split_title(text: str, size: float, bold: bool = False) -> list[str]:
    """``text`` as two lines of the least possible width, broken between words (the space
    dropped) or after a '/' or '.' of a module path; ``[text]`` when it has no such place.

    A frame whose title is wider than its content takes the title on two lines instead of
    growing to the title's width (layout/layered/engine.py)."""
    best: tuple[float, int, list[str]] | None = None
    for i, ch in enumerate(text):
        if ch == " ":
            a, b = text[:i].rstrip(), text[i + 1:].lstrip()
        elif ch in "/." and 0 < i < len(text) - 1:
            a, b = text[:i + 1], text[i + 1:]
        else:
            continue
        if not a or not b:
            continue
        w = max(text_width(a, size, bold), text_width(b, size, bold))
        if best is None or (w, i) < best[:2]:
            best = (w, i, [a, b])
    return [text] if best is None else best[2]
