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
