"""`nnviz summary`: a table of layers/groups with type, output shape, params and FLOPs.

Rows follow the same view as the drawing (depth, expand, collapse, fold); the totals always
come from the full annotated graph, so they equal the frameworks' own counts whatever the view.
Formats: a rich table in a terminal (plain text when written to a file), csv, json, markdown.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from typing import Any

from nnviz.ir import Graph, format_shape
from nnviz.passes import ViewOptions, annotate, view_transforms
from nnviz.reports.writer import (
    Column,
    csv_text,
    emit,
    json_text,
    markdown_table,
    md_escape,
    rich_table,
)

# A summary table may be longer than a drawing, but a 50k-op model still needs collapsing.
SUMMARY_MAX_ROWS = 200


@dataclass
class Row:
    path: str  # group path / node name: unique and stable
    name: str  # what the table shows (indented by level in the terminal)
    type: str
    kind: str
    level: int
    output_shape: str
    params: int
    trainable_params: int
    flops: int | None
    macs: int | None
    repeat: int = 1
    is_group_header: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "type": self.type, "kind": self.kind,
                "level": self.level, "output_shape": self.output_shape, "params": self.params,
                "trainable_params": self.trainable_params, "flops": self.flops,
                "macs": self.macs, "repeat": self.repeat, "group": self.is_group_header}


def human(n: int | None, unknown: str = "?") -> str:
    """12345678 -> '12.3M'; exact below 10,000 so small layers read exactly."""
    if n is None:
        return unknown
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale and abs(n) >= 10_000:
            return f"{n / scale:.2f}{unit}"
    return f"{n:,}"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def summary_rows(graph: Graph, view: ViewOptions | None = None,
                 annotated: Graph | None = None) -> list[Row]:
    """Rows in topological order; a group header precedes the first row inside that group."""
    view = view or ViewOptions()
    annotated = annotated if annotated is not None else annotate(graph, view.dims)
    # Same view as the drawing, but a table can hold more rows than a figure, and a folded
    # block stays open under its "×N" header row.
    g = view_transforms(annotated, view, max_boxes=SUMMARY_MAX_ROWS, collapse_folded=False)
    rows: list[Row] = []
    opened: set[tuple[str, ...]] = set()
    size: dict[tuple[str, ...], int] = {}
    for node in g.nodes.values():
        for i in range(1, len(node.group) + 1):
            size[node.group[:i]] = size.get(node.group[:i], 0) + 1
    for nid in g.topological_order():
        node = g.nodes[nid]
        if node.op == "Output" and node.kind == "io":
            continue
        # A group holding one layer (ONNX scope "fc1" around its Gemm) is one row, not two.
        single = bool(node.group) and size.get(node.group) == 1 and node.kind != "group" \
            and not (g.groups.get(node.group) and g.groups[node.group].attrs.get("repeat"))
        for i in range(1, len(node.group) + 1):
            path = node.group[:i]
            if path in opened or (single and i == len(node.group)):
                continue
            opened.add(path)
            grp = g.groups.get(path)
            attrs = grp.attrs if grp is not None else {}
            repeat = int(attrs.get("repeat") or 1)
            rows.append(Row(
                path="/".join(path), name=attrs.get("fold_label") or path[-1],
                type=(grp.op if grp is not None and grp.op else ""), kind="group", level=i - 1,
                output_shape="",
                params=int(attrs.get("params_total", attrs.get("params", 0)) or 0),
                trainable_params=int(attrs.get("trainable_params", 0) or 0) * repeat,
                flops=attrs.get("flops_total", attrs.get("flops")) if
                not attrs.get("flops_unknown") else None,
                macs=(attrs.get("macs") * repeat if isinstance(attrs.get("macs"), int)
                      and not attrs.get("flops_unknown") else None),
                repeat=repeat, is_group_header=True))
        row = _node_row(g, node)
        if single:
            row.name = g.groups[node.group].label if node.group in g.groups else node.group[-1]
            row.level -= 1
        rows.append(row)
    return rows


def _node_row(g: Graph, node) -> Row:
    shapes = []
    tids = node.outputs if node.outputs else node.inputs
    for t in tids[:2]:
        tensor = g.tensors.get(t)
        shapes.append(format_shape(tensor.shape if tensor is not None else None))
    repeat = int(node.meta.get("repeat") or 1)
    params = node.meta.get("params_total") if repeat > 1 else None
    if params is None:
        params = node.meta.get("params", node.param_count) * repeat
    flops = node.meta.get("flops_total") if repeat > 1 else None
    if flops is None:
        f = node.meta.get("flops")
        flops = None if f is None else f * repeat
    if node.meta.get("flops_unknown"):
        flops = None
    macs = node.meta.get("macs")
    macs = None if macs is None or flops is None else macs * repeat
    is_box = node.kind == "group"
    name = node.name.rsplit("/", 1)[-1] if is_box else _short_name(node)
    return Row(path=node.name or node.id, name=name,
               type=node.op if not is_box else (node.meta.get("group_op") or "group"),
               kind=node.kind,
               level=len(node.group), output_shape=" ".join(shapes),
               params=int(params or 0),
               trainable_params=int(node.meta.get("trainable_params", node.param_count)) * repeat,
               flops=flops, macs=macs, repeat=repeat)


def _short_name(node) -> str:
    """The node's name without its group path prefix (the indentation already says it)."""
    name = node.name or node.id
    for sep in ("/", "."):
        prefix = sep.join(node.group)
        for cand in (prefix + sep, sep + prefix + sep):
            if node.group and name.startswith(cand) and len(name) > len(cand):
                return name[len(cand):]
    return name


