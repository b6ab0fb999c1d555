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
# Cost matters: these run on every activation and gradient of the model. Measured on the
# 2-core machine, each small torch reduction pays ~20 ms of intra-op thread overhead on an
# 800k-element tensor while numpy's single-threaded reductions take 0.2-3 ms, so a CPU tensor
# is viewed as a numpy array (no copy) and reduced there: min, max (non-finite values show
# up there), one sum, one dot product (sum of squares -> std and norm), one count_nonzero;
# |x| sums only where asked (weights and their gradients); the histogram from at most
# HIST_SAMPLE evenly spaced elements (its "sampled" field says how many). std from sums loses
# digits when |mean| >> std: then it is recomputed exactly in float64.
HIST_SAMPLE = 1 << 13


def torch_stats(t: Any, saturation: str | None = None, dim: int = -1,
                absolute: bool = False) -> dict[str, Any] | None:
    """Statistics of a torch tensor (any device); ``absolute`` adds the mean |x|."""
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
    if x.device.type != "cpu":
        x = x.cpu()
    return array_stats(x.numpy(), saturation, dim, absolute)


def array_stats(a: np.ndarray, saturation: str | None = None, axis: int = -1,
                absolute: bool = False) -> dict[str, Any]:
    """Fast statistics of an in-memory float32/float64 array (see the note above)."""
    count = int(a.size)
    if count == 0:
        return _finish(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, 0, 0, None)
    flat = a.reshape(-1)
    lo_f, hi_f = float(flat.min()), float(flat.max())
    nans = infs = 0
    if not (math.isfinite(lo_f) and math.isfinite(hi_f)):
        # min/max propagate NaN and show Inf: only then count and drop the non-finite values.
        nan_m = np.isnan(flat)
        nans = int(nan_m.sum())
        infs = int(np.isinf(flat).sum())
        flat = flat[np.isfinite(flat)]
        if flat.size:
            lo_f, hi_f = float(flat.min()), float(flat.max())
    n = int(flat.size)
    if n == 0:
        return _finish(count, 0, 0, 0, 0, 0, 0, 0, 0, nans, infs, None, 0, 0, None)
    s1 = float(flat.sum(dtype=np.float64)) if n < (1 << 12) else float(flat.sum())
    s2 = float(np.dot(flat, flat))
    nonzero = int(np.count_nonzero(flat))
    abssum = float(np.abs(flat).sum(dtype=np.float64)) if absolute else None
    mean_f = s1 / n
    var_f = max(s2 / n - mean_f * mean_f, 0.0)
    if var_f < 1e-4 * mean_f * mean_f or n < (1 << 12):
        f64 = flat.astype(np.float64)
        mean_f = float(f64.mean())
        var_f = float(f64.var())
        s2 = float(np.dot(f64, f64))
    step = max(1, -(-n // HIST_SAMPLE))
    sample = flat[::step] if step > 1 else flat
    # lo == hi: one full bin says it honestly (a histogram needs a width).
    if hi_f > lo_f:
        hist = np.histogram(sample, bins=BINS, range=(lo_f, hi_f))[0].tolist()
    else:
        hist = [int(sample.size)] + [0] * (BINS - 1)
    sat = None
    if saturation in SATURATION:
        sat = _saturation(a, saturation, axis)
    rec = _finish(count, n, mean_f, var_f * n, lo_f, hi_f, abssum or 0.0, s2,
                  n - nonzero, nans, infs, hist, lo_f, hi_f, sat)
    if abssum is None:
        rec["absmean"] = None
    if step > 1:
        rec["hist"]["sampled"] = int(sample.size)
    return rec


def _saturation(x: np.ndarray, kind: str, axis: int) -> float | None:
    if kind == "sigmoid":
        return float(np.mean((x < 0.01) | (x > 0.99)))
    if kind == "tanh":
        return float(np.mean(np.abs(x) > 0.99))
    if x.ndim == 0:
        return None
    return float(np.mean(np.max(x, axis=axis) > 0.99))


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
    absknown = True
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
        abssum += (r["absmean"] or 0.0) * k
        absknown = absknown and r["absmean"] is not None
        sq += r["norm"] ** 2
    nans = sum(r["nan"] for r in recs)
    infs = sum(r["inf"] for r in recs)
    out = _finish(count, int(n), mean, m2, lo, hi, abssum, sq, 0, nans, infs, None, 0, 0, None)
    out["zeros"] = _sig(zeros / count) if count else None
    if not absknown:
        out["absmean"] = None
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
