"""Canonical node attributes: one spelling for what every framework spells its own way.

``Node.attrs`` keeps the framework's own attributes as the file has them (the details panel,
the JSON output and the tooltips show them). Next to them each loader fills ``Node.canon``
with the facts the passes and layouts need, under the names below, so no code outside
``nnviz/loaders/`` knows that ONNX says ``kernel_shape``, Keras ``kernel_size`` /
``pool_size`` and TFLite ``filter_height`` (``tests/test_architecture.py`` checks). A name is
present only when the loader knows the value; readers take the documented default otherwise.

Spatial lists (``kernel``, ``stride``, ``dilation``, ``output_padding``) hold one int per
spatial axis in the tensor's axis order; a one-element list means the same value on every
spatial axis (a framework that gave a bare int on an op whose rank the loader cannot tell).

``padding`` is one of
  - a list of ints, the explicit pads of every side: ``[b0, b1, ..., e0, e1, ...]`` (begins of
    each spatial axis, then ends, as ONNX ``pads``); symmetric per-axis pads ``[p0, p1]``
    (torch) become ``[p0, p1, p0, p1]``; a one-element list pads every side by that much;
  - ``"valid"`` (no padding), ``"same"`` (output = ceil(input / stride), any odd pad at the
    end: TF/Keras/TFLite ``SAME``, ONNX ``SAME_UPPER``), ``"same_lower"`` (ONNX
    ``SAME_LOWER``: odd pad at the start) -- kept symbolic, as the framework left it;
  - any other string (``"causal"``, ``"unknown"``): a rule nnviz does not compute.
Absent means no padding.
"""

from __future__ import annotations

from typing import Any

# name -> (type, meaning). The one list of canonical names: the docs (DESIGN.md), the loaders
# and the tests read it.
CANON: dict[str, tuple[str, str]] = {
    # convolutions, pools, transposed convolutions
    "kernel": ("list[int]", "spatial kernel / pool window size"),
    "stride": ("list[int]", "stride per spatial axis (a pool without one: its kernel)"),
    "padding": ("list[int] | str", "explicit pads [b..., e...] or 'same'/'same_lower'/'valid'"),
    "dilation": ("list[int]", "dilation per spatial axis"),
    "output_padding": ("list[int]", "transposed convolution: extra size at the end"),
    "groups": ("int", "convolution groups (depthwise: groups == channels)"),
    "depth_multiplier": ("int", "depthwise convolution: output channels per input channel"),
    "transposed": ("bool", "a transposed convolution expressed as a plain one (aten)"),
    "ceil_mode": ("bool", "pool output size rounds up"),
    "channels_in": ("int", "input channels of a convolution"),
    "channels_out": ("int", "output channels of a convolution"),
    "features_in": ("int", "input features of a dense / linear layer"),
    "features_out": ("int", "output features of a dense / linear layer"),
    "output_size": ("int | list[int | None]", "adaptive pool output size (None: keep)"),
    "output_shape": ("list[int | None]", "EinsumDense output shape without the batch"),
    # layouts and fused parts
    "data_layout": ("str", "'channels_first' or 'channels_last' (absent: the family's)"),
    "weight_layout": ("str", "'out_in_spatial' or 'spatial_in_out' (absent: the family's)"),
    "activation": ("str", "an activation the layer applies itself, by its framework name"),
    "batch_first": ("bool", "sequence inputs are (batch, seq, features)"),
    # shape plumbing and reductions
    "axis": ("int", "the one axis of concat / gather / ONNX-style flatten"),
    "axes": ("list[int]", "the axes a reduce / squeeze / unsqueeze acts on"),
    "keepdims": ("bool", "a reduction keeps the reduced axes as size 1"),
    "perm": ("list[int]", "a transpose's full permutation, batch axis included"),
    "swap": ("list[int]", "a transpose of two axes [d0, d1] (torch transpose(d0, d1))"),
    "shape": ("list[int]", "a reshape's target (0 copies the input dim, -1 is inferred)"),
    "keeps_batch": ("bool", "the reshape target omits the batch axis, which stays (Keras)"),
    "allowzero": ("bool", "reshape: a 0 in the target is a real 0, not 'copy'"),
    "start_dim": ("int", "flatten: first axis merged (torch semantics)"),
    "end_dim": ("int", "flatten: last axis merged"),
    "trans_a": ("bool", "Gemm: the first operand is transposed"),
    "trans_b": ("bool", "Gemm: the second operand is transposed"),
    "equation": ("str", "einsum equation"),
}

SAME_PADDINGS = ("same", "same_lower")


def as_list(value: Any, n: int) -> list[int] | None:
    """A canonical spatial list (or a bare int) -> a list of length n, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value] * n
    if isinstance(value, (list, tuple)):
        vals = list(value)
        if len(vals) == n and all(isinstance(v, int) for v in vals):
            return vals
        if len(vals) == 1 and isinstance(vals[0], int):
            return vals * n
    return None


def explicit_padding(padding: Any, nsp: int) -> tuple[str, list[int]]:
    """A canonical ``padding`` -> ('explicit', [begins..., ends...]), ('same', []) or
    ('unknown', []) for ``nsp`` spatial axes."""
    if padding is None:
        return "explicit", [0] * (2 * nsp)
    if isinstance(padding, str):
        if padding in SAME_PADDINGS:
            return "same", []
        if padding == "valid":
            return "explicit", [0] * (2 * nsp)
        return "unknown", []
    if isinstance(padding, list) and all(isinstance(p, int) and not isinstance(p, bool)
                                         for p in padding):
        if len(padding) == 2 * nsp:
            return "explicit", list(padding)
        if len(padding) == 1:
            return "explicit", padding * (2 * nsp)
    return "unknown", []


def check(canon: dict[str, Any]) -> list[str]:
    """What is wrong with a node's canonical attributes (unknown names, wrong types); [] if
    nothing. The loader tests run it on every node they read."""
    problems = []
    for name, value in canon.items():
        if name not in CANON:
            problems.append(f"unknown canonical attribute {name!r}")
            continue
        kind = CANON[name][0]
        if kind == "bool" and not isinstance(value, bool):
            problems.append(f"{name} should be a bool, not {value!r}")
        elif kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append(f"{name} should be an int, not {value!r}")
        elif kind == "str" and not isinstance(value, str):
            problems.append(f"{name} should be a string, not {value!r}")
        elif kind == "list[int]" and not (isinstance(value, list) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in value)):
            problems.append(f"{name} should be a list of ints, not {value!r}")
    return problems
