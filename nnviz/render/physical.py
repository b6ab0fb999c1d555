"""Figures at a physical width (``--width 3.3in``): units, scale factor, smallest text.

A paper's column is about 3.3 in wide (6.9 in for a full-width figure). The scene is laid
out in px (96 per inch); at a target width every vector format is scaled by one factor, so
the smallest font size in the printed figure is the scene's smallest text size times that
factor. Below 6 pt text is hard to read in print, which the caller reports.
"""

from __future__ import annotations

import re

from nnviz.errors import NnvizError
from nnviz.render.scene import Scene, Text

INCHES = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4, "pt": 1 / 72, "bp": 1 / 72,
          "px": 1 / 96}
MIN_READABLE_PT = 6.0
_LENGTH = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-z]+)\s*$")


def parse_length(value: str | float) -> float:
    """Inches from "3.3in", "8.4cm", "84mm", "240pt" or "317px" (a number is inches)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        inches = float(value)
    else:
        m = _LENGTH.match(str(value).lower())
        if not m or m.group(2) not in INCHES:
            raise NnvizError(f"--width: cannot read '{value}'; write a length with a unit, "
                             "e.g. 3.3in, 8.4cm, 84mm, 240pt or 317px")
        inches = float(m.group(1)) * INCHES[m.group(2)]
    if not 0.1 <= inches <= 200:
        raise NnvizError(f"--width must be between 0.1 in and 200 in, got {value}")
    return inches


def bp_per_px(scene: Scene, width_in: float) -> float:
    """PostScript points per scene px so that the figure is ``width_in`` inches wide."""
    return width_in * 72.0 / max(scene.width, 1.0)


def smallest_font_pt(scene: Scene, width_in: float | None = None) -> float | None:
    """The smallest text size in the printed figure, in pt (None: the figure has no text).

    Without a width the figure prints at its natural size (96 px per inch)."""
    sizes = [it.size for it in scene.items() if isinstance(it, Text) and it.text.strip()]
    if not sizes:
        return None
    k = bp_per_px(scene, width_in) if width_in else 0.75
    return round(min(sizes) * k, 2)