def totals(annotated: Graph) -> dict[str, Any]:
    m = annotated.meta
    return {"params": m.get("params", annotated.total_params),
            "trainable_params": m.get("trainable_params"),
            "non_trainable_params": m.get("non_trainable_params"),
            "param_bytes": m.get("param_bytes"),
            "buffers": m.get("buffers") or 0,
            "flops": None if m.get("flops_unknown") else m.get("flops"),
            "flops_known": m.get("flops"), "macs": m.get("macs"),
            "flops_unknown_ops": m.get("flops_unknown", 0),
            "nodes": sum(1 for n in annotated.nodes.values() if n.kind != "io"),
            "symbolic_dims": _symbolic_dims(annotated)}


def _symbolic_dims(g: Graph) -> list[str]:
    """Names of unresolved symbolic dims on the graph inputs ("batch" for anonymous axis 0)."""
    names: list[str] = []
    given = g.meta.get("dims") or {}
    for tid in g.inputs:
        t = g.tensors.get(tid)
        if t is None or t.shape is None:
            continue
        for i, d in enumerate(t.shape):
            name = d if isinstance(d, str) else ("batch" if d is None and i == 0 else None)
            if name and name not in given and name not in names:
                names.append(name)
    return names


def _shape_cell(row: Row) -> str:
    return row.output_shape


def _type_cell(row: Row) -> str:
    t = row.type
    if row.repeat > 1:
        t = f"{t} \u00d7{row.repeat}".strip()
    return t


COLUMNS = (Column("Layer"), Column("Type"), Column("Output shape"),
           Column("Params", "right", fold=False), Column("FLOPs", "right", fold=False))


def render_markdown(name: str, rows: list[Row], tot: dict[str, Any]) -> str:
    cells = [["&nbsp;&nbsp;" * r.level + (f"**{r.name}**" if r.is_group_header else r.name),
              _type_cell(r), _shape_cell(r), f"{r.params:,}",
              human(r.flops, "?") if r.flops is not None else "?"] for r in rows]
    cells.append(["**Total**", "", "", f"**{tot['params']:,}**", f"**{_flops_total(tot)}**"])
    out = [f"**{md_escape(name)}**", "", *markdown_table(COLUMNS, cells), ""]
    out.extend(_footer_lines(tot))
    return "\n".join(out) + "\n"


