"""Renderers: (Graph, Layout, Theme) -> bytes. One module per format; no layout decisions."""

from __future__ import annotations

import importlib
from pathlib import Path

from nnviz.errors import NnvizError
from nnviz.fileio import atomic_write
from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.theme import Theme, load_theme

# format -> (module, function); each function is render(graph, layout, theme, **options) -> bytes
FORMATS: dict[str, str] = {
    "svg": "nnviz.render.svg",
    "dot": "nnviz.render.dot",
    "png": "nnviz.render.png",
    "pdf": "nnviz.render.pdf",
    "tex": "nnviz.render.tikz",
    "json": "nnviz.render.json_out",
    "html": "nnviz.render.html",
}
EXTENSIONS: dict[str, str] = {
    ".svg": "svg", ".dot": "dot", ".gv": "dot", ".png": "png", ".pdf": "pdf", ".tex": "tex",
    ".tikz": "tex", ".json": "json", ".html": "html", ".htm": "html",
}


def format_for(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt == "tikz":
            fmt = "tex"
        if fmt not in FORMATS:
            raise NnvizError(f"unknown output format '{fmt}'; use one of {', '.join(FORMATS)}")
        return fmt
    ext = Path(str(path)).suffix.lower()
    if ext not in EXTENSIONS:
        raise NnvizError(
            f"{path}: cannot tell the output format from the extension '{ext or '(none)'}'; "
            f"use one of {', '.join(sorted(EXTENSIONS))} or --format"
        )
    return EXTENSIONS[ext]


def render_bytes(graph: Graph, layout: Layout, fmt: str, theme: Theme | str | None = None,
                 **options) -> bytes:
    if not isinstance(theme, Theme):
        theme = load_theme(theme)
    fmt = format_for("", fmt)
    module = importlib.import_module(FORMATS[fmt])
    data = module.render(graph, layout, theme, **options)
    # "replace": a lone surrogate (json.loads accepts "\ud800" in a Keras config or nnviz
    # graph JSON) would otherwise make the whole render fail; it becomes "?".
    return data.encode("utf-8", errors="replace") if isinstance(data, str) else data


def render(graph: Graph, layout: Layout, path: str | Path, fmt: str | None = None,
           theme: Theme | str | None = None, **options) -> Path:
    """Render to ``path`` atomically; the format follows the extension unless ``fmt`` is given."""
    fmt = format_for(path, fmt)
    data = render_bytes(graph, layout, fmt, theme, **options)
    try:
        return atomic_write(path, data)
    except OSError as exc:
        raise NnvizError(f"{path}: cannot write the output file ({exc.strerror or exc})") from None
