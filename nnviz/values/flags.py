"""Flags on captured values, each with a written rule (README "Values on the architecture").

Computed on the full graph (before collapsing and folding), per node id:

* ``nan-origin`` / ``inf-origin``: the first node in topological order whose output holds a
  NaN (an Inf). Its consumers inherit the NaN and are not flagged: the origin is the bug.
* ``dead``: a ReLU-family op (ReLU, ReLU6, Threshold, or a layer with ``activation="relu"``)
  whose output is exactly zero for at least ``DEAD_ZEROS`` of its elements.
* ``saturated``: a sigmoid/tanh output with at least ``SATURATED`` of its elements within 0.01
  of a bound, or a softmax with that fraction of rows above 0.99 (stats.SATURATION).
* ``vanishing``: among the layers with trainable weights, a layer whose weight-gradient norm
  is below the median of those layers / ``GRAD_FACTOR`` (three decades).
* ``exploding``: a layer whose gradient-to-weight norm ratio exceeds ``EXPLODING_RATIO`` (one
  plain SGD step at lr 0.1 would change its weights by more than their own size), or whose
  gradient norm is above median x ``GRAD_FACTOR`` while its ratio exceeds 1. (A bare
  "above the median" rule would call the last layers of every vanishing network exploding.)
* ``grad-nan``: when the forward pass is clean, the first node in reverse topological order
  (where backward starts) with a NaN or Inf in its output's or weights' gradient.
* weight flags of ``nnviz stats`` (nan, inf, all-zero, exploding), as ``weight-<flag>``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from nnviz.ir import Graph, Node
from nnviz.passes.util import opname

DEAD_ZEROS = 0.99
SATURATED = 0.5
GRAD_FACTOR = 1000.0
EXPLODING_RATIO = 10.0

_RELU_FAMILY = {"relu", "relu6", "threshold", "relu_"}

# Short words for the badge drawn in a flagged box, in order of importance.
BADGES = {"nan-origin": "NaN origin", "inf-origin": "Inf origin", "weight-nan": "NaN weight",
          "weight-inf": "Inf weight", "grad-nan": "NaN grad", "dead": "dead",
          "exploding": "exploding", "vanishing": "vanishing", "saturated": "saturated",
          "weight-all-zero": "zero weight", "weight-exploding": "huge weight",
          "most-changed": "most changed", "frozen": "frozen"}


def badge(flags: list[str]) -> str:
    """The most important flag's word, plus "+N" when there are more."""
    known = [f for f in BADGES if f in flags]
    if not known:
        return ""
    return BADGES[known[0]] + (f" +{len(known) - 1}" if len(known) > 1 else "")


def _first_output(node: Node, tensors: dict[str, Any], key: str = "act") -> dict | None:
    for t in node.outputs:
        rec = tensors.get(t, {}).get(key)
        if rec:
            return rec
    return None


def _is_relu(node: Node) -> bool:
    act = node.canon.get("activation")
    if isinstance(act, str) and act.lower() in ("relu", "relu6"):
        return True
    return opname(node.op).strip("_") in _RELU_FAMILY


def _weight_flags(rec: dict, shape: Any) -> list[str]:
    """The weight flags of `nnviz stats`, from a statistics record (the same rules)."""
    from nnviz.values.stats import weight_flags

    return weight_flags(tuple(shape or ()), rec["count"], rec.get("min"), rec.get("max"),
                        rec.get("std"), rec.get("zeros"), rec["nan"], rec["inf"])


def node_grad(node: Node, params: dict[str, Any]) -> tuple[float | None, float | None]:
    """(weight-gradient norm, gradient/weight norm ratio) of a node's trainable weights."""
    gsq = wsq = 0.0
    seen = False
    for p in node.params:
        entry = params.get(p.name)
        if not entry or "grad" not in entry or entry["grad"].get("norm") is None:
            continue
        seen = True
        gsq += entry["grad"]["norm"] ** 2
        wsq += (entry["weight"].get("norm") or 0.0) ** 2
    if not seen:
        return None, None
    g = math.sqrt(gsq)
    return g, (g / math.sqrt(wsq) if wsq > 0 else None)


def compute_flags(graph: Graph) -> dict[str, list[str]]:
    """node id -> flags, stored in graph.meta["values"]["flags"] (with each node's group)."""
    values = graph.meta.get("values") or {}
    tensors = values.get("tensors", {})
    params = values.get("params", {})
    flags: dict[str, list[str]] = {}

    def add(nid: str, flag: str) -> None:
        lst = flags.setdefault(nid, [])
        if flag not in lst:
            lst.append(flag)

    order = graph.topological_order()
    nan_done = inf_done = False
    for nid in order:
        node = graph.nodes[nid]
        if node.kind == "io" and not node.outputs:
            continue  # an Output box shows its producer's value; the producer is the origin
        rec = _first_output(node, tensors)
        outs = [tensors.get(t, {}).get("act") for t in node.outputs]
        if not nan_done and any(r and r["nan"] for r in outs):
            add(nid, "nan-origin")
            nan_done = True
        if not inf_done and any(r and r["inf"] for r in outs):
            add(nid, "inf-origin")
            inf_done = True
        if rec is not None:
            if _is_relu(node) and rec["count"] and (rec.get("zeros") or 0) >= DEAD_ZEROS:
                add(nid, "dead")
            if (rec.get("saturated") or 0) >= SATURATED:
                add(nid, "saturated")
        for p in node.params:
            entry = params.get(p.name)
            if entry and entry.get("weight"):
                for f in _weight_flags(entry["weight"], p.shape):
                    add(nid, f"weight-{f}")
    if not (nan_done or inf_done):
        # A NaN born in backward: blame the first node backward reaches with one.
        for nid in reversed(order):
            node = graph.nodes[nid]
            recs = [tensors.get(t, {}).get("grad") for t in node.outputs]
            recs += [params.get(p.name, {}).get("grad") for p in node.params]
            if any(r and (r["nan"] or r["inf"]) for r in recs):
                add(nid, "grad-nan")
                break
    norms: dict[str, tuple[float, float | None]] = {}
    for nid in order:
        g, ratio = node_grad(graph.nodes[nid], params)
        if g is not None and math.isfinite(g):
            norms[nid] = (g, ratio)
    positive = [g for g, _ in norms.values() if g > 0]
    median = statistics.median(positive) if positive else 0.0
    for nid, (g, ratio) in norms.items():
        if median > 0 and g < median / GRAD_FACTOR:
            add(nid, "vanishing")
        if ratio is not None and (ratio > EXPLODING_RATIO or
                                  (median > 0 and g > median * GRAD_FACTOR and ratio > 1)):
            add(nid, "exploding")
    values["flags"] = {nid: {"flags": f, "group": list(graph.nodes[nid].group)}
                       for nid, f in flags.items()}
    values["grad_median"] = median if positive else None
    return flags
