"""ONNX value capture through onnxruntime (the optional extra ``values``).

Every intermediate value of the main graph is made a graph output and the model is run once
on the sample; each returned array is reduced to statistics (nnviz.values.stats). onnxruntime
runs inference only, so there are no gradients (the values' note says so). The outputs come
back together, so peak memory is the sum of the model's activations; weights are read one
tensor at a time by nnviz.loaders.weights.

onnx and onnxruntime are imported only here, when an ONNX model's values are captured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nnviz.errors import MissingDependency, ModelError
from nnviz.ir import Graph
from nnviz.values.inputs import Sample, check_finite
from nnviz.values.stats import numpy_stats

_SATURATING = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax",
               "HardSigmoid": "sigmoid"}

# onnxruntime's type strings -> numpy dtypes
_ORT_TYPES = {
    "tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
    "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
}


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("Capturing activations of an ONNX model", "values",
                                "onnxruntime") from None
    return onnxruntime


def capture_onnx(path: str | Path, sample: Sample, *, graph: Graph | None = None,
                 want_gradients: bool = False) -> Graph:
    """Activations of every intermediate tensor of the ONNX model at ``path``."""
    ort = _ort()
    import onnx

    from nnviz.loaders import iter_weights, load

    path = Path(path)
    check_finite(sample)
    graph = graph if graph is not None else load(str(path))
    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise ModelError(path, f"could not be read by onnx for running "
                               f"({str(exc).splitlines()[0][:160] if str(exc) else exc})"
                         ) from None
    sat: dict[str, tuple[str, int]] = {}
    existing = {o.name for o in model.graph.output}
    for node in model.graph.node:
        axis = next((int(a.i) for a in node.attribute if a.name == "axis"), -1)
        for out in node.output:
            if not out:
                continue
            if node.op_type in _SATURATING:
                sat[out] = (_SATURATING[node.op_type], axis)
            if out not in existing:
                existing.add(out)
                model.graph.output.append(onnx.ValueInfoProto(name=out))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # No graph rewrites: fused or folded nodes would drop the intermediates asked for.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 0
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(path, f"onnxruntime cannot run this model "
                               f"({str(exc).strip().splitlines()[0][:200]})") from None
    del model
    feeds = _feeds(sess, sample, path)
    try:
        names = [o.name for o in sess.get_outputs()]
        results = sess.run(names, feeds)
    except Exception as exc:
        where = sample.path or path
        raise ModelError(where, f"running the model on the sample failed "
                                f"({str(exc).strip().splitlines()[0][:200]})") from None
    tensors: dict[str, dict] = {}
    for name, value in feeds.items():
        rec = numpy_stats(value)
        if rec is not None:
            tensors[name] = {"act": rec}
    for name, value in zip(names, results):
        if not isinstance(value, np.ndarray):
            continue  # sequences / maps have no tensor statistics
        kind, axis = sat.get(name, (None, -1))
        rec = numpy_stats(value, kind, axis)
        if rec is not None:
            tensors[name] = {"act": rec}
    del results
    params = {w.name: {"weight": numpy_stats(w.values)} for w in iter_weights(path)
              if w.values is not None}
    graph.meta["values"] = {
        "framework": "onnx", "capture": f"onnxruntime {ort.__version__}, every intermediate "
                                        "tensor made an output",
        "sample": sample.origin, "gradients": False,
        "loss": "no gradients: onnxruntime runs inference only",
        "tensors": tensors, "params": {k: v for k, v in params.items() if v["weight"]},
    }
    return graph


def _feeds(sess: Any, sample: Sample, path: Path) -> dict[str, np.ndarray]:
    inputs = sess.get_inputs()
    where = sample.path or path
    if len(sample.arrays) != len(inputs):
        raise ModelError(where, f"the sample has {len(sample.arrays)} array"
                         f"{'s' if len(sample.arrays) != 1 else ''} but the model takes "
                         f"{len(inputs)} input{'s' if len(inputs) != 1 else ''} "
                         f"({', '.join(i.name for i in inputs)})")
    arrays = sample.named([i.name for i in inputs])
    feeds = {}
    for spec, a in zip(inputs, arrays):
        want = _ORT_TYPES.get(spec.type)
        if want is not None and a.dtype != want:
            if np.dtype(want).kind == "f" and a.dtype.kind == "f":
                a = a.astype(want)  # numpy's float64 default -> the model's float type
            else:
                raise ModelError(where, f"input {spec.name} has dtype {a.dtype} but the model "
                                        f"expects {np.dtype(want).name}")
        shape = list(spec.shape or [])
        if len(shape) != a.ndim or any(isinstance(d, int) and d != s
                                       for d, s in zip(shape, a.shape)):
            want_s = "(" + ", ".join(str(d) if isinstance(d, int) else str(d or "?")
                                     for d in shape) + ")"
            raise ModelError(where, f"input {spec.name} has shape {tuple(a.shape)} but the "
                                    f"model expects {want_s}")
        feeds[spec.name] = np.ascontiguousarray(a)
    return feeds
