"""Keras value capture: activations from a sub-model, gradients on the torch backend.

A ``.keras``/``.h5`` file is loaded with ``keras.saving.load_model(safe_mode=True)`` (no
Lambda code is deserialised) and drawn by nnviz's own Keras loader; a sub-model from the
model's inputs to every top-level layer's output is run once on the sample. With the torch
backend, ``torch.autograd.grad`` of the loss gives the gradient of every one of those
outputs and of every trainable weight; with other backends the values are activations and
weights only, and the note says so. Layers inside nested models are drawn but not measured
(their tensors live in the nested model's own graph); the nested model's output is.

keras (and torch) are imported only here, when a Keras model's values are captured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnviz.errors import MissingDependency, ModelError, NnvizError
from nnviz.ir import Graph
from nnviz.values.inputs import Sample, check_finite, generate
from nnviz.values.stats import numpy_stats

_SATURATING = {"sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax"}


def _keras() -> Any:
    try:
        import keras
    except ImportError:
        raise MissingDependency("Capturing values of a Keras model", "keras", "keras") from None
    except Exception as exc:  # e.g. the TensorFlow backend selected but not installed
        raise NnvizError(f"keras could not be imported ({str(exc).splitlines()[0][:160]}); "
                         "set KERAS_BACKEND=torch or install the backend") from None
    return keras


def capture_keras_file(path: Path, smp: Sample | None, **kw: Any) -> Graph:
    keras = _keras()
    try:
        model = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except Exception as exc:
        raise ModelError(path, f"keras could not load it in safe mode "
                               f"({str(exc).strip().splitlines()[0][:200]})") from None
    graph = capture_keras_model(model, smp, source=str(path), **kw)
    graph.meta["file"] = str(path)
    return graph


def _activation_of(layer: Any) -> str | None:
    name = type(layer).__name__.lower()
    if name in _SATURATING:
        return _SATURATING[name]
    act = getattr(layer, "activation", None)
    act_name = getattr(act, "__name__", "") if act is not None else ""
    if name == "activation" or act_name:
        return _SATURATING.get(act_name)
    return None


def capture_keras_model(model: Any, smp: Sample | None, *, input_shape: Any = None,
                        input_dtype: str = "float32", seed: int = 0, int_range: Any = None,
                        target: Any = None, loss: str | None = None, gradients: bool = True,
                        source: str | None = None) -> Graph:
    keras = _keras()
    from nnviz.loaders import load

    graph = load(model)
    inputs = list(getattr(model, "inputs", None) or [])
    if not inputs:
        raise ModelError(source, "is not built (it has no inputs); call it once or give it "
                                 "an Input layer")
    if smp is None:
        shapes = input_shape
        if shapes is None:
            shapes = []
            for t in inputs:
                dims = [d if isinstance(d, int) else 1 for d in t.shape]
                shapes.append(tuple(dims))
        elif all(isinstance(d, int) for d in shapes):
            shapes = [tuple(shapes)]
        dtype = input_dtype if input_shape is not None else str(inputs[0].dtype)
        smp = generate([tuple(s) for s in shapes], dtype, seed, int_range)
    check_finite(smp)
    if len(smp.arrays) != len(inputs):
        raise ModelError(smp.path or source, f"the sample has {len(smp.arrays)} arrays but the "
                                             f"model takes {len(inputs)} inputs")
    arrays = []
    for t, a in zip(inputs, smp.named([getattr(t, "name", "") for t in inputs])):
        want = [d for d in t.shape]
        if len(want) != a.ndim or any(isinstance(d, int) and d != s
                                      for d, s in zip(want, a.shape)):
            raise ModelError(smp.path or source, f"input {getattr(t, 'name', '')} has shape "
                             f"{tuple(a.shape)} but the model expects "
                             f"{tuple(d if isinstance(d, int) else None for d in want)}")
        if a.dtype.kind == "f":
            a = a.astype(str(t.dtype) if str(t.dtype).startswith("float") else np.float32)
        arrays.append(a)
    layers, outs, tids = [], [], []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        nested = isinstance(layer, keras.Model)
        out = None
        if not nested:  # a nested model's .output is a tensor of its own inner graph
            try:
                out = layer.output
            except (AttributeError, ValueError):
                out = None  # a shared layer (several calls) has no single output
        if out is None:
            calls = getattr(layer, "_inbound_nodes", [])
            if len(calls) == 1 and len(calls[0].output_tensors) == 1:
                out = calls[0].output_tensors[0]
        tid = _tensor_id(graph, layer, nested)
        if out is None or isinstance(out, (list, tuple)) or tid is None:
            continue
        layers.append(layer)
        outs.append(out)
        tids.append(tid)
    probe = keras.Model(inputs, outs)
    backend = keras.backend.backend()
    note = ""
    tensors: dict[str, dict] = {}
    for tid, a in zip(graph.inputs, arrays):
        tensors[tid] = {"act": numpy_stats(a)}
    grads_ok = gradients and backend == "torch"
    act_grads: list[Any] = []
    w_grads: dict[str, Any] = {}
    try:
        if grads_ok:
            results, act_grads, w_grads, note = _torch_run(probe, model, arrays, layers, target,
                                                           loss)
        else:
            results = probe(arrays if len(arrays) > 1 else arrays[0], training=False)
            note = ("no gradients: nnviz computes Keras gradients on the torch backend "
                    f"(this is {backend})") if gradients else ""
    except NnvizError:
        raise
    except Exception as exc:
        raise ModelError(source, f"running the model on the sample failed "
                                 f"({type(exc).__name__}: "
                                 f"{str(exc).strip().splitlines()[0][:200]})") from None
    if not isinstance(results, (list, tuple)):
        results = [results]
    for i, (layer, tid, value) in enumerate(zip(layers, tids, results)):
        rec = numpy_stats(keras.ops.convert_to_numpy(value), _activation_of(layer))
        entry: dict[str, Any] = {"act": rec}
        if act_grads and act_grads[i] is not None:
            entry["grad"] = numpy_stats(act_grads[i])
        tensors[tid] = entry
    prefix = f"{model.name}/"
    params: dict[str, dict] = {}
    for w in model.weights:
        path = getattr(w, "path", None) or w.name
        name = path[len(prefix):] if path.startswith(prefix) else path
        entry = {"weight": numpy_stats(keras.ops.convert_to_numpy(w.value))}
        g = w_grads.get(path)
        if g is not None:
            entry["grad"] = numpy_stats(g)
            if entry["weight"]["norm"]:
                entry["ratio"] = float(f"{entry['grad']['norm'] / entry['weight']['norm']:.6g}")
        params[name] = entry
    graph.meta["values"] = {
        "framework": "keras", "capture": f"keras {keras.__version__} ({backend} backend), "
                                         "a sub-model to every top-level layer's output",
        "sample": smp.origin, "gradients": bool(w_grads), "loss": note,
        "tensors": tensors, "params": params,
    }
    return graph


def _torch_run(probe: Any, model: Any, arrays: list[np.ndarray], layers: list[Any],
               target: Any, loss: str | None) -> tuple[list, list, dict, str]:
    import torch

    from nnviz.values.torch_values import make_loss

    xs = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    with torch.enable_grad():
        results = probe(xs if len(xs) > 1 else xs[0], training=False)
        if not isinstance(results, (list, tuple)):
            results = [results]
        final = [results[layers.index(lay)] for lay in _output_layers(model, layers)]
        value, note = make_loss(final, target, loss)
        if value is None:
            return [r.detach().cpu().numpy() for r in results], [], {}, note
        train = [w for w in model.trainable_weights]
        leaves = [w.value for w in train]
        wanted = [r for r in results if r.requires_grad] + leaves
        grads = torch.autograd.grad(value, wanted, allow_unused=True)
    it = iter(grads)
    act_grads = []
    for r in results:
        g = next(it) if r.requires_grad else None
        act_grads.append(None if g is None else g.detach().cpu().numpy())
    w_grads = {}
    for w in train:
        g = next(it)
        if g is not None:
            w_grads[getattr(w, "path", None) or w.name] = g.detach().cpu().numpy()
    return [r.detach().cpu().numpy() for r in results], act_grads, w_grads, note


def _tensor_id(graph: Graph, layer: Any, nested: bool) -> str | None:
    """The IR tensor of a top-level layer's output; for a nested model, the one tensor its
    group hands to the outside."""
    if not nested:
        tid = f"{layer.name}:0"
        return tid if tid in graph.tensors else None
    inside = {n.id for n in graph.nodes.values() if n.group[:1] == (layer.name,)}
    consumers = graph.consumers()
    found = [t for nid in inside for t in graph.nodes[nid].outputs
             if t in graph.outputs or any(c not in inside for c in consumers.get(t, ()))]
    return found[0] if len(found) == 1 else None


def _output_layers(model: Any, layers: list[Any]) -> list[Any]:
    """The layers whose outputs are the model's outputs (for the loss)."""
    outs = model.outputs if isinstance(model.outputs, (list, tuple)) else [model.outputs]
    found = []
    for o in outs:
        for layer in layers:
            try:
                if layer.output is o:
                    found.append(layer)
                    break
            except (AttributeError, ValueError):
                continue
    return found or layers[-1:]
