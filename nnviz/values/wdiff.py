"""`nnviz diff OLD NEW --weights`: how much each layer's weights moved between checkpoints.

Per weight tensor (matched by name): the relative change ||W_new - W_old|| / ||W_old||,
computed in float64 one tensor at a time (the old checkpoint's tensors are held, the new
ones streamed). Per layer (a box of the drawing): the same ratio over all its weights. A
layer whose weights are bit-identical is ``frozen``; the ``TOP`` layers with the largest
relative change are ``most-changed``. The drawing is the NEW model with the ``weights``
overlay on metric ``change``; the report lists frozen and most-changed layers.

Both checkpoints must have the same architecture: ONNX files, ``.pt2`` programs, or PyTorch
state dicts (``.pt``/``.pth``, read with weights_only) drawn through ``--model`` (an import
spec whose parameter names match the state dict).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nnviz.errors import ModelError
from nnviz.escape import md_escape
from nnviz.ir import Graph
from nnviz.values.stats import numpy_stats

TOP = 3


def _weights(path: str, trust_pickle: bool) -> Any:
    from nnviz.loaders import iter_weights

    return iter_weights(path, trust_pickle=trust_pickle)


def _as_array(w: Any) -> np.ndarray:
    return np.asarray(w.values[()] if hasattr(w.values, "id") else w.values)


def weight_changes(old: str, new: str, trust_pickle: bool = False) -> dict[str, dict]:
    """param name -> {"weight": stats of NEW, "change": {delta, old_norm, rel}}."""
    held: dict[str, np.ndarray] = {}
    for w in _weights(old, trust_pickle):
        held[w.name] = _as_array(w)
    out: dict[str, dict] = {}
    for w in _weights(new, trust_pickle):
        a = _as_array(w)
        b = held.pop(w.name, None)
        if b is None:
            continue  # a tensor only the new model has: the structural diff reports it
        if b.shape != a.shape:
            raise ModelError(new, f"weight {w.name!r} has shape {tuple(a.shape)} here but "
                                  f"{tuple(b.shape)} in {old}; --weights compares checkpoints "
                                  "of the same architecture")
        if a.dtype.kind not in "fiu" or a.size == 0:
            continue
        d = a.astype(np.float64) - b.astype(np.float64)
        delta = float(np.sqrt(np.dot(d.ravel(), d.ravel())))
        bb = b.astype(np.float64).ravel()
        old_norm = float(np.sqrt(np.dot(bb, bb)))
        rel = delta / old_norm if old_norm > 0 else (0.0 if delta == 0 else None)
        out[w.name] = {"weight": numpy_stats(a),
                       "change": {"delta": float(f"{delta:.6g}"),
                                  "old_norm": float(f"{old_norm:.6g}"),
                                  "rel": None if rel is None else float(f"{rel:.6g}")}}
    if not out:
        raise ModelError(new, f"shares no weight tensor names with {old}; --weights compares "
                              "checkpoints of the same architecture")
    return out


def layer_change(node: Any, params: dict[str, dict]) -> float | None:
    """||dW|| / ||W_old|| over all of a node's weights (None: no weights compared)."""
    dsq = osq = 0.0
    seen = False
    for p in node.params:
        c = params.get(p.name, {}).get("change")
        if c is None:
            continue
        seen = True
        dsq += c["delta"] ** 2
        osq += c["old_norm"] ** 2
    if not seen:
        return None
    if osq == 0:
        return 0.0 if dsq == 0 else math.inf
    return math.sqrt(dsq) / math.sqrt(osq)


def _layers(graph: Graph, params: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for nid in graph.topological_order():
        node = graph.nodes[nid]
        rel = layer_change(node, params)
        if rel is None:
            continue
        rows.append({"layer": nid, "op": node.op, "change": rel,
                     "params": [p.name for p in node.params if p.name in params]})
    return rows


def weights_graph(old: str, new: str, model: str | None = None,
                  load_options: dict | None = None) -> tuple[Graph, list[dict], list[str],
                                                             list[str]]:
    """The NEW model's graph with the changes attached, the per-layer rows, the frozen and
    the most-changed layer ids."""
    from nnviz.loaders import load

    opts = dict(load_options or {})
    trust = bool(opts.get("trust_pickle"))
    for p in (old, new):
        if not Path(p).exists():
            raise ModelError(p, "file not found")
    params = weight_changes(old, new, trust)
    if model is not None:
        graph = load(model, **opts)
    else:
        suffix = Path(new).suffix.lower()
        if suffix in (".pt", ".pth"):
            raise ModelError(new, "is a state dict (weights, no architecture); give the model "
                                  "to draw them on with --model package.module:factory "
                                  "--input-shape ...")
        graph = load(new, **opts)
    rows = _layers(graph, params)
    if not rows:
        raise ModelError(new, "none of its weight names match the drawn model's parameters")
    frozen = [r["layer"] for r in rows if r["change"] == 0]
    moving = sorted((r for r in rows if r["change"] and r["change"] > 0),
                    key=lambda r: (-r["change"], r["layer"]))
    top = [r["layer"] for r in moving[:TOP]]
    flags: dict[str, dict] = {}
    for nid in frozen:
        flags[nid] = {"flags": ["frozen"], "group": list(graph.nodes[nid].group)}
    for nid in top:
        flags[nid] = {"flags": ["most-changed"], "group": list(graph.nodes[nid].group)}
    graph.meta["values"] = {
        "framework": graph.meta.get("framework", ""), "capture": "two checkpoints",
        "sample": f"weights of {new} against {old}", "gradients": False,
        "loss": "relative change ||W_new - W_old|| / ||W_old|| per layer",
        "tensors": {}, "params": params, "flags": flags,
    }
    return graph, rows, frozen, top


def report(rows: list[dict], frozen: list[str], top: list[str], fmt: str) -> str:
    def num(v: float | None) -> str:
        return "-" if v is None else ("inf" if math.isinf(v) else f"{v:.3e}")

    if fmt == "json":
        clean = [{**r, "change": None if r["change"] is None or math.isinf(r["change"])
                  else r["change"]} for r in rows]
        return json.dumps({"layers": clean, "frozen": frozen, "most_changed": top},
                          indent=1) + "\n"
    out = ["| Layer | Op | relative change |", "|:--|:--|--:|"]
    for r in rows:
        mark = " (frozen)" if r["layer"] in frozen else (" (most changed)" if r["layer"] in top
                                                         else "")
        out.append(f"| {md_escape(r['layer'])}{mark} | {r['op']} "
                   f"| {num(r['change'])} |")
    out += ["", f"frozen ({len(frozen)}): {', '.join(frozen) if frozen else 'none'}",
            f"most changed: {', '.join(top) if top else 'none'}"]
    return "\n".join(out) + "\n"
