"""JSON: the laid-out graph for other tools (nodes with boxes and attributes, edges, groups).

One self-describing document: the positioned geometry from the Layout joined with what each
node is (op, kind, name, attrs, params, tensor shapes, analysis meta). Keys keep a fixed order
and non-finite floats become strings, so the output is valid, deterministic JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nnviz.ir import Graph
from nnviz.layout.model import Layout
from nnviz.theme import Theme

SCHEMA = "nnviz.layout/1"


def _clean(value: Any) -> Any:
    """JSON-safe copy: tuples -> lists, NaN/inf -> strings, unknown objects -> str."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    return str(value)


def _num(v: float) -> float | int:
    r = round(float(v), 2)
    return int(r) if r.is_integer() else r


def _tensor(graph: Graph, tid: str) -> dict:
    t = graph.tensors.get(tid)
    return {"id": tid, "shape": None if t is None or t.shape is None else list(t.shape),
            "dtype": None if t is None else t.dtype}


def layout_document(graph: Graph, layout: Layout, theme: Theme | None = None) -> dict:
    nodes = []
    for box in layout.nodes.values():
        entry: dict[str, Any] = {
            "id": box.id,
            "box": {"x": _num(box.x), "y": _num(box.y), "w": _num(box.w), "h": _num(box.h)},
            "shape": box.shape,
            "label": [{"text": ln.text, "style": ln.style} for ln in box.lines],
        }
        node = graph.nodes.get(box.id)
        if theme is not None:  # the colours the picture uses, so a tool can redraw it
            style = theme.kind_style(node.kind if node is not None else "group")
            entry["paint"] = {"fill": style.get("fill"),
                              "stroke": style.get("stroke", theme["node"]["stroke"])}
        if node is not None:
            entry.update({
                "op": node.op, "kind": node.kind, "name": node.name,
                "group": list(node.group), "attrs": node.attrs,
                "inputs": [_tensor(graph, t) for t in node.inputs],
                "outputs": [_tensor(graph, t) for t in node.outputs],
                "params": [p.to_dict() for p in node.params],
                # A collapsed box counts its whole group (every folded block), like its label.
                "param_count": (node.meta["params"] if node.kind == "group"
                                and isinstance(node.meta.get("params"), int)
                                else node.param_count),
                "meta": node.meta,
            })
        nodes.append(entry)
    edges = [{"src": e.src, "dst": e.dst, "tensor": e.tensor,
              "shape": _tensor(graph, e.tensor)["shape"],
              "points": [[_num(x), _num(y)] for x, y in e.points],
              "spline": e.spline, "label": e.label} for e in layout.edges]
    groups = []
    for fr in layout.groups:
        grp = graph.groups.get(tuple(fr.path))
        groups.append({"path": list(fr.path), "label": fr.label, "op": grp.op if grp else "",
                       "box": {"x": _num(fr.x), "y": _num(fr.y), "w": _num(fr.w),
                               "h": _num(fr.h)}})
    doc = {
        "schema": SCHEMA,
        "graph": {"name": graph.name, "meta": graph.meta, "inputs": graph.inputs,
                  "outputs": graph.outputs, "total_params": graph.total_params},
        "layout": {"width": _num(layout.width), "height": _num(layout.height),
                   "units": "px", "direction": layout.direction, "engine": layout.engine,
                   "style": layout.style, "extras": layout.extras},
        "theme": None if theme is None else theme.get("name"),
        "nodes": nodes,
        "edges": edges,
        "groups": groups,
    }
    return _clean(doc)


def render(graph: Graph, layout: Layout, theme: Theme, indent: int | None = 1,
           **options) -> str:
    return json.dumps(layout_document(graph, layout, theme), indent=indent,
                      ensure_ascii=False, allow_nan=False) + "\n"
