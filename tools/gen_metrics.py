"""Regenerate nnviz/fonts/metrics.json from the shipped TTF files (dev-time only).

Layout reads only this table, so it needs no font library and is identical everywhere.
"""

import json
from pathlib import Path

from fontTools.ttLib import TTFont

FONTS = Path(__file__).resolve().parent.parent / "nnviz" / "fonts"


def table(path: Path) -> dict:
    font = TTFont(path)
    upem = font["head"].unitsPerEm
    cmap = font.getBestCmap()
    hmtx = font["hmtx"]
    widths = {}
    for cp, glyph in sorted(cmap.items()):
        if cp > 0xFFFF:
            continue
        widths[str(cp)] = hmtx[glyph][0]
    hhea = font["hhea"]
    return {"units_per_em": upem, "ascent": hhea.ascent, "descent": hhea.descent,
            "default": hmtx[".notdef"][0], "widths": widths}


def main() -> None:
    out = {"regular": table(FONTS / "DejaVuSans.ttf"), "bold": table(FONTS / "DejaVuSans-Bold.ttf")}
    (FONTS / "metrics.json").write_text(json.dumps(out, separators=(",", ":"), sort_keys=True))


if __name__ == "__main__":
    main()
