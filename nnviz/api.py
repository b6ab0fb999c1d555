"""The library API: load -> passes -> layout -> render, and draw() doing all of it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from nnviz.errors import NnvizError
from nnviz.ir import REPR_HOOKS, Graph
from nnviz.layout import layout as _layout
from nnviz.layout.model import Layout
from nnviz.loaders import load
from nnviz.passes import ViewOptions, prepare
from nnviz.render import format_for, render, render_bytes
from nnviz.theme import Theme, load_theme

MAX_DRAWN_NODES = 200_000


class Drawing:
    """A laid-out model: renders to any format; shows itself in Jupyter."""

    def __init__(self, graph: Graph, layout: Layout | None, theme: Theme, render_options: dict,
                 layout_fn: Any = None):
        self.graph = graph
        self._layout = layout
        self._layout_fn = layout_fn  # computes the whole-graph layout when first needed
        self.theme = theme
        self.render_options = render_options
        self.width_in: float | None = None  # --width, in inches, once check_print_size ran
        self.smallest_font_pt: float | None = None
        # a readable alternative the small-print warning names ("--depth 1: 9 boxes, 8.1
        # pt"), filled by draw() when it found one
        self.readable_with: str = ""

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = self._layout_fn()
        return self._layout

    @layout.setter
    def layout(self, value: Layout) -> None:
        self._layout = value

    def _layout_for(self, fmt: str) -> Layout:
        # The HTML viewer lays out each group itself: no whole-graph layout needed for it.
        if fmt == "html" and self._layout is None:
            return Layout(0, 0, direction=self.render_options.get("direction", "TB"),
                          engine=self.render_options.get("engine", "layered"))
        return self.layout

    def to_bytes(self, fmt: str) -> bytes:
        return render_bytes(self.graph, self._layout_for(fmt), fmt, self.theme,
                            **self.render_options)

    def save(self, path: str | os.PathLike, fmt: str | None = None) -> Path:
        lay = self._layout_for(format_for(path, fmt))
        return render(self.graph, lay, path, fmt, self.theme, **self.render_options)

    def check_print_size(self) -> float | None:
        """At ``width`` (a render option such as "3.3in"): the figure's smallest font size in
        pt, kept in ``smallest_font_pt``; a warning when it is below 6 pt that says what
        would make the text larger."""
        import warnings

        from nnviz.render.build import build_scene
        from nnviz.render.physical import MIN_READABLE_PT, parse_length, smallest_font_pt

        width_in = parse_length(self.render_options["width"])
        self.width_in = width_in
        self.smallest_font_pt = smallest_font_pt(build_scene(self.graph, self.layout,
                                                             self.theme), width_in)
        if self.smallest_font_pt is not None and self.smallest_font_pt < MIN_READABLE_PT:
            lay = self.layout
            if lay.style in ("blocks", "neurons"):
                # a row of boxes wraps into rows or stacks into a column (labels beside);
                # a column has no other remedy than fewer boxes or a wider figure
                hint = ("--depth N to draw fewer, bigger boxes, or a wider --width" +
                        (", --rows N or --direction TB" if lay.direction in ("LR", "RL")
                         else ""))
                if self.readable_with:
                    hint = f"{self.readable_with}, or " + hint
            else:
                other = "TB" if lay.direction in ("LR", "RL") else "LR"
                hint = f"--depth N to collapse groups or --direction {other}"
            warnings.warn(f"at {width_in:.2f} in wide the smallest text is "
                          f"{self.smallest_font_pt:.1f} pt, below {MIN_READABLE_PT:.0f} pt "
                          f"(hard to read in print); try {hint}", stacklevel=3)
        return self.smallest_font_pt

    def flow_note(self) -> str:
        """How a paper figure flows ("left to right in 3 rows", "top to bottom, boxes at
        65%"); '' for a graph drawing."""
        lay = self.layout
        if lay.style not in ("blocks", "neurons"):
            return ""
        # smaller boxes than the theme's, chosen to print the text larger (_fit_paper)
        scale = lay.extras.get("box_scale")
        boxes = f", boxes at {scale:.0%}" if scale else ""
        if "ushape" in lay.extras:
            return "as a U, " + ("top to bottom" if lay.direction in ("TB", "BT") else
                                 "a row per resolution") + boxes
        if lay.direction in ("TB", "BT"):
            return "top to bottom" + boxes
        n = len(lay.extras.get("rows", [])) or 1
        return "left to right" + (f" in {n} rows" if n > 1 else "") + boxes

    def _repr_svg_(self) -> str:
        return self.to_bytes("svg").decode("utf-8")

    def _repr_png_(self) -> bytes:
        return self.to_bytes("png")

    def _repr_html_(self) -> str:
        # A sandboxed iframe: several viewers in one notebook never share ids or handlers.
        return render_bytes(self.graph, self._layout_for("html"), "html", self.theme,
                            **{**self.render_options, "jupyter": True}).decode("utf-8")

    def __repr__(self) -> str:
        return (f"Drawing({self.graph.name!r}, {len(self.layout.nodes)} boxes, "
                f"{self.layout.width:.0f}x{self.layout.height:.0f}px)")


def draw(model: Any, output: str | os.PathLike | None = None, *, fmt: str | None = None,
         engine: str = "layered", direction: str | None = None,
         theme: str | Theme | None = None,
         style: str = "graph", view: ViewOptions | None = None,
         load_options: dict | None = None, force: bool = False,
         overlay: dict | None = None, proportions: str | None = None,
         rows: int | None = None, **render_options: Any) -> Drawing:
    """Load ``model`` (path, live object or Graph), lay it out and, if given, write ``output``.

    Extra keyword arguments that are loader options (``example_input``, ``input_shape``,
    ``dtype``, ``trust_pickle``, ``aten``) go to the loader; the rest go to the renderer.
    Graphs of more than MAX_DRAWN_NODES boxes are refused unless ``force`` is set.
    ``overlay`` ({"overlay": "activations", "metric": "std", "colormap": "viridis"}) colours
    the boxes by values captured with ``nnviz.values.capture`` (the graph passed in).
    ``proportions`` (auto, linear, sqrt, log) scales the paper styles' box and column sizes;
    ``rows`` wraps a left-to-right paper figure into at most that many rows.
    ``width`` ("3.3in", "8.4cm", "240pt") scales SVG/PNG/PDF/TikZ to that printed width; the
    drawing's ``smallest_font_pt`` then says how small its text prints (warning below 6 pt).
    A paper style at a width picks its flow (unless ``direction`` says) and the rows of a
    left-to-right figure (unless ``rows`` says), see ``_fit_paper``.
    """
    # Graphs read top to bottom; the paper styles (like NN-SVG and PlotNeuralNet) left to right,
    # unless a printed width is asked: then the paper styles take the flow with larger text.
    pick_flow = direction is None and style != "graph" and \
        render_options.get("width") is not None
    # At a printed width a paper style also picks how many rows a left-to-right figure
    # wraps into and how large its boxes are next to the text (unless --rows says).
    fit = style != "graph" and render_options.get("width") is not None and \
        (pick_flow or rows is None)
    direction = (direction or ("TB" if style == "graph" else "LR")).upper()
    load_options = dict(load_options or {})
    for key in ("example_input", "input_shape", "dtype", "trust_pickle", "aten", "input_dtype",
                "capture"):
        if key in render_options:
            load_options[key] = render_options.pop(key)
    graph = load(model, **load_options)
    loaded = graph
    # The HTML viewer opens and closes groups in the page and lays out each group on its own
    # (nnviz.render.html): unless the user asked for a depth or collapse, it gets the whole
    # unfolded graph, and no whole-graph layout is computed for it.
    viewer = output is not None and format_for(output, fmt) == "html" and style == "graph"
    options = view or ViewOptions()
    if viewer and options.depth is None and not options.collapse:
        from nnviz.passes import annotate
        from nnviz.passes.noise import hide_noise

        graph = annotate(graph, options.dims)
        graph = hide_noise(graph) if options.hide_noise else graph
    else:
        loaded = graph
        # A graph this call loaded is ours to annotate in place, unless a style below
        # prepares it again (neurons) or tries other depths of it (paper figures).
        graph = prepare(loaded, options,
                        owned=style == "graph" and not isinstance(model, Graph))
        if style == "neurons" and options.depth is None:
            # A collapsed group of dense layers ("classifier") is drawn as its neuron
            # columns: open it, as --expand would (nothing else of the view changes).
            from dataclasses import replace

            from nnviz.layout.neurons import dense_groups

            more = tuple(p for p in dense_groups(graph, loaded) if p not in options.expand)
            if more:
                graph = prepare(loaded, replace(options, expand=(*options.expand, *more)))
    if overlay:
        from nnviz.values.overlay import apply_overlay

        graph = apply_overlay(graph, **overlay)
    if len(graph.nodes) > MAX_DRAWN_NODES and not force:
        # Name the file, like every other user-facing error.
        where = f"{os.fspath(model)}: " if isinstance(model, (str, os.PathLike)) else ""
        raise NnvizError(
            f"{where}the drawing would have {len(graph.nodes):,} boxes (more than "
            f"{MAX_DRAWN_NODES:,}); "
            "use --depth N to collapse groups, or --force to draw it anyway"
        )
    theme = theme if isinstance(theme, Theme) else load_theme(theme)
    def layout_fn() -> Layout:
        return _layout(graph, engine=engine, direction=direction, theme=theme, style=style,
                       proportions=proportions, rows=rows)

    if viewer:
        drawing = Drawing(graph, None, theme, {"engine": engine, "direction": direction.upper(),
                                               **render_options}, layout_fn)
    elif fit:
        drawing = Drawing(graph, _fit_paper(graph, engine, direction if not pick_flow else None,
                                            theme, style, proportions, rows,
                                            render_options["width"]),
                          theme, render_options)
    else:
        drawing = Drawing(graph, layout_fn(), theme, render_options)
    if style != "graph" and render_options.get("width") is not None and \
            options.depth is None:
        drawing.readable_with = _readable_depth(loaded, options, drawing, engine,
                                                direction if not pick_flow else None, theme,
                                                style, proportions, rows,
                                                render_options["width"])
    if render_options.get("width") is not None and not viewer:
        drawing.check_print_size()
    if output is not None:
        format_for(output, fmt)
        drawing.save(output, fmt)
    return drawing


MAX_PRINT_HEIGHT_IN = 9.0  # a page's text block: a taller figure does not fit a page
COMFORT_PT = 7.0  # text this large reads well; beyond it a shorter figure is worth more


def _fit_paper(graph: Graph, engine: str, direction: str | None, theme: Theme, style: str,
               proportions: str | None, rows: int | None, width: str) -> Layout:
    """A paper figure laid out for a printed ``width``: of the candidate flows (LR wrapped
    into 1, 2, ... rows, and TB when no ``direction`` is given) no taller than a page,
    the shortest one whose smallest text is at least 7 pt, else the one with the largest
    text.

    Each flow is also tried more compactly (VARIANTS): boxes and neuron circles smaller next
    to the text (at a fixed printed width and page height, box height is what each row of
    a wrapped figure spends beside its labels, box width what a column spends), and labels
    in narrower lines ("Conv" over "3×3/2": the widest label line sets how far apart the
    boxes of a row stand). Readable candidates: the flow and row count of the shortest
    one (a LeNet in one row rather than two), drawn as little compacted as still reads;
    unreadable ones: a more compact one must buy clearly larger text."""
    from nnviz.render.physical import parse_length
    from nnviz.theme import scale_paper

    width_in = parse_length(width)
    found: list[tuple[float, float, int, Layout]] = []  # (pt, height in, variant, layout)
    for v, (factor, wrap) in enumerate(VARIANTS):
        for pt, tall, _, lay in _fit_flows(graph, engine, direction,
                                           scale_paper(theme, factor, wrap), style,
                                           proportions, rows, width_in):
            if factor != 1.0:
                lay.extras["box_scale"] = factor
            found.append((pt, tall, v, lay))
    # a column asked for (--direction TB) is as tall as the network is deep whatever its
    # box sizes: only the text size is left to win there
    column = direction in ("TB", "BT")
    fitting = [f for f in found if column or f[1] <= MAX_PRINT_HEIGHT_IN] or found
    readable = [f for f in fitting if f[0] >= COMFORT_PT]
    if readable:
        # the arrangement (flow, rows) of the shortest readable figure, drawn with the
        # largest boxes and widest lines that still read in it
        def arrangement(lay: Layout) -> tuple[str, int]:
            return lay.direction, len(lay.extras.get("rows", [])) or 1

        target = arrangement(min(readable, key=lambda f: (round(f[1], 2), f[2]))[3])
        return min((f for f in readable if arrangement(f[3]) == target),
                   key=lambda f: (f[2], round(f[1], 2)))[3]
    best = fitting[0]
    for f in fitting[1:]:
        # a more compact figure must buy clearly larger text, not a rounding difference
        if f[0] >= best[0] + (0.25 if f[2] > best[2] else 0.05):
            best = f
    return best[3]


# Box sizes tried at a printed width: the smallest keeps a ResNet's 224 x 224 input 60 px
# tall next to 9 px text.
BOX_SCALES = (1.0, 0.8, 0.65, 0.5)
# Label line widths (px) tried: the theme's own, then one that fits "Conv 3×3/2" and a
# "layer2.0/conv1" name on a line but puts "MaxPool" over "3×3/2".
LABEL_WRAPS = (None, 72.0)
# least compact first: each box size with the theme's labels, then with narrower ones
VARIANTS = tuple((s, w) for s in BOX_SCALES for w in LABEL_WRAPS)


def _fit_flows(graph: Graph, engine: str, direction: str | None, theme: Theme, style: str,
               proportions: str | None, rows: int | None,
               width_in: float) -> list[tuple[float, float, int, Layout]]:
    """(smallest pt, printed height in, order, layout) of each flow tried at ``theme``'s
    sizes, see ``_fit_paper``."""
    from nnviz.render.build import build_scene
    from nnviz.render.physical import smallest_font_pt

    found: list[tuple[float, float, int, Layout]] = []
    for flow in ("LR", "TB") if direction is None else (direction,):
        # rows=None lets the style choose (an encoder-decoder becomes a U, which has no
        # rows to try; anything else is one row, then 2, 3, ... are tried)
        counts: list[int | None] = [rows] if rows or flow in ("TB", "BT") else \
            [None, *range(2, MAX_ROWS + 1)]
        for n in counts:
            lay = _layout(graph, engine=engine, direction=flow, theme=theme, style=style,
                          proportions=proportions, rows=n)
            lay.extras["print_width_in"] = width_in  # what must stay visible in print
            got = len(lay.extras.get("rows", [])) or 1
            if "ushape" not in lay.extras and got < (n or 1):  # no more places to cut
                break
            pt = smallest_font_pt(build_scene(graph, lay, theme), width_in) or 0.0
            tall = lay.height * width_in / max(lay.width, 1.0)
            found.append((pt, tall, len(found), lay))
            if tall > MAX_PRINT_HEIGHT_IN or pt >= COMFORT_PT or "ushape" in lay.extras:
                break  # more rows only make it taller (and a U has none)
    return found


MAX_ROWS = 8  # rows a left-to-right paper figure may wrap into at a printed width


def _readable_depth(loaded: Graph, options: ViewOptions, drawing: Drawing, engine: str,
                    direction: str | None, theme: Theme, style: str,
                    proportions: str | None, rows: int | None, width: str) -> str:
    """When a paper figure at ``width`` prints below 6 pt: the shallowest ``--depth`` (1 to
    3) that draws fewer boxes and prints readable text, said as "--depth 1 (9 boxes, 8.1
    pt)"; '' when the figure is readable or no depth helps."""
    from dataclasses import replace

    from nnviz.render.build import build_scene
    from nnviz.render.physical import MIN_READABLE_PT, parse_length, smallest_font_pt

    width_in = parse_length(width)
    now = smallest_font_pt(build_scene(drawing.graph, drawing.layout, theme), width_in)
    if now is None or now >= MIN_READABLE_PT:
        return ""
    for depth in (1, 2, 3):
        view = prepare(loaded, replace(options, depth=depth))
        if len(view.nodes) >= len(drawing.graph.nodes):
            break  # deeper views only draw more
        try:
            lay = _fit_paper(view, engine, direction, theme, style, proportions, rows, width)
        except NnvizError:
            continue  # e.g. the neurons style refuses a collapsed dense head
        pt = smallest_font_pt(build_scene(view, lay, theme), width_in) or 0.0
        if pt >= MIN_READABLE_PT:
            return f"--depth {depth} ({len(lay.nodes)} boxes, {pt:.1f} pt)"
    return ""


def svg_string(graph: Graph) -> str:
    return draw(graph)._repr_svg_()


REPR_HOOKS["svg"] = svg_string  # Graph._repr_svg_ in Jupyter


def diff_models(old: Any, new: Any, fmt: str = "table", output: str | os.PathLike | None = None,
                load_options: dict | None = None) -> bool:
    """`nnviz diff`: compare two models; print the report (or write ``output``). True when they
    differ.

    ``output`` with a drawing extension (.svg .png .pdf .html ...) draws the new model with
    added/changed layers highlighted and still prints the report; .json/.md/.txt/.csv write
    the report there instead. It lives in the API, above the reports, because it also draws.
    """
    from nnviz.passes import annotate
    from nnviz.reports.diff import (
        REPORT_EXTENSIONS,
        compare,
        mark_new_graph,
        render_report,
        render_table,
    )
    from nnviz.reports.writer import emit

    opts = dict(load_options or {})
    a = annotate(load(old, **opts))
    b = annotate(load(new, **opts))
    result = compare(a, b)
    report_to_file = output is not None and Path(output).suffix.lower() in REPORT_EXTENSIONS
    if report_to_file:
        ext_fmt = REPORT_EXTENSIONS[Path(output).suffix.lower()]  # type: ignore[arg-type]
        emit(render_report(result, ext_fmt if fmt == "table" else fmt), output)
    else:
        if output is not None:
            # Every op visible: a highlighted layer must not vanish inside a collapsed box.
            draw(mark_new_graph(b, result), output,
                 view=ViewOptions(depth=None, fold=False))
        if fmt == "table":
            render_table(result, file=sys.stdout)
        else:
            emit(render_report(result, fmt))
    return result.changed


def diff_weights(old: str, new: str, output: str | None = None, fmt: str = "table",
                 model: str | None = None, load_options: dict | None = None,
                 draw_options: dict | None = None) -> bool:
    """Print the report; with ``output`` also draw (or write the report to) it. True when
    any layer changed. In the API, above the values stage, because it also draws."""
    from nnviz.fileio import atomic_write
    from nnviz.passes import ViewOptions
    from nnviz.render import format_for
    from nnviz.values.wdiff import report, weights_graph

    graph, rows, frozen, top = weights_graph(old, new, model, load_options)
    text = report(rows, frozen, top, "json" if fmt == "json" else "markdown")
    if output is not None and os.path.splitext(output)[1].lower() in (".json", ".md"):
        ext = os.path.splitext(output)[1].lower()
        atomic_write(output, report(rows, frozen, top, "json" if ext == ".json"
                                    else "markdown"))
    elif output is not None:
        format_for(output)
        draw(graph, output, view=ViewOptions(fold=False),
             overlay={"overlay": "weights", "metric": "change"}, **(draw_options or {}))
        sys.stdout.write(text)
    else:
        sys.stdout.write(text)
    if len(rows) and all(r["change"] == 0 for r in rows):
        return False
    if not len(rows):
        raise NnvizError("no layer weights to compare")
    return True
