"""Output shapes of Keras layers computed from their config alone (no keras import).

Keras 3 functional configs store the shape of every tensor that some layer consumes, but not
of the model outputs, and Sequential models and Keras 2 files store no shapes at all. These
rules follow Keras's own ``compute_output_shape`` for the common layers; anything not covered
returns None so the shape stays unknown instead of being guessed.
"""

from __future__ import annotations

import math
from typing import Any

from nnviz.shape_math import conv_out, conv_transpose_out, effective_kernel, same_out

Dim = int | None
KShape = tuple[Dim, ...]

# Layers whose output has the input's shape.
IDENTITY = frozenset({
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization", "SpectralNormalization", "Normalization", "Rescaling", "Masking",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Identity", "Activation",
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU", "RandomFlip",
    "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness",
    "LayerScale",
})
MERGE = frozenset({"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"})


def as_shape(value: Any) -> KShape | None:
    """A config shape (list with nulls) -> tuple, or None when it is not a flat shape."""
    if isinstance(value, (list, tuple)) and all(v is None or isinstance(v, int) for v in value):
        return tuple(None if v is None or v < 0 else v for v in value)
    return None


def _tuple(value: Any, n: int) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,) * n


def _spatial(shape: KShape, cfg: dict, rank: int) -> tuple[list[int], int]:
    """Indices of the spatial dims and of the channel dim for this data_format."""
    if cfg.get("data_format") == "channels_first":
        return list(range(2, 2 + rank)), 1
    return list(range(1, 1 + rank)), len(shape) - 1


def conv_length(length: Dim, kernel: int, padding: str, stride: int, dilation: int = 1) -> Dim:
    """Keras' padding names over the shared arithmetic (nnviz.shape_math)."""
    if length is None:
        return None
    if padding in ("same", "causal"):
        return same_out(length, stride)
    if padding == "full":
        k = effective_kernel(kernel, dilation)
        return conv_out(length, kernel, stride, dilation, k - 1, k - 1)
    out = conv_out(length, kernel, stride, dilation)
    return 0 if out is None else out  # a window that does not fit: Keras says 0


