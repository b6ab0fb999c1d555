"""Weight values, one tensor at a time: the only code in nnviz that reads weight bytes.

Used by `nnviz stats`. Every reader is a generator of :class:`WeightTensor` so a 5 GB model
is never held in memory at once:

- ONNX: initializers; external data is memory-mapped, and only files inside the model's own
  folder are opened (a hostile model cannot make us read /etc/passwd or ../secrets).
- Keras: ``.keras`` (the ``model.weights.h5`` inside the zip, read through h5py) and legacy
  ``.h5``; datasets are read one at a time. No keras/TensorFlow import.
- PyTorch: ``.pt2`` weights as the archive's raw storage bytes (``torch_pt2``, no torch),
  and ``.pt/.pth`` state dicts loaded with ``weights_only=True`` (memory-mapped); pickled
  whole models only with ``trust_pickle``.
- Live objects: torch modules, keras models, ONNX ModelProtos.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nnviz.errors import ModelError


@dataclass
class WeightTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    values: Any  # a numpy array (possibly memory-mapped); read it chunk by chunk


# ---- ONNX -------------------------------------------------------------------------------
def onnx_file(path: Path, trust_pickle: bool = False) -> Iterator[WeightTensor]:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise ModelError(path, f"is not a valid ONNX model ({str(exc).splitlines()[0]})") from None
    yield from _onnx_initializers(model, path)


def onnx_object(model: Any) -> Iterator[WeightTensor]:
    yield from _onnx_initializers(model, None)


def _onnx_initializers(model: Any, path: Path | None) -> Iterator[WeightTensor]:
    from onnx import TensorProto, helper, numpy_helper

    inits = list(model.graph.initializer)
    for node in model.graph.node:  # Constant nodes hold weights in some exporters' output
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.type == a.TENSOR:
                    t = TensorProto()
                    t.CopyFrom(a.t)
                    if not t.name:
                        t.name = node.output[0] if node.output else node.name
                    inits.append(t)
    for init in inits:
        shape = tuple(int(d) for d in init.dims)
        try:
            np_dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
        except (KeyError, ValueError):
            continue  # string / exotic tensors have no numeric statistics
        if init.data_location == TensorProto.EXTERNAL:
            if path is None:
                continue
            arr = _onnx_external(path, init, np_dtype, shape)
        else:
            try:
                arr = numpy_helper.to_array(init)
            except (ValueError, TypeError) as exc:
                where = path if path is not None else None
                raise ModelError(where, f"initializer {init.name!r} is damaged "
                                        f"({str(exc).splitlines()[0]})") from None
        yield WeightTensor(init.name, shape, str(np.dtype(np_dtype)), arr)


def _onnx_external(path: Path, init: Any, np_dtype: Any, shape: tuple[int, ...]) -> Any:
    info = {e.key: e.value for e in init.external_data}
    location = info.get("location", "")
    base = path.resolve().parent
    target = (base / location).resolve()
    # Only files inside the model's folder: a location like ../../etc/passwd is refused.
    if not location or os.path.isabs(location) or not target.is_relative_to(base):
        raise ModelError(path, f"initializer {init.name!r} points to external data outside the "
                               f"model's folder ({location!r}); refusing to read it")
    if not target.is_file():
        raise ModelError(path, f"external data file {location!r} for {init.name!r} is missing")
    offset = int(info.get("offset", 0) or 0)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    itemsize = np.dtype(np_dtype).itemsize
    length = int(info.get("length", 0) or 0) or count * itemsize
    size = target.stat().st_size
    if offset < 0 or offset + count * itemsize > size or length < count * itemsize:
        raise ModelError(path, f"external data for {init.name!r} is truncated "
                               f"({location!r} has {size} bytes)")
    if count == 0:
        return np.zeros(shape, dtype=np_dtype)
    return np.memmap(target, dtype=np.dtype(np_dtype).newbyteorder("<"), mode="r",
                     offset=offset, shape=shape)


# ---- Keras ------------------------------------------------------------------------------
def keras_file(path: Path, trust_pickle: bool = False) -> Iterator[WeightTensor]:
    import h5py

    if zipfile.is_zipfile(path):
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ModelError(path, f"is not a valid .keras archive ({exc})") from None
        with zf:
            names = zf.namelist()
            h5_name = "model.weights.h5" if "model.weights.h5" in names else next(
                (n for n in names if n.endswith(".h5")), None)
            if h5_name is None:
                if any(n.endswith(".npz") for n in names):
                    yield from _keras_npz(path, zf, names)
                    return
                raise ModelError(path, "holds no weights file (model.weights.h5)")
            with zf.open(h5_name) as fh:
                try:
                    h5 = h5py.File(fh, "r")
                except OSError as exc:
                    raise ModelError(path, f"has a damaged weights file ({exc})") from None
                with h5:
                    yield from _h5_datasets(h5, path)
        return
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(path, f"is not a readable HDF5 file ({exc})") from None
    with h5:
        root = h5["model_weights"] if "model_weights" in h5 else h5
        yield from _h5_datasets(root, path)


def keras_object(model: Any) -> Iterator[WeightTensor]:
    for w in model.weights:
        arr = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
        yield WeightTensor(getattr(w, "path", None) or w.name, tuple(arr.shape),
                           str(arr.dtype), arr)


def _keras_npz(path: Path, zf: zipfile.ZipFile, names: list[str]) -> Iterator[WeightTensor]:
    import io

    for n in sorted(x for x in names if x.endswith(".npz")):
        with zf.open(n) as fh:
            data = np.load(io.BytesIO(fh.read()), allow_pickle=False)
            for key in data.files:
                arr = data[key]
                yield WeightTensor(f"{n}/{key}", tuple(arr.shape), str(arr.dtype), arr)


def _h5_datasets(root: Any, path: Path | None = None) -> Iterator[WeightTensor]:
    import h5py

    names: list[str] = []
    root.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset)
                    else None)
    for name in names:  # h5py visits in sorted name order: deterministic
        ds = root[name]
        if ds.dtype.kind not in "fiub":
            continue
        _check_stored(path, name, ds)
        yield WeightTensor(name, tuple(int(d) for d in ds.shape), str(ds.dtype), ds)


def _check_stored(path: Path | None, name: str, ds: Any) -> None:
    """Refuse a dataset that declares far more bytes than the file stores.

    A few-KB hostile file can declare a petabyte dataset whose chunks were never written; h5py
    reads those as fill values, so statistics would run for ever. Keras writes every weight.
    """
    stored = int(ds.id.get_storage_size())
    limit = stored * (1000 if ds.compression else 1) + (1 << 16)
    if int(ds.nbytes) > limit:
        raise ModelError(path, f"weight {name!r} declares {int(ds.nbytes):,} bytes but the file "
                               f"stores only {stored:,}; it is damaged or not a real model")


# ---- PyTorch ----------------------------------------------------------------------------
def torch_file(path: Path, trust_pickle: bool = False) -> Iterator[WeightTensor]:
    if path.suffix.lower() == ".pt2":
        from nnviz.loaders import torch_pt2

        if torch_pt2.plain_weights(path):
            # Raw storage bytes laid out by the archive's configs: no torch, no unpickling.
            for name, shape, dtype, values in torch_pt2.iter_weights(path):
                yield WeightTensor(name, tuple(shape), dtype or "?", values)
            return
    import torch

    if path.suffix.lower() == ".pt2":
        if not trust_pickle:
            # torch.export.load falls back to torch.load(weights_only=False) for some members:
            # refuse archives holding pickles that are not plain data (drawing never unpickles).
            from nnviz.loaders.torch import _pt2_pickles

            unsafe = _pt2_pickles(torch, path)
            if unsafe:
                raise ModelError(path, f"is a .pt2 archive holding pickled objects ({unsafe[0]}); "
                                       "loading them can run arbitrary code, so nnviz refuses it "
                                       "unless you pass --trust-pickle")
        from nnviz.loaders.torch import _quiet_torch

        try:
            with _quiet_torch():  # a damaged archive makes torch log a traceback to stderr
                ep = torch.export.load(str(path))
        except Exception as exc:  # torch raises many types for a bad archive
            raise ModelError(path, f"is not a loadable .pt2 ExportedProgram "
                                   f"({str(exc).splitlines()[0] if str(exc) else exc})") from None
        items = list(ep.state_dict.items()) + sorted(getattr(ep, "constants", {}).items())
        for name, t in items:
            if isinstance(t, torch.Tensor):
                yield _torch_tensor(name, t)
        return
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        if not trust_pickle:
            raise ModelError(path, "is not a plain state_dict (torch.load weights_only=True "
                                   "refused it); pass --trust-pickle only if you trust the "
                                   "file") from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as exc2:
            raise ModelError(path, f"cannot be loaded by torch ({exc2 or exc})") from None
    if isinstance(obj, torch.nn.Module):
        yield from torch_object(obj)
        return
    found = False
    for name, t in _flatten_state(obj, ""):
        found = True
        yield _torch_tensor(name, t)
    if not found:
        raise ModelError(path, "holds no tensors")


def _flatten_state(obj: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    import torch

    if isinstance(obj, torch.Tensor):
        yield prefix or "tensor", obj
    elif isinstance(obj, dict):
        for k in obj:
            yield from _flatten_state(obj[k], f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _flatten_state(v, f"{prefix}.{i}" if prefix else str(i))


def torch_object(module: Any) -> Iterator[WeightTensor]:
    seen: set[int] = set()
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if id(t) in seen:
            continue  # tied weights once
        seen.add(id(t))
        yield _torch_tensor(name, t)


def _torch_tensor(name: str, t: Any) -> WeightTensor:
    import torch

    t = t.detach()
    if t.dtype in (torch.bfloat16, torch.float16) or str(t.dtype).startswith("torch.float8"):
        arr = t.to(torch.float32).numpy()
    elif t.is_complex() or t.dtype == torch.bool:
        arr = t.numpy().astype(np.float64) if t.dtype == torch.bool else np.abs(t.numpy())
    else:
        arr = t.numpy()
    return WeightTensor(name, tuple(t.shape), str(t.dtype).replace("torch.", ""), arr)
