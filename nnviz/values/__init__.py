"""Values on the architecture: activations, gradients and weights captured from one sample.

``capture(model, ...)`` loads the model, runs it once on a sample (a file, or inputs generated
from a shape and a seed), reduces every tensor to statistics while it runs (nnviz.values.stats)
and returns the drawable ``Graph`` with ``graph.meta["values"]``:

    {framework, capture, sample, loss, gradients: bool,
     tensors: {tensor id: {"act": stats, "grad": stats}},
     params:  {param name: {"weight": stats, "grad": stats, "ratio": |g|/|w|}},
     flags:   {node id: {"flags": [...], "group": [...]}}}

``apply_overlay`` (after the view passes) turns that into tints, value lines and badges that
every renderer reads. Frameworks are imported lazily, per model kind:
PyTorch (live module, import spec, ``.pt2``) in ``torch_values``, ONNX through onnxruntime in
``onnx_values``, Keras in ``keras_values``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nnviz.errors import ModelError, NnvizError
from nnviz.ir import Graph
from nnviz.values.inputs import Sample, generate, read_array_file
from nnviz.values.overlay import DEFAULT_METRIC, METRICS, OVERLAYS, apply_overlay

LOSSES = ("cross_entropy", "mse")


def _as_sample(sample: Any) -> Sample | None:
    if sample is None or isinstance(sample, Sample):
        return sample
    if isinstance(sample, (str, os.PathLike)):
        return read_array_file(sample, "sample")
    if isinstance(sample, dict):
        return Sample([_to_np(v) for v in sample.values()], [str(k) for k in sample],
                      "the given arrays")
    if isinstance(sample, (list, tuple)):
        return Sample([_to_np(v) for v in sample], [None] * len(sample), "the given arrays")
    return Sample([_to_np(sample)], [None], "the given array")


def _to_np(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu()
        if str(v.dtype) in ("torch.bfloat16", "torch.float16"):
            v = v.float()
        return v.numpy()
    return np.asarray(v)


def _shapes(input_shape: Any) -> list[tuple[int, ...]] | None:
    if input_shape is None:
        return None
    if input_shape and all(isinstance(d, int) for d in input_shape):
        return [tuple(input_shape)]
    return [tuple(int(d) for d in s) for s in input_shape]


def _graph_inputs(graph: Graph) -> list[tuple[tuple[int, ...] | None, str, bool]]:
    """(shape, dtype, had symbolic dims) per model input; a symbolic dimension (a batch or
    sequence axis named "batch") becomes 1, an unknown one makes the shape None."""
    out = []
    for tid in graph.inputs:
        t = graph.tensors.get(tid)
        shape = t.shape if t is not None else None
        dtype = (t.dtype if t is not None else None) or "float32"
        if shape is None or any(d is None or (isinstance(d, int) and d <= 0) for d in shape):
            out.append((None, dtype, False))
            continue
        named = any(isinstance(d, str) for d in shape)
        out.append((tuple(d if isinstance(d, int) else 1 for d in shape), dtype, named))
    return out


def _sample_for_graph(graph: Graph, sample: Sample | None, input_shape: Any, input_dtype: str,
                      seed: int, int_range: tuple[int, int] | None, where: str) -> Sample:
    """The given sample, or one generated from --input-shape or the model's own shapes."""
    if sample is not None:
        return sample
    shapes = _shapes(input_shape)
    if shapes is not None:
        return generate(shapes, input_dtype, seed, int_range)
    specs = _graph_inputs(graph)
    if not specs or any(s is None for s, _, _ in specs):
        raise ModelError(where, "has inputs without known shapes; give --sample FILE or "
                                "--input-shape")
    arrays: list[np.ndarray] = []
    origins = []
    for i, (shape, dtype, _) in enumerate(specs):
        one = generate([shape], dtype, seed + i, int_range)  # type: ignore[list-item]
        arrays.extend(one.arrays)
        origins.append(one.origin)
    note = "; ".join(dict.fromkeys(origins))
    if any(named for _, _, named in specs):
        note += " (symbolic dimensions set to 1)"
    return Sample(arrays, list(graph.inputs), note)


def _embedding_range(module: Any, int_range: tuple[int, int] | None) -> tuple[int, int] | None:
    """Token ids must index every embedding table: cap the default range at the smallest."""
    if int_range is not None:
        return int_range
    import torch

    sizes = [m.num_embeddings for m in module.modules() if isinstance(m, torch.nn.Embedding)]
    if sizes:
        from nnviz.values.inputs import DEFAULT_INT_RANGE

        return DEFAULT_INT_RANGE[0], min(DEFAULT_INT_RANGE[1], min(sizes))
    return None


def capture(model: Any, *, sample: Any = None, input_shape: Any = None,
            input_dtype: str = "float32", seed: int = 0,
            int_range: tuple[int, int] | None = None, target: Any = None,
            loss: str | None = None, gradients: bool = True,
            load_options: dict | None = None) -> Graph:
    """Load ``model``, run it on one sample and return the Graph with its values and flags."""
    from nnviz.values.flags import compute_flags

    opts = dict(load_options or {})
    if loss is not None and loss not in LOSSES:
        raise NnvizError(f"unknown loss '{loss}'; use one of {', '.join(LOSSES)}")
    if target is not None and loss is None:
        raise NnvizError("--target needs --loss cross_entropy or mse")
    if loss is not None and target is None:
        raise NnvizError(f"--loss {loss} needs --target FILE (the expected output)")
    tgt = None
    if target is not None:
        ts = read_array_file(target, "target") if isinstance(target, (str, os.PathLike)) \
            else Sample([_to_np(target)])
        tgt = ts.arrays[0]
    smp = _as_sample(sample)
    graph = _dispatch(model, smp, input_shape, input_dtype, seed, int_range, tgt, loss,
                      gradients, opts)
    compute_flags(graph)
    return graph