def _flops_total(tot: dict[str, Any], hint: bool = False) -> str:
    if tot["flops"] is not None:
        return human(tot["flops"])
    if not hint:
        return f"\u2265{human(tot['flops_known'])} ({tot['flops_unknown_ops']} unknown)"
    advice = ""
    if tot.get("symbolic_dims"):
        advice = "; set " + " ".join(f"--dim {d}=N" for d in tot["symbolic_dims"])
    return f"\u2265{human(tot['flops_known'])} ({tot['flops_unknown_ops']} ops unknown{advice})"


def _footer_lines(tot: dict[str, Any]) -> list[str]:
    lines = [
        f"Total params: {tot['params']:,}  ",
        f"Trainable params: {tot['trainable_params']:,}  ",
        f"Non-trainable params: {tot['non_trainable_params']:,}  ",
        f"Parameter size: {human_bytes(tot['param_bytes'])}  ",
        f"FLOPs: {_flops_total(tot, hint=True)}  (MACs: {human(tot['macs'])})",
    ]
    if tot.get("buffers"):  # PyTorch buffers (BN running stats, masks): state, not params
        lines.insert(4, f"Buffers (not params): {tot['buffers']:,}  ")
    return lines


def render_csv(rows: list[Row], tot: dict[str, Any]) -> str:
    lines: list[list[Any]] = [
        [r.path, r.name, r.type, r.kind, r.level, r.output_shape, r.params, r.trainable_params,
         "" if r.flops is None else r.flops, "" if r.macs is None else r.macs, r.repeat]
        for r in rows]
    lines.append(["TOTAL", "", "", "", "", "", tot["params"], tot["trainable_params"],
                  "" if tot["flops"] is None else tot["flops"],
                  "" if tot["flops"] is None else tot["macs"], ""])
    return csv_text(["path", "name", "type", "kind", "level", "output_shape", "params",
                     "trainable_params", "flops", "macs", "repeat"], lines)


def render_json(name: str, rows: list[Row], tot: dict[str, Any], dims: dict) -> str:
    doc = {"model": name, "dims": dict(sorted(dims.items())), "rows": [r.to_dict() for r in rows],
           "totals": tot}
    return json_text(doc)


def render_table(name: str, rows: list[Row], tot: dict[str, Any], file: Any = None,
                 width: int | None = None) -> str:
    """A rich table printed to ``file`` (or only recorded); returns it as plain text."""
    from rich.console import Console

    table = rich_table(COLUMNS, title=name)
    for r in rows:
        style = "bold" if r.is_group_header else None
        table.add_row("  " * r.level + r.name, _type_cell(r), _shape_cell(r),
                      f"{r.params:,}", human(r.flops), style=style)
    table.add_section()
    table.add_row("Total", "", "", f"{tot['params']:,}", _flops_total(tot), style="bold")
    footer = "\n".join(line.rstrip() for line in _footer_lines(tot))
    if file is not None:
        # Piped output gets a wide table rather than rich's 80-column default.
        tty = hasattr(file, "isatty") and file.isatty()
        console = Console(file=file, width=width or (None if tty else 160), highlight=False,
                          record=True)
    else:
        console = Console(record=True, width=width or 120, file=io.StringIO(),
                          highlight=False, color_system=None)
    console.print(table)
    console.print(footer, highlight=False, markup=False)
    return console.export_text()


def summarize(graph: Graph, view: ViewOptions | None = None, fmt: str = "table",
              output: str | os.PathLike | None = None) -> str:
    """Print (or write to ``output``) the summary table; returns the text written."""
    view = view or ViewOptions()
    annotated = annotate(graph, view.dims)
    rows = summary_rows(graph, view, annotated)
    tot = totals(annotated)
    name = graph.name or "model"
    if fmt == "markdown":
        text = render_markdown(name, rows, tot)
    elif fmt == "csv":
        text = render_csv(rows, tot)
    elif fmt == "json":
        text = render_json(name, rows, tot, view.dims)
    elif fmt == "table":
        if output is None:
            return render_table(name, rows, tot, file=sys.stdout) or ""
        text = render_table(name, rows, tot) or ""
    else:
        raise ValueError(f"unknown summary format {fmt!r}")
    emit(text, output)
    return text
