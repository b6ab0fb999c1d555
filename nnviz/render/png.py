"""PNG: our SVG rasterised by resvg (a pip wheel, no system library) with the shipped fonts.

System fonts are skipped on purpose: the picture then looks the same on every machine, and
the text is drawn with the very font whose metrics sized the boxes.
"""

from __future__ import annotations

import math
import struct
import zlib

from nnviz.errors import NnvizError
from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.text import FONT_DIR, FONT_FAMILY
from nnviz.theme import Theme

CSS_DPI = 96.0  # SVG px are CSS px: 96 per inch
MAX_PIXELS = 400_000_000  # ~1.6 GB of RGBA: refuse instead of exhausting memory


def zoom_for(dpi: float | None = None, scale: float | None = None) -> float:
    """Pixels per SVG px: ``dpi``/96 times ``scale`` (both optional)."""
    zoom = 1.0
    if dpi is not None:
        if not dpi > 0:
            raise NnvizError(f"--dpi must be a positive number, got {dpi}")
        zoom *= float(dpi) / CSS_DPI
    if scale is not None:
        if not scale > 0:
            raise NnvizError(f"--scale must be a positive number, got {scale}")
        zoom *= float(scale)
    return zoom


def _with_phys(png: bytes, dpi: float) -> bytes:
    """Insert a pHYs chunk so viewers and LaTeX know the intended print resolution."""
    ppm = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", ppm, ppm, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def png_size(width: float, height: float, zoom: float = 1.0) -> tuple[int, int]:
    """The pixel size of the PNG of a ``width`` x ``height`` px drawing at ``zoom``."""
    return (math.ceil(math.ceil(width - 1e-6) * zoom - 1e-6),
            math.ceil(math.ceil(height - 1e-6) * zoom - 1e-6))


def svg_to_png(svg: str, zoom: float = 1.0, dpi: float | None = None,
               size: tuple[float, float] | None = None) -> bytes:
    import resvg_py

    if size is not None:
        w, h = size
        if w * zoom * h * zoom > MAX_PIXELS:
            raise NnvizError(
                f"the PNG would be {w * zoom:.0f}x{h * zoom:.0f} pixels, too large; lower "
                "--dpi/--scale, collapse groups with --depth, or write SVG/PDF instead")
    data = bytes(resvg_py.svg_to_bytes(
        svg_string=svg, zoom=zoom, skip_system_fonts=True, font_dirs=[str(FONT_DIR)],
        font_family=FONT_FAMILY, sans_serif_family=FONT_FAMILY,
    ))
    return _with_phys(data, dpi if dpi else CSS_DPI * zoom)


def render(graph: Graph, layout: Layout, theme: Theme, dpi: float | None = None,
           scale: float | None = None, width: str | float | None = None,
           **options) -> bytes:
    from nnviz.render.physical import parse_length
    from nnviz.render.svg import render as render_svg

    options.pop("embed_font", None)  # resvg is given the font files directly
    if width is None:
        zoom = zoom_for(dpi, scale)
        svg = render_svg(graph, layout, theme, **options)
        return svg_to_png(svg, zoom, dpi=dpi, size=(layout.width, layout.height))
    # At a physical width: as many pixels as the width takes at the print resolution (300
    # dpi unless --dpi says otherwise), which the pHYs chunk records.
    width_in = parse_length(width)
    dpi = 300.0 if dpi is None else dpi
    w = math.ceil(layout.width - 1e-6)
    zoom = zoom_for(None, scale) * width_in * zoom_for(dpi) * CSS_DPI / max(w, 1)
    svg = render_svg(graph, layout, theme, **options)
    return svg_to_png(svg, zoom, dpi=dpi * (scale or 1.0), size=(layout.width, layout.height))
