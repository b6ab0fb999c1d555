"""Renderers: (Graph, Layout, Theme) -> bytes. One module per format; no layout decisions."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from nnviz.errors import NnvizError
from nnviz.fileio import atomic_write
from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.theme import Theme, load_theme


@dataclass(frozen=True)
class Format:
    """One output format: ``module.render(graph, layout, theme, **options) -> bytes | str``."""

    name: str
    module: str
    extensions: tuple[str, ...]
    aliases: tuple[str, ...] = ()


# The one table of output formats: the CLI's --format choices and -o help, the API's
# format_for and the tests all read it. Adding a format: write nnviz/render/NAME.py with
# render(), add one line here.
FORMAT_TABLE: tuple[Format, ...] = (
    Format("svg", "nnviz.render.svg", (".svg",)),
    Format("png", "nnviz.render.png", (".png",)),
    Format("pdf", "nnviz.render.pdf", (".pdf",)),
    Format("dot", "nnviz.render.dot", (".dot", ".gv")),
    Format("tex", "nnviz.render.tikz", (".tex", ".tikz"), aliases=("tikz",)),
    Format("json", "nnviz.render.json_out", (".json",)),
    Format("html", "nnviz.render.html", (".html", ".htm")),
)
FORMATS: dict[str, str] = {f.name: f.module for f in FORMAT_TABLE}
ALIASES: dict[str, str] = {a: f.name for f in FORMAT_TABLE for a in f.aliases}
EXTENSIONS: dict[str, str] = {e: f.name for f in FORMAT_TABLE for e in f.extensions}


def format_names(with_aliases: bool = False) -> list[str]:
    """Format names in table order, each followed by its aliases when asked (CLI choices)."""
    return [n for f in FORMAT_TABLE for n in ((f.name, *f.aliases) if with_aliases else (f.name,))]


def format_for(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        fmt = fmt.lower()
        fmt = ALIASES.get(fmt, fmt)
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
