"""`nnviz grads`: the gradient flow chart, per layer in forward order, from the real model.

The chart people hand-write with matplotlib ("plot_grad_flow"): for every layer with
trainable weights, in topological (forward) order, the mean and the max |grad| of its
weights on a log scale, with the layers flagged vanishing or exploding (nnviz.values.flags)
marked. Rows are layers (top = input side), so hundreds of layers stay readable. Drawn as a
Scene, so SVG, PNG and PDF are the same picture; table, JSON, CSV and Markdown list the same
rows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from typing import Any

from nnviz.errors import NnvizError
from nnviz.escape import md_escape
from nnviz.ir import Graph
from nnviz.values.flags import node_grad
from nnviz.values.stats import merge

MEAN_COLOR = "#3b528b"  # viridis, dark: mean |grad|
MAX_COLOR = "#9fd8c4"  # a light teal: max |grad| (lightness tells them apart, not hue)
FLAG_COLOR = "#d1005f"


def grad_rows(graph: Graph) -> list[dict[str, Any]]:
    """One row per layer with weight gradients, in forward order."""
    values = graph.meta.get("values") or {}
    if not values.get("gradients"):
        raise NnvizError(f"no gradients were captured ({values.get('loss', 'none')})")
    params = values.get("params", {})
    flags = values.get("flags", {})
    rows = []
    for nid in graph.topological_order():
        node = graph.nodes[nid]
        recs = [params.get(p.name, {}).get("grad") for p in node.params]
        recs = [r for r in recs if r]
        if not recs:
            continue
        g = merge(recs)
        norm, ratio = node_grad(node, params)
        f = [x for x in flags.get(nid, {}).get("flags", [])
             if x in ("vanishing", "exploding", "grad-nan")]
        rows.append({"layer": nid, "op": node.op,
                     "params": [p.name for p in node.params if p.name in params],
                     "mean_abs": g.get("absmean"), "max_abs": g.get("absmax"), "norm": norm,
                     "ratio": ratio, "nan": g["nan"], "inf": g["inf"], "flags": f})
    if not rows:
        raise NnvizError("no layer has weight gradients (no trainable weights reached the "
                         "loss)")
    return rows


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.3e}"


def rows_text(rows: list[dict[str, Any]], fmt: str, note: str = "") -> str:
    if fmt == "json":
        return json.dumps({"note": note, "layers": rows}, indent=1, allow_nan=False,
                          default=str) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["layer", "op", "mean_abs_grad", "max_abs_grad", "grad_norm",
                    "grad_weight_ratio", "flags"])
        for r in rows:
            w.writerow([r["layer"], r["op"], *("" if r[k] is None else repr(r[k]) for k in
                                                ("mean_abs", "max_abs", "norm", "ratio")),
                        " ".join(r["flags"])])
        return buf.getvalue()
    out = ["| # | Layer | Op | mean abs(grad) | max abs(grad) | norm | grad/weight | flags |",
           "|--:|:--|:--|--:|--:|--:|--:|:--|"]
    for i, r in enumerate(rows):
        out.append(f"| {i} | {md_escape(r['layer'])} | {r['op']} "
                   f"| {_fmt(r['mean_abs'])} | {_fmt(r['max_abs'])} | {_fmt(r['norm'])} "
                   f"| {_fmt(r['ratio'])} | {' '.join(r['flags'])} |")
    if note:
        out += ["", note]
    return "\n".join(out) + "\n"


def grad_flow_scene(rows: list[dict[str, Any]], title: str, note: str) -> Any:
    from nnviz.render.scene import Path, Rect, Scene, Text
    from nnviz.text import ascent, text_width, truncate

    size, small = 11.0, 10.0
    row_h, bar_h = 18.0, 12.0
    label_w = min(280.0, max(text_width(f"{r['layer']} ({r['op']})", size) for r in rows))
    plot_x = 16 + label_w + 12
    plot_w = 440.0
    positive = [v for r in rows for v in (r["mean_abs"], r["max_abs"]) if v and v > 0 and
                math.isfinite(v)]
    lo = math.floor(math.log10(min(positive))) if positive else -8
    hi = math.ceil(math.log10(max(positive))) if positive else 0
    if hi <= lo:
        hi = lo + 1

    def x_of(v: float) -> float:
        return plot_x + plot_w * (math.log10(v) - lo) / (hi - lo)

    top = 16 + 2 * (size + 6) + 20
    height = top + row_h * len(rows) + 24 + 3 * (small + 6) + 16
    flag_w = 90.0
    width = plot_x + plot_w + 12 + flag_w + 16
    scene = Scene(width, height, "#ffffff", title)
    items: list[Any] = [Text(16, 16 + ascent(size + 2), title, size + 2, "#111111", bold=True,
                             anchor="start")]
    # legend
    ly = 16 + size + 12
    items += [Rect(16, ly, 14, 10, MAX_COLOR, None, 0),
              Text(34, ly + 9, "max |grad|", small, "#333333", anchor="start"),
              Rect(110, ly, 14, 10, MEAN_COLOR, None, 0),
              Text(128, ly + 9, "mean |grad|", small, "#333333", anchor="start"),
              Text(214, ly + 9, "log scale; rows in forward order (input at the top)", small,
                   "#555555", anchor="start")]
    bottom = top + row_h * len(rows)
    step = 1 if hi - lo <= 12 else math.ceil((hi - lo) / 12)
    for e in range(lo, hi + 1, step):
        x = x_of(10.0 ** e)
        items.append(Path([(x, top - 4), (x, bottom)], None, "#dddddd", 0.8))
        items.append(Text(x, top - 7, f"1e{e}", small, "#555555"))
        items.append(Text(x, bottom + 4 + ascent(small), f"1e{e}", small, "#555555"))
    for i, r in enumerate(rows):
        y = top + i * row_h
        flagged = bool(r["flags"])
        if i % 2:
            items.append(Rect(16, y, width - 32, row_h, "#f6f6f6", None, 0))
        label = truncate(f"{r['layer']} ({r['op']})", size, label_w, False)
        items.append(Text(plot_x - 8, y + (row_h + ascent(size)) / 2 - 1, label, size,
                          FLAG_COLOR if flagged else "#111111", bold=flagged, anchor="end"))
        by = y + (row_h - bar_h) / 2
        for key, color, h_frac in (("max_abs", MAX_COLOR, 1.0), ("mean_abs", MEAN_COLOR, 0.6)):
            v = r[key]
            if v is None or not math.isfinite(v) or v <= 0:
                continue
            x1 = x_of(v)
            hh = bar_h * h_frac
            items.append(Rect(plot_x, by + (bar_h - hh) / 2, max(0.5, x1 - plot_x), hh, color,
                              None, 0))
        if r["max_abs"] == 0:
            items.append(Text(plot_x + 4, y + (row_h + ascent(small)) / 2 - 1, "0 (no gradient)",
                              small, "#555555", anchor="start"))
        if flagged:
            items.append(Text(plot_x + plot_w + 12, y + (row_h + ascent(small)) / 2 - 1,
                              ", ".join(r["flags"]), small, FLAG_COLOR, bold=True,
                              anchor="start"))
    items.append(Rect(plot_x, top, plot_w, bottom - top, None, "#888888", 0.8))
    ny = bottom + 24
    for text in [t for t in note.split("; ") if t][:3]:
        ny += small + 6
        items.append(Text(16, ny, text, small, "#555555", anchor="start"))
        scene.width = max(scene.width, 32 + text_width(text, small))
    scene.add("gradflow", items)
    return scene


def write_grad_flow(graph: Graph, output: str | os.PathLike | None, fmt: str | None) -> None:
    """The chart (svg/png/pdf by extension) or the rows (table/json/csv/markdown)."""
    import sys

    from nnviz.fileio import atomic_write

    rows = grad_rows(graph)
    values = graph.meta.get("values", {})
    note = "; ".join(x for x in (values.get("sample"), values.get("loss")) if x)
    ext = os.path.splitext(str(output or ""))[1].lower().lstrip(".")
    kind = fmt or {"svg": "svg", "png": "png", "pdf": "pdf", "json": "json", "csv": "csv",
                   "md": "markdown"}.get(ext, "table" if output is None else "")
    if not kind:
        raise NnvizError(f"{output}: cannot tell the format from the extension; use .svg, "
                         ".png, .pdf, .json, .csv, .md or --format")
    if kind in ("svg", "png", "pdf"):
        if output is None:
            raise NnvizError(f"--format {kind} needs -o FILE")
        scene = grad_flow_scene(rows, f"Gradient flow: {graph.name}", note)
        from nnviz.render.svg import scene_to_svg

        if kind == "svg":
            data: bytes | str = scene_to_svg(scene)
        elif kind == "png":
            from nnviz.render.png import svg_to_png

            data = svg_to_png(scene_to_svg(scene), 2.0, size=(scene.width, scene.height))
        else:
            from nnviz.render.pdf import scene_to_pdf

            data = scene_to_pdf(scene)
        atomic_write(output, data)  # type: ignore[arg-type]
        return
    text = rows_text(rows, "markdown" if kind == "table" else kind, note)
    if output is None:
        sys.stdout.write(text)
    else:
        atomic_write(output, text)