def deconv_length(length: Dim, kernel: int, padding: str, stride: int, dilation: int,
                  output_padding: int | None) -> Dim:
    if length is None:
        return None
    k = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(k - stride, 0)
        if padding == "full":
            return length * stride - (stride + k - 2)
        return length * stride
    pad = {"same": k // 2, "valid": 0, "full": k - 1}.get(padding, 0)
    return conv_transpose_out(length, kernel, stride, dilation, pad, pad, output_padding)


def _rank(cls: str) -> int:
    for r in (1, 2, 3):
        if f"{r}D" in cls:
            return r
    return 2


def _conv(cls: str, cfg: dict, shape: KShape) -> KShape | None:
    rank = _rank(cls)
    if len(shape) != rank + 2:
        return None
    dims, ch = _spatial(shape, cfg, rank)
    ks = _tuple(cfg.get("kernel_size", 1), rank)
    st = _tuple(cfg.get("strides", 1), rank)
    dl = _tuple(cfg.get("dilation_rate", 1), rank)
    pad = cfg.get("padding", "valid")
    out = list(shape)
    transpose = "Transpose" in cls
    op = _tuple(cfg.get("output_padding"), rank)
    for i, d in enumerate(dims):
        if transpose:
            out[d] = deconv_length(shape[d], ks[i], pad, st[i], dl[i], op[i])
        else:
            out[d] = conv_length(shape[d], ks[i], pad, st[i], dl[i])
    if cls.startswith("DepthwiseConv"):
        mult = cfg.get("depth_multiplier", 1)
        out[ch] = None if shape[ch] is None else shape[ch] * mult
    else:
        out[ch] = cfg.get("filters")
    return tuple(out)


def _pool(cls: str, cfg: dict, shape: KShape) -> KShape | None:
    rank = _rank(cls)
    if len(shape) != rank + 2:
        return None
    dims, _ = _spatial(shape, cfg, rank)
    ps = _tuple(cfg.get("pool_size", 2), rank)
    st = cfg.get("strides")
    st = ps if st is None else _tuple(st, rank)
    out = list(shape)
    for i, d in enumerate(dims):
        out[d] = conv_length(shape[d], ps[i], cfg.get("padding", "valid"), st[i])
    return tuple(out)


def _global_pool(cls: str, cfg: dict, shape: KShape) -> KShape | None:
    rank = _rank(cls)
    if len(shape) != rank + 2:
        return None
    dims, ch = _spatial(shape, cfg, rank)
    if cfg.get("keepdims"):
        return tuple(1 if i in dims else d for i, d in enumerate(shape))
    return (shape[0], shape[ch])


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    """ZeroPadding/Cropping amounts as (before, after) per spatial dim."""
    if isinstance(value, int):
        return [(value, value)] * rank
    items = list(value)
    if rank == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
        return [(items[0], items[1])]
    return [(v, v) if isinstance(v, int) else (v[0], v[1]) for v in items]


def _pad_crop(cls: str, cfg: dict, shape: KShape, sign: int) -> KShape | None:
    rank = _rank(cls)
    if len(shape) != rank + 2:
        return None
    dims, _ = _spatial(shape, cfg, rank)
    amounts = _pairs(cfg.get("padding" if sign > 0 else "cropping", 1), rank)
    out = list(shape)
    for d, (a, b) in zip(dims, amounts, strict=False):
        out[d] = None if shape[d] is None else shape[d] + sign * (a + b)
    return tuple(out)


def _upsample(cls: str, cfg: dict, shape: KShape) -> KShape | None:
    rank = _rank(cls)
    if len(shape) != rank + 2:
        return None
    dims, _ = _spatial(shape, cfg, rank)
    size = _tuple(cfg.get("size", 2), rank)
    out = list(shape)
    for i, d in enumerate(dims):
        out[d] = None if shape[d] is None else shape[d] * size[i]
    return tuple(out)


def _reshape(cfg: dict, shape: KShape) -> KShape | None:
    target = cfg.get("target_shape")
    if not isinstance(target, (list, tuple)):
        return None
    target = [None if v is None else int(v) for v in target]
    if -1 in target:
        known = math.prod(v for v in target if v not in (-1, None))
        total = None if any(d is None for d in shape[1:]) else math.prod(shape[1:])
        fill = None if total is None or known == 0 else total // known
        target = [fill if v == -1 else v for v in target]
    return (shape[0], *target)


def _flatten(cfg: dict, shape: KShape) -> KShape:
    rest = shape[1:]
    if cfg.get("data_format") == "channels_first" and len(rest) > 1:
        rest = rest[1:] + rest[:1]
    return (shape[0], None if any(d is None for d in rest) else math.prod(rest))


def _concat(cfg: dict, shapes: list[KShape]) -> KShape | None:
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        return None
    axis = cfg.get("axis", -1)
    axis = axis % rank
    out = list(shapes[0])
    vals = [s[axis] for s in shapes]
    out[axis] = None if any(v is None for v in vals) else sum(vals)
    for i in range(rank):
        if i != axis and out[i] is None:
            out[i] = next((s[i] for s in shapes if s[i] is not None), None)
    return tuple(out)


def _broadcast(shapes: list[KShape]) -> KShape:
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out: list[Dim] = []
    for dims in zip(*padded, strict=True):
        known = [d for d in dims if d is not None and d != 1]
        if known:
            out.append(known[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _rnn(cls: str, cfg: dict, shape: KShape) -> list[KShape] | None:
    units = cfg.get("units")
    if units is None and isinstance(cfg.get("cell"), dict):
        units = cfg["cell"].get("config", {}).get("units")
    if units is None or len(shape) < 3:
        return None
    out = (shape[0], shape[1], units) if cfg.get("return_sequences") else (shape[0], units)
    if cfg.get("time_major") and cfg.get("return_sequences"):
        out = (shape[0], shape[1], units)
    result = [out]
    if cfg.get("return_state"):
        n_states = 2 if "LSTM" in cls else 1
        result += [(shape[0], units)] * n_states
    return result


def _bidirectional(cfg: dict, shape: KShape) -> list[KShape] | None:
    inner = cfg.get("layer")
    if not isinstance(inner, dict):
        return None
    inner_cfg = inner.get("config", {})
    outs = _rnn(inner.get("class_name", ""), inner_cfg, shape)
    if not outs:
        return None
    seq = outs[0]
    mode = cfg.get("merge_mode", "concat")
    states = outs[1:]
    if mode == "concat":
        merged = [seq[:-1] + (None if seq[-1] is None else seq[-1] * 2,)]
    elif mode is None:
        merged = [seq, seq]
    else:
        merged = [seq]
    return merged + states + states


def _time_distributed(cfg: dict, shape: KShape) -> list[KShape] | None:
    inner = cfg.get("layer")
    if not isinstance(inner, dict) or len(shape) < 3:
        return None
    outs = infer(inner.get("class_name", ""), inner.get("config", {}), [(shape[0], *shape[2:])])
    if not outs or outs[0] is None:
        return None
    return [(shape[0], shape[1], *outs[0][1:])]


def infer(cls: str, cfg: dict, inputs: list[KShape | None]) -> list[KShape | None] | None:
    """Output shapes of one call of a layer of class ``cls``; None when unknown.

    ``inputs`` are the shapes of the tensors passed to the call, in order.
    """
    if not inputs or inputs[0] is None:
        return None
    try:
        return _infer(cls, cfg, inputs)
    except (TypeError, ValueError, IndexError, ZeroDivisionError, KeyError):
        # A config this rule does not understand: leave the shape unknown, never fail.
        return None


def _infer(cls: str, cfg: dict, inputs: list[KShape | None]) -> list[KShape | None] | None:
    shape = inputs[0]
    assert shape is not None
    if cls in IDENTITY:
        return [shape]
    if cls in MERGE:
        if any(s is None for s in inputs):
            return None
        return [_broadcast([s for s in inputs if s is not None])]
    if cls == "Concatenate":
        if any(s is None for s in inputs):
            return None
        return [_concat(cfg, [s for s in inputs if s is not None])]
    if cls in ("Dense", "QuantizedDense"):
        return [(*shape[:-1], cfg.get("units"))]
    if cls == "EinsumDense":
        out = cfg.get("output_shape")
        out = [out] if isinstance(out, int) else out
        if not isinstance(out, (list, tuple)):
            return None
        return [(shape[0], *[None if v is None else int(v) for v in out])]
    if cls.startswith(("Conv", "DepthwiseConv", "SeparableConv")) and "LSTM" not in cls:
        return [_conv(cls, cfg, shape)]
    if cls.startswith(("MaxPooling", "AveragePooling", "MaxPool", "AvgPool")):
        return [_pool(cls, cfg, shape)]
    if cls.startswith(("GlobalAveragePooling", "GlobalMaxPooling", "GlobalAvgPool",
                       "GlobalMaxPool")):
        return [_global_pool(cls, cfg, shape)]
    if cls.startswith("ZeroPadding"):
        return [_pad_crop(cls, cfg, shape, +1)]
    if cls.startswith("Cropping"):
        return [_pad_crop(cls, cfg, shape, -1)]
    if cls.startswith("UpSampling"):
        return [_upsample(cls, cfg, shape)]
    if cls == "Flatten":
        return [_flatten(cfg, shape)]
    if cls == "Reshape":
        return [_reshape(cfg, shape)]
    if cls == "Permute":
        dims = cfg.get("dims")
        return [(shape[0], *[shape[d] for d in dims])]
    if cls == "RepeatVector":
        return [(shape[0], cfg.get("n"), *shape[1:])]
    if cls == "Embedding":
        return [(*shape, cfg.get("output_dim"))]
    if cls in ("LSTM", "GRU", "SimpleRNN", "RNN", "CuDNNLSTM", "CuDNNGRU"):
        return _rnn(cls, cfg, shape)
    if cls == "Bidirectional":
        return _bidirectional(cfg, shape)
    if cls == "TimeDistributed":
        return _time_distributed(cfg, shape)
    if cls in ("MultiHeadAttention", "GroupedQueryAttention"):
        out = cfg.get("output_shape")
        if out is None:
            return [shape]
        out = [out] if isinstance(out, int) else list(out)
        return [(*shape[:-1], *out)]
    if cls in ("Resizing", "CenterCrop", "RandomCrop"):
        dims, _ = _spatial(shape, cfg, 2)
        out = list(shape)
        out[dims[0]], out[dims[1]] = cfg.get("height"), cfg.get("width")
        return [tuple(out)]
    if cls.startswith(("AdaptiveAveragePooling", "AdaptiveMaxPooling")):
        rank = _rank(cls)
        dims, _ = _spatial(shape, cfg, rank)
        size = _tuple(cfg.get("output_size"), rank)
        out = list(shape)
        for i, d in enumerate(dims):
            out[d] = size[i]
        return [tuple(out)]
    if cls == "ReversibleEmbedding":
        return [(*shape, cfg.get("output_dim"))]
    if cls == "Dot":
        other = inputs[1] if len(inputs) > 1 else None
        axes = cfg.get("axes")
        if other is None or not isinstance(axes, int) or len(shape) != len(other):
            return None
        a = axes % len(shape)
        rest = [d for i, d in enumerate(shape) if i != a] + \
            [d for i, d in enumerate(other) if i not in (0, a)]
        return [tuple(rest) if len(rest) > 1 else (*rest, 1)]
    if cls in ("Attention", "AdditiveAttention"):
        if len(inputs) > 1 and inputs[1] is not None:
            return [(*shape[:-1], inputs[1][-1])]
        return [shape]
    return None
