"""`nnviz stats MODEL`: per-weight statistics and flags for broken tensors.

Weights are read one tensor at a time (nnviz.loaders.weights) and each tensor in chunks, so
memory stays bounded on multi-GB models. Flags: ``nan``, ``inf``, ``all-zero``, and
``exploding`` (some |x| > 1e4, or std > 1e3); ``all-zero`` only for kernels (2-D or more),
since zero biases and norm shifts are normal — the usual signs of a diverged or corrupted
checkpoint. Returns True when anything is flagged (`--strict` turns that into exit code 3).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnviz.errors import ModelError, NnvizError
from nnviz.loaders import iter_weights
from nnviz.loaders.weights import WeightTensor
from nnviz.reports.writer import Column, csv_text, emit, json_text, markdown_table, rich_table
from nnviz.values.stats import weight_flags

CHUNK = 1 << 20  # elements per chunk


@dataclass
class TensorStats:
    name: str
    shape: tuple[int, ...]
    dtype: str
    count: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    zero_fraction: float | None
    nan: int
    inf: int
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype,
                "count": self.count, "min": self.min, "max": self.max, "mean": self.mean,
                "std": self.std, "zero_fraction": self.zero_fraction, "nan": self.nan,
                "inf": self.inf, "flags": list(self.flags)}


def tensor_stats(w: WeightTensor) -> TensorStats:
    """Statistics of one tensor, computed chunk by chunk in float64 (Chan's parallel update)."""
    values = w.values
    count = int(np.prod(w.shape, dtype=np.int64)) if w.shape else int(np.size(values))
    flat = values.reshape(-1) if hasattr(values, "reshape") and not _is_h5(values) else None
    n = 0
    mean = m2 = 0.0
    lo, hi = math.inf, -math.inf
    zeros = nans = infs = 0
    for start in range(0, count, CHUNK):
        stop = min(count, start + CHUNK)
        if flat is not None:
            chunk = np.asarray(flat[start:stop])
        else:  # h5py dataset: read a slab along the first axis
            chunk = _h5_chunk(values, start, stop)
        chunk = chunk.astype(np.float64, copy=False).reshape(-1)
        nan_mask = np.isnan(chunk)
        inf_mask = np.isinf(chunk)
        nans += int(nan_mask.sum())
        infs += int(inf_mask.sum())
        bad = nan_mask | inf_mask
        finite = chunk[~bad] if bad.any() else chunk
        zeros += int(np.count_nonzero(finite == 0))
        k = finite.size
        if k == 0:
            continue
        lo = min(lo, float(finite.min()))
        hi = max(hi, float(finite.max()))
        c_mean = float(finite.mean())
        c_m2 = float(((finite - c_mean) ** 2).sum())
        total = n + k
        delta = c_mean - mean
        mean += delta * k / total
        m2 += c_m2 + delta * delta * n * k / total
        n = total
    std = math.sqrt(m2 / n) if n else None
    st = TensorStats(w.name, tuple(w.shape), w.dtype, count,
                     lo if n else None, hi if n else None, mean if n else None, std,
                     zeros / count if count else None, nans, infs)
    st.flags = _flags(st)
    return st


def _is_h5(values: Any) -> bool:
    return type(values).__module__.startswith("h5py")


def _h5_chunk(ds: Any, start: int, stop: int) -> np.ndarray:
    """Elements [start, stop) of an h5py dataset in C order, reading only the rows needed."""
    if ds.ndim == 0:
        return np.asarray(ds[()]).reshape(-1)
    row = int(np.prod(ds.shape[1:], dtype=np.int64)) or 1
    r0, r1 = start // row, -(-stop // row)
    block = np.asarray(ds[r0:r1]).reshape(-1)
    return block[start - r0 * row: stop - r0 * row]


def _flags(st: TensorStats) -> list[str]:
    return weight_flags(st.shape, st.count, st.min, st.max, st.std, st.zero_fraction, st.nan,
                        st.inf)


def collect(model: Any, load_options: dict | None = None) -> list[TensorStats]:
    opts = dict(load_options or {})
    try:
        return [tensor_stats(w) for w in iter_weights(model, trust_pickle=bool(
            opts.get("trust_pickle")))]
    except (NnvizError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if not isinstance(model, (str, os.PathLike)):
            raise
        # Damaged weight bytes fail inside zipfile/h5py/torch with their own exception types
        # (bad CRC, bad HDF5 heap...): one sentence naming the file, --debug shows the cause.
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelError(model, f"weights could not be read; the file looks damaged "
                                f"({type(exc).__name__}{': ' + first if first else ''})") \
            from exc


def _num(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.3e}"
    return f"{v:.4f}"


def _shape(s: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in s) + ")"


def _headline(stats: list[TensorStats]) -> str:
    flagged = [s for s in stats if s.flags]
    total = sum(s.count for s in stats)
    return (f"{len(stats)} tensors, {total:,} values; "
            f"{len(flagged)} flagged" + (": " + ", ".join(f"{s.name} [{', '.join(s.flags)}]"
                                                          for s in flagged[:10]) if flagged
                                         else "") + ("" if len(flagged) <= 10 else ", ..."))


COLUMNS = (Column("Tensor"), Column("Shape"), Column("dtype"), Column("min", "right"),
           Column("max", "right"), Column("mean", "right"), Column("std", "right"),
           Column("zeros", "right"), Column("flags"))


def _cells(s: TensorStats) -> list[str]:
    zf = "-" if s.zero_fraction is None else f"{100 * s.zero_fraction:.1f}%"
    return [s.name, _shape(s.shape), s.dtype, _num(s.min), _num(s.max), _num(s.mean),
            _num(s.std), zf, " ".join(s.flags)]


def render(stats: list[TensorStats], fmt: str) -> str:
    if fmt == "json":
        return json_text({"tensors": [s.to_dict() for s in stats],
                          "flagged": sum(1 for s in stats if s.flags)}, default=lambda v: None)
    if fmt == "csv":
        return csv_text(["name", "shape", "dtype", "count", "min", "max", "mean", "std",
                         "zero_fraction", "nan", "inf", "flags"],
                        [[s.name, "x".join(map(str, s.shape)), s.dtype, s.count,
                          *("" if v is None else repr(v) for v in (s.min, s.max, s.mean, s.std,
                                                                   s.zero_fraction)),
                          s.nan, s.inf, " ".join(s.flags)] for s in stats])
    if fmt == "markdown":
        out = markdown_table(COLUMNS, [_cells(s) for s in stats])
        out += ["", _headline(stats)]
        return "\n".join(out) + "\n"
    raise ValueError(f"unknown stats format {fmt!r}")


def print_table(stats: list[TensorStats], file: Any) -> None:
    from rich.console import Console

    table = rich_table(COLUMNS)
    for s in stats:
        table.add_row(*_cells(s), style="red" if s.flags else None)
    tty = hasattr(file, "isatty") and file.isatty()
    console = Console(file=file, width=None if tty else 160, highlight=False)
    console.print(table)
    console.print(_headline(stats), markup=False, highlight=False)


def weight_stats_report(model: Any, fmt: str = "table", load_options: dict | None = None,
                        output: str | os.PathLike | None = None) -> bool:
    """Print per-tensor statistics; True when any tensor is flagged."""
    stats = collect(model, load_options)
    if fmt == "table" and output is None:
        print_table(stats, sys.stdout)
    else:
        emit(render(stats, "markdown" if fmt == "table" else fmt), output)
    return any(s.flags for s in stats)
