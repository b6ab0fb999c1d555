"""Inputs for a value capture: a sample file, or arrays generated from a shape and a seed.

Framework-neutral: everything is a numpy array here (a ``.pt`` sample is read with torch's
``weights_only=True`` loader, which cannot run code, then converted). Generated inputs use
numpy's PCG64 generator seeded with ``--seed``: floats are standard normal, integers are drawn
uniformly from ``int_range`` (low inclusive, high exclusive), so a fixed seed gives the same
sample on every machine and framework.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnviz.errors import ModelError, NnvizError

DEFAULT_INT_RANGE = (0, 100)


@dataclass
class Sample:
    """The input arrays (in order, with their names when the file gave names) and where
    they came from, for the statement printed with the result."""

    arrays: list[np.ndarray]
    names: list[str | None] = field(default_factory=list)
    origin: str = ""  # "sample.npz" or "generated: seed 0, float32 N(0, 1)"
    path: str | None = None

    def named(self, wanted: list[str]) -> list[np.ndarray]:
        """Arrays in the order of ``wanted`` input names when the file named them all,
        else in stored order."""
        if self.names and all(n is not None for n in self.names) and \
                set(wanted) <= set(self.names):
            by = dict(zip(self.names, self.arrays))
            return [by[n] for n in wanted]
        return list(self.arrays)


def read_array_file(path: str | os.PathLike, what: str = "sample") -> Sample:
    """A ``.npy``/``.npz`` file (no pickles) or a ``.pt`` tensor file (weights_only)."""
    p = Path(path)
    if not p.exists():
        raise ModelError(p, f"{what} file not found")
    if p.is_dir():
        raise ModelError(p, f"is a directory, not a {what} file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
            return Sample([np.asarray(arr)], [None], p.name, str(p))
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as data:
                names = list(data.files)
                arrays = [np.asarray(data[k]) for k in names]
            if not arrays:
                raise ModelError(p, f"holds no arrays; a {what} needs at least one")
            return Sample(arrays, names, p.name, str(p))
        if suffix in (".pt", ".pth"):
            return _read_pt(p, what)
    except NnvizError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ModelError(p, f"is not a readable {what} file ({type(exc).__name__}"
                            f"{': ' + first if first else ''})") from None
    raise ModelError(p, f"is not a {what} file nnviz reads; use .npy, .npz or a .pt tensor file")


def _read_pt(p: Path, what: str) -> Sample:
    try:
        import torch
    except ImportError:
        raise ModelError(p, f"is a PyTorch {what}; reading it needs torch "
                            "(pip install 'nnviz[torch]'), or save it as .npy") from None
    try:
        obj = torch.load(p, weights_only=True, map_location="cpu")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise ModelError(p, f"is not a plain tensor file (torch.load weights_only=True refused "
                            f"it: {first or type(exc).__name__})") from None
    names: list[str | None] = []
    tensors: list[Any] = []
    if isinstance(obj, torch.Tensor):
        names, tensors = [None], [obj]
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        names, tensors = [str(k) for k in obj], list(obj.values())
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(v, torch.Tensor) for v in obj):
        names, tensors = [None] * len(obj), list(obj)
    else:
        raise ModelError(p, f"holds a {type(obj).__name__}; a {what} .pt file must hold a "
                            "tensor, or a list or dict of tensors")
    arrays = []
    for t in tensors:
        t = t.detach().cpu()
        if t.dtype in (torch.bfloat16, torch.float16):
            t = t.to(torch.float32)
        arrays.append(t.numpy())
    return Sample(arrays, names, p.name, str(p))


def parse_int_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    parts = [x.strip() for x in text.replace(":", ",").split(",")]
    try:
        lo, hi = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise NnvizError(f"--int-range expects LOW,HIGH (integers), got {text!r}") from None
    if hi <= lo:
        raise NnvizError(f"--int-range {text!r}: HIGH must be greater than LOW")
    return lo, hi


def generate(shapes: list[tuple[int, ...]], dtype: str = "float32", seed: int = 0,
             int_range: tuple[int, int] | None = None) -> Sample:
    """Deterministic inputs: N(0, 1) floats or uniform integers in ``int_range``."""
    dt = _np_dtype(dtype)
    rng = np.random.Generator(np.random.PCG64(seed))
    arrays = []
    lo, hi = int_range or DEFAULT_INT_RANGE
    for shape in shapes:
        if dt.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dt))
        elif dt.kind == "b":
            arrays.append(rng.integers(0, 2, shape).astype(bool))
        else:
            arrays.append(rng.integers(lo, hi, shape).astype(dt))
    what = (f"N(0, 1) {dt.name}" if dt.kind == "f" else
            f"uniform {dt.name} in [{lo}, {hi})")
    return Sample(arrays, [None] * len(arrays), f"generated with seed {seed}: {what}")


def _np_dtype(name: str) -> np.dtype:
    text = (name or "float32").replace("torch.", "").strip().lower()
    aliases = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
               "int": "int32", "bfloat16": "float32"}
    try:
        dt = np.dtype(aliases.get(text, text))
    except TypeError:
        raise NnvizError(f"unknown input dtype '{name}'; use e.g. float32, int64") from None
    if dt.kind not in "fiub":
        raise NnvizError(f"unsupported input dtype '{name}'; use a float, int or bool type")
    return dt


def check_finite(sample: Sample) -> None:
    """A NaN or Inf in the input would make every layer look broken: refuse it up front."""
    for i, a in enumerate(sample.arrays):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = int((~np.isfinite(a)).sum())
            name = sample.names[i] if i < len(sample.names) and sample.names[i] else f"#{i}"
            where = f"{sample.path}: " if sample.path else ""
            raise NnvizError(f"{where}input {name} holds {bad:,} NaN/Inf value"
                             f"{'s' if bad != 1 else ''}; values would be NaN everywhere, so "
                             "nnviz refuses it (clean the sample first)")