def _dispatch(model: Any, smp: Sample | None, input_shape: Any, input_dtype: str, seed: int,
              int_range: Any, tgt: Any, loss: str | None, gradients: bool, opts: dict) -> Graph:
    aten = bool(opts.get("aten"))
    if isinstance(model, Graph):
        raise NnvizError("a Graph holds no weights to run; pass the model file or object")
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        from nnviz.loaders import _looks_like_spec, loader_for

        if ":" in text and not Path(text).exists() and _looks_like_spec(text):
            from nnviz.loaders.torch import resolve_spec

            obj = resolve_spec(text)
            return _torch_object(obj, smp, input_shape, input_dtype, seed, int_range, tgt, loss,
                                 gradients, aten, source=text)
        path = Path(text)
        if not path.exists():
            raise ModelError(path, "file not found")
        if path.is_dir():
            raise ModelError(path, "is a directory, not a model file")
        kind = loader_for(path).name
        if kind == "onnx":
            from nnviz.loaders import load
            from nnviz.values.onnx_values import capture_onnx

            graph = load(text)
            s = _sample_for_graph(graph, smp, input_shape, input_dtype, seed, int_range, text)
            return capture_onnx(path, s, graph=graph)
        if kind == "torch" and path.suffix.lower() == ".pt2":
            ep = _load_pt2(path, bool(opts.get("trust_pickle")))
            return _torch_object(ep, smp, input_shape, input_dtype, seed, int_range, tgt, loss,
                                 gradients, aten, source=text)
        if kind == "keras":
            from nnviz.values.keras_values import capture_keras_file

            return capture_keras_file(path, smp, input_shape=input_shape,
                                      input_dtype=input_dtype, seed=seed, int_range=int_range,
                                      target=tgt, loss=loss, gradients=gradients)
        raise ModelError(path, "values can be captured from .onnx, .pt2, .keras/.h5 files, "
                               "import specs (package.module:factory) and live models")
    mro = [f"{c.__module__}.{c.__name__}" for c in type(model).__mro__]
    if any(m.startswith("keras.") for m in mro):
        from nnviz.values.keras_values import capture_keras_model

        return capture_keras_model(model, smp, input_shape=input_shape, input_dtype=input_dtype,
                                   seed=seed, int_range=int_range, target=tgt, loss=loss,
                                   gradients=gradients)
    if any(m.startswith("torch.") for m in mro):
        return _torch_object(model, smp, input_shape, input_dtype, seed, int_range, tgt, loss,
                             gradients, aten, source=None)
    raise NnvizError(f"cannot capture values of a {type(model).__name__}; pass a model file, "
                     "an import spec, a torch nn.Module or a keras.Model")


def _load_pt2(path: Path, trust_pickle: bool) -> Any:
    import torch

    from nnviz.loaders.torch import _one_line, _pt2_pickles, _quiet_torch

    if not trust_pickle:
        unsafe = _pt2_pickles(torch, path)
        if unsafe:
            raise ModelError(path, f"is a .pt2 archive holding pickled objects ({unsafe[0]}); "
                                   "loading them can run arbitrary code, so nnviz refuses it "
                                   "unless you pass --trust-pickle")
    try:
        with _quiet_torch():
            return torch.export.load(path)
    except Exception as exc:
        raise ModelError(path, f"is not a readable torch.export .pt2 archive "
                               f"({_one_line(exc)})") from None


def _torch_object(obj: Any, smp: Sample | None, input_shape: Any, input_dtype: str, seed: int,
                  int_range: Any, tgt: Any, loss: str | None, gradients: bool, aten: bool,
                  source: str | None) -> Graph:
    import torch

    from nnviz.values.torch_values import capture_exported, capture_module

    if isinstance(obj, torch.export.ExportedProgram):
        if smp is None:
            from nnviz.loaders.torch import load_object

            shell = load_object(obj)
            smp = _sample_for_graph(shell, None, input_shape, input_dtype, seed, int_range,
                                    source or "the program")
        graph = capture_exported(obj, smp, target=tgt, loss=loss, grads=gradients, aten=aten,
                                 source=source)
        if source:
            graph.meta["file"] = source
        return graph
    if not isinstance(obj, torch.nn.Module):
        raise NnvizError(f"cannot capture values of a {type(obj).__name__}; pass an "
                         "nn.Module or an ExportedProgram")
    if smp is None:
        shapes = _shapes(input_shape)
        if shapes is None:
            raise ModelError(source, "needs a sample to run the model: --sample FILE, or "
                                     "--input-shape 1,3,224,224 (with --seed)")
        smp = generate(shapes, input_dtype, seed, _embedding_range(obj, int_range))
    return capture_module(obj, smp, target=tgt, loss=loss, grads=gradients, aten=aten,
                          source=source)


__all__ = ["capture", "apply_overlay", "OVERLAYS", "METRICS", "DEFAULT_METRIC", "LOSSES",
           "Sample"]
