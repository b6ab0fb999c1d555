"""Captured values -> what each drawn box shows: a tint, a value line, a badge.

Runs after the view passes (collapse, fold), on the graph that is drawn, and writes plain
data the renderers read without knowing any framework:

* ``node.meta["overlay"]`` = {value, text, fill, color, flags, badge}
* ``graph.meta["overlay"]`` = {kind, metric, title, lo, hi, log, colormap, stops, note,
  flagged: [{id, label, flags}]} for the legend and the list of flagged layers.

A collapsed group shows the value of its output tensor (activations, gradients) or of all
its weights together (weights, ratio), and carries every flag of the layers inside it.
Colours are on a perceptual, colour-blind-safe scale (viridis or cividis); the scale is
logarithmic when the positive values span more than two decades.
"""

from __future__ import annotations

import math
from typing import Any

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node
from nnviz.values.flags import badge, node_grad
from nnviz.values.stats import merge

OVERLAYS = ("activations", "gradients", "weights")
METRICS = ("std", "absmax", "zeros", "norm", "ratio", "mean", "absmean", "change")
DEFAULT_METRIC = {"activations": "std", "gradients": "norm", "weights": "norm"}

# Samples of matplotlib's viridis and cividis (perceptually uniform, colour-blind safe).
COLORMAPS = {
    "viridis": ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962",
                "#addc30", "#fde725"),
    "cividis": ("#00224e", "#123570", "#3b496c", "#575d6d", "#707173", "#8a8779", "#a69d75",
                "#c4b56c", "#e4cf5b", "#fee838"),
}
NO_VALUE_FILL = "#e5e7eb"
FLAG_STROKE = "#d1005f"  # a strong magenta-red outline; the badge text says what it is


def _rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def color_at(t: float, colormap: str = "viridis") -> str:
    stops = COLORMAPS[colormap]
    t = min(1.0, max(0.0, t))
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    f = pos - i
    a, b = _rgb(stops[i]), _rgb(stops[i + 1])
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))


def text_color(fill: str) -> str:
    r, g, b = _rgb(fill)
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#111111" if lum > 140 else "#ffffff"


