"""Per-tensor statistics, computed while the model runs: nothing is kept whole.

One record per tensor (a plain JSON-able dict, rounded to 6 significant digits so the
output is byte-identical across runs whose last float bits differ):

    count, mean, std, min, max, absmax, absmean, norm (L2), zeros (fraction of exact zeros),
    nan, inf (counts), hist {lo, hi, counts[BINS]} over the finite values,
    saturated (fraction; only for sigmoid/tanh/softmax outputs, see SATURATION below)

mean/std/min/max/hist describe the finite values only, so one NaN does not hide the rest.
torch tensors are reduced by torch (no copy to numpy); numpy arrays (onnxruntime, Keras)
are reduced in chunks in float64. ``merge`` combines records (a layer's weight and bias, a
collapsed group's parameters) exactly for everything but the histogram.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# `nnviz stats` weight flags (also shown on the graph by the values overlay).
EXPLODING_ABS = 1e4
EXPLODING_STD = 1e3
BINS = 32
CHUNK = 1 << 20  # elements per numpy chunk

# Saturation, by the op that produced the tensor: sigmoid outputs within 0.01 of 0 or 1,
# tanh outputs within 0.01 of -1 or 1, softmax rows (last axis) whose largest probability
# exceeds 0.99 (a one-hot output: its gradient is ~0).
SATURATION = ("sigmoid", "tanh", "softmax")


def _sig(v: float) -> float:
    """6 significant digits: deterministic text without last-bit noise."""
    if v == 0 or not math.isfinite(v):
        return float(v)
    return float(f"{v:.6g}")


def _finish(count: int, n: int, mean: float, m2: float, lo: float, hi: float, abssum: float,
            sq: float, zeros: int, nans: int, infs: int, hist: list[int] | None,
            hlo: float, hhi: float, saturated: float | None) -> dict[str, Any]:
    rec: dict[str, Any] = {"count": count}
    if n:
        rec.update({"mean": _sig(mean), "std": _sig(math.sqrt(max(m2, 0.0) / n)),
                    "min": _sig(lo), "max": _sig(hi), "absmax": _sig(max(abs(lo), abs(hi))),
                    "absmean": _sig(abssum / n), "norm": _sig(math.sqrt(sq))})
    else:
        rec.update({k: None for k in ("mean", "std", "min", "max", "absmax", "absmean",
                                      "norm")})
    rec["zeros"] = _sig(zeros / count) if count else None
    rec["nan"] = nans
    rec["inf"] = infs
    if hist is not None and n:
        rec["hist"] = {"lo": _sig(hlo), "hi": _sig(hhi), "counts": [int(c) for c in hist]}
    if saturated is not None:
        rec["saturated"] = _sig(saturated)
    return rec


# ---- torch --------------------------------------------------------------------------------
def torch_stats(t: Any, saturation: str | None = None, dim: int = -1) -> dict[str, Any] | None:
    """Statistics of a torch tensor (any device); None for non-numeric tensors."""
    import torch

    x = t.detach()
    if x.is_complex():
        x = x.abs()
    if x.dtype == torch.bool:
        x = x.to(torch.float32)
    if not x.is_floating_point():
        x = x.to(torch.float64)
    elif x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    count = x.numel()
    if count == 0:
        return _finish(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None)
    flat = x.reshape(-1)
    lo, hi = torch.aminmax(flat)
    lo_f, hi_f = float(lo), float(hi)
    nans = infs = 0
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        # min/max propagate NaN and show Inf: only then count and drop the non-finite values.
        nans = int(torch.isnan(flat).sum())
        infs = int(torch.isinf(flat).sum())
        flat = flat[torch.isfinite(flat)]
        if flat.numel():
            lo, hi = torch.aminmax(flat)
            lo_f, hi_f = float(lo), float(hi)
    n = flat.numel()
    if n == 0:
        return _finish(count, 0, 0, 0, 0, 0, 0, 0, 0, nans, infs, None, 0, 0, None)
    # Sums in float64 for big tensors: float32 accumulation drifts on millions of elements.
    acc = flat if n < (1 << 16) or flat.dtype == torch.float64 else flat.to(torch.float64)
    var, mean = torch.var_mean(acc, correction=0)
    vals = torch.stack([mean.to(torch.float64), var.to(torch.float64),
                        torch.linalg.vector_norm(acc, 1).to(torch.float64),
                        torch.count_nonzero(flat).to(torch.float64)]).tolist()
    mean_f, var_f, abssum, nonzero = vals
    # lo == hi: histc would widen the range by +-1; one full bin says the same honestly.
    if hi_f > lo_f:
        hist = torch.histc(flat.to(torch.float32) if flat.dtype != torch.float32 else flat,
                           bins=BINS, min=lo_f, max=hi_f).to(torch.int64).tolist()
    else:
        hist = [n] + [0] * (BINS - 1)
    sat = None
    if saturation in SATURATION:
        sat = _torch_saturation(x, saturation, dim)
    sq = n * (var_f + mean_f * mean_f)
    return _finish(count, n, mean_f, var_f * n, lo_f, hi_f, abssum, sq,
                   n - int(nonzero), nans, infs, hist, lo_f, hi_f, sat)


def _torch_saturation(x: Any, kind: str, dim: int) -> float | None:
    import torch

    if kind == "sigmoid":
        return float(((x < 0.01) | (x > 0.99)).to(torch.float32).mean())
    if kind == "tanh":
        return float((x.abs() > 0.99).to(torch.float32).mean())
    if x.dim() == 0:
        return None
    return float((x.amax(dim=dim) > 0.99).to(torch.float32).mean())


# ---- numpy --------------------------------------------------------------------------------
def numpy_stats(a: Any, saturation: str | None = None, axis: int = -1) -> dict[str, Any] | None:
    """Statistics of a numpy array, chunk by chunk in float64."""
    arr = np.asarray(a)
    if arr.dtype.kind == "c":
        arr = np.abs(arr)
    if arr.dtype.kind not in "fiub":
        return None
    count = int(arr.size)
    flat = arr.reshape(-1)
    n = 0
    mean = m2 = abssum = sq = 0.0
    lo, hi = math.inf, -math.inf
    zeros = nans = infs = 0
    for start in range(0, count, CHUNK):
        c = flat[start:start + CHUNK].astype(np.float64, copy=False)
        if arr.dtype.kind == "f":
            nan_m = np.isnan(c)
            inf_m = np.isinf(c)
            nans += int(nan_m.sum())
            infs += int(inf_m.sum())
            bad = nan_m | inf_m
            if bad.any():
                c = c[~bad]
        zeros += int(c.size - np.count_nonzero(c))
        k = c.size
        if not k:
            continue
        lo = min(lo, float(c.min()))
        hi = max(hi, float(c.max()))
        cm = float(c.mean())
        cm2 = float(((c - cm) ** 2).sum())
        total = n + k
        delta = cm - mean
        mean += delta * k / total
        m2 += cm2 + delta * delta * n * k / total
        n = total
        abssum += float(np.abs(c).sum())
        sq += float(np.dot(c, c))
    hist = None
    if n:
        if hi > lo:
            hist_arr = np.zeros(BINS, dtype=np.int64)
            for start in range(0, count, CHUNK):
                c = flat[start:start + CHUNK].astype(np.float64, copy=False)
                c = c[np.isfinite(c)] if arr.dtype.kind == "f" else c
                hist_arr += np.histogram(c, bins=BINS, range=(lo, hi))[0]
            hist = hist_arr.tolist()
        else:
            hist = [n] + [0] * (BINS - 1)
    sat = None
    if saturation in SATURATION and count:
        x = arr.astype(np.float64, copy=False)
        if saturation == "sigmoid":
            sat = float(np.mean((x < 0.01) | (x > 0.99)))
        elif saturation == "tanh":
            sat = float(np.mean(np.abs(x) > 0.99))
        elif x.ndim:
            sat = float(np.mean(np.max(x, axis=axis) > 0.99))
    return _finish(count, n, mean, m2, lo, hi, abssum, sq, zeros, nans, infs, hist, lo, hi, sat)


# ---- combining ----------------------------------------------------------------------------
def merge(records: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """One record for several tensors (exact except the histogram, which is dropped)."""
    recs = [r for r in records if r]
    if not recs:
        return None
    if len(recs) == 1:
        return dict(recs[0])
    count = sum(r["count"] for r in recs)
    n = mean = m2 = 0.0
    lo, hi = math.inf, -math.inf
    abssum = sq = 0.0
    zeros = 0.0
    for r in recs:
        k = r["count"] - r["nan"] - r["inf"]
        if r.get("zeros") is not None:
            zeros += r["zeros"] * r["count"]
        if not k or r.get("mean") is None:
            continue
        total = n + k
        delta = r["mean"] - mean
        mean += delta * k / total
        m2 += r["std"] ** 2 * k + delta * delta * n * k / total
        n = total
        lo = min(lo, r["min"])
        hi = max(hi, r["max"])
        abssum += r["absmean"] * k
        sq += r["norm"] ** 2
    nans = sum(r["nan"] for r in recs)
    infs = sum(r["inf"] for r in recs)
    out = _finish(count, int(n), mean, m2, lo, hi, abssum, sq, 0, nans, infs, None, 0, 0, None)
    out["zeros"] = _sig(zeros / count) if count else None
    return out


def weight_flags(shape: tuple, count: int, lo: float | None, hi: float | None,
                 std: float | None, zero_fraction: float | None, nan: int, inf: int) -> list[str]:
    """The flags of one weight tensor: nan, inf, all-zero (kernels only), exploding."""
    flags = []
    if nan:
        flags.append("nan")
    if inf:
        flags.append("inf")
    # An all-zero bias or norm shift is how layers are initialised; an all-zero kernel
    # (2-D or more) is a dead layer.
    if count and zero_fraction == 1.0 and len(shape) >= 2:
        flags.append("all-zero")
    big = max(abs(lo or 0.0), abs(hi or 0.0))
    if big > EXPLODING_ABS or (std is not None and std > EXPLODING_STD):
        flags.append("exploding")
    return flags