def fmt_value(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v == 0:
        return "0"
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if a >= 1e4 or a < 1e-2:
        return f"{v:.2e}"
    return f"{v:.3g}"


def _act_record(node: Node, tensors: dict[str, Any], key: str) -> dict | None:
    for t in node.outputs:
        rec = tensors.get(t, {}).get(key)
        if rec:
            return rec
    if node.kind == "io":  # an Output box: the tensor it receives
        for t in node.inputs:
            rec = tensors.get(t, {}).get(key)
            if rec:
                return rec
    return None


def node_value(node: Node, values: dict[str, Any], overlay: str, metric: str
               ) -> tuple[float | None, dict | None]:
    """(the number the box shows, the statistics record it came from)."""
    tensors = values.get("tensors", {})
    params = values.get("params", {})
    if metric == "ratio":
        _, ratio = node_grad(node, params)
        return ratio, None
    if metric == "change":  # `nnviz diff --weights`: ||W_new - W_old|| / ||W_old||
        from nnviz.values.wdiff import layer_change

        return layer_change(node, params), None
    if overlay == "weights":
        rec = merge([params.get(p.name, {}).get("weight") for p in node.params])
    else:
        rec = _act_record(node, tensors, "act" if overlay == "activations" else "grad")
    if rec is None:
        return None, None
    v = rec.get(metric)
    return (float(v) if v is not None else None), rec


def member_flags(node: Node, flags: dict[str, Any], root: str | None = None) -> list[str]:
    """The node's flags; for a collapsed group, also those of every layer inside it. Flags
    keep the groups of the captured graph; at depth 0 the view passes wrap every layer in a
    group named after the model (``root``), so a box path may carry that extra first step."""
    own = list(flags.get(node.id, {}).get("flags", []))
    path = list(node.meta.get("group") or ())
    if node.kind == "group" and path:
        k = len(path)
        for entry in flags.values():
            inside = entry["group"][:k] == path
            if not inside and root is not None and path[0] == root:
                inside = ([root] + list(entry["group"]))[:k] == path
            if inside:
                own.extend(f for f in entry["flags"] if f not in own)
    return own


def apply_overlay(graph: Graph, overlay: str, metric: str | None = None,
                  colormap: str = "viridis") -> Graph:
    """Write node.meta["overlay"] and graph.meta["overlay"] (in place; returns graph)."""
    if overlay not in OVERLAYS:
        raise NnvizError(f"unknown overlay '{overlay}'; use one of {', '.join(OVERLAYS)}")
    metric = metric or DEFAULT_METRIC[overlay]
    if metric not in METRICS:
        raise NnvizError(f"unknown metric '{metric}'; use one of {', '.join(METRICS)}")
    if metric == "change" and overlay != "weights":
        raise NnvizError("--metric change (between two checkpoints) goes with --overlay weights")
    if metric == "ratio" and overlay == "activations":
        raise NnvizError("--metric ratio (gradient / weight norm) goes with --overlay "
                         "gradients or weights")
    if colormap not in COLORMAPS:
        raise NnvizError(f"unknown colormap '{colormap}'; use viridis or cividis")
    values = graph.meta.get("values")
    if not values:
        raise NnvizError("no captured values to draw; capture them first (nnviz.values)")
    if overlay == "gradients" and not values.get("gradients"):
        raise NnvizError(f"no gradients were captured ({values.get('loss', 'none')}); use "
                         "--overlay activations or weights")
    flags = values.get("flags", {})
    found: dict[str, float | None] = {}
    for node in graph.nodes.values():
        v, _ = node_value(node, values, overlay, metric)
        found[node.id] = v if v is not None and math.isfinite(v) else None
    nums = [v for v in found.values() if v is not None]
    positive = [v for v in nums if v > 0]
    lo = min(nums) if nums else 0.0
    hi = max(nums) if nums else 1.0
    # Log scale when the positive values span more than two decades; zeros (a dead layer's
    # gradient, a frozen layer's change) then take the bottom colour.
    use_log = bool(positive) and metric != "zeros" and min(nums) >= 0 and \
        max(positive) / min(positive) > 100
    if use_log:
        lo = min(positive)
        llo, lhi = math.log10(lo), math.log10(hi)
    flagged = []
    for node in graph.nodes.values():
        v = found[node.id]
        if v is None or (use_log and v <= 0):
            fill = NO_VALUE_FILL if v is None else color_at(0.0, colormap)
        else:
            if use_log:
                t = (math.log10(v) - llo) / (lhi - llo) if lhi > llo else 0.5
            else:
                t = (v - lo) / (hi - lo) if hi > lo else 0.5
            fill = color_at(t, colormap)
        f = member_flags(node, flags, graph.name)
        raw, rec = node_value(node, values, overlay, metric)
        text = f"{metric} {fmt_value(raw)}" if raw is not None else ""
        if raw is None and rec is not None and (rec["nan"] or rec["inf"]):
            text = f"{metric} {'NaN' if rec['nan'] else 'Inf'}"  # no finite value at all
        node.meta["overlay"] = {"value": raw, "text": text, "fill": fill,
                                "color": text_color(fill), "flags": f, "badge": badge(f)}
        if f:
            flagged.append({"id": node.id, "label": node.name or node.op, "flags": f})
    what = {"activations": "activation", "gradients": "gradient of the output",
            "weights": "weights"}[overlay]
    title = {"ratio": f"{overlay}: |grad| / |weight|",
             "change": "relative weight change |W_new - W_old| / |W_old|"}.get(
        metric, f"{overlay}: {metric}")
    graph.meta["overlay"] = {
        "kind": overlay, "metric": metric, "title": title, "what": what,
        "lo": lo, "hi": hi, "log": use_log, "colormap": colormap,
        "stops": list(COLORMAPS[colormap]), "no_value": NO_VALUE_FILL,
        "flag_stroke": FLAG_STROKE,
        "note": "; ".join(x for x in (values.get("sample"), values.get("loss")) if x),
        "flagged": flagged,
    }
    return graph
