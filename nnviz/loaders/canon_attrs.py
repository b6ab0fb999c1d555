"""Each family's attribute spellings -> the canonical attributes of :mod:`nnviz.canon`.

The only place that knows ONNX says ``kernel_shape`` and ``pads``, Keras ``kernel_size``,
``pool_size``, ``filters`` and ``dilation_rate``, torch ``kernel_size``, ``out_channels`` and
``keepdim``, TFLite ``stride_h`` and ``filter_width``. Every loader calls
:func:`canonicalize` on the graph it built (or :func:`canonical` on a node as it makes it,
when it runs shape rules while reading, as the TorchScript reader does).
"""

from __future__ import annotations

import re
from typing import Any

from nnviz.ir import Graph, Node
from nnviz.shape_rules import kernel_param

# canonical name -> the framework spellings it is read from, first present wins. Names that
# only one family uses are listed under that family below.
_SPATIAL = {
    "kernel": ("kernel_shape", "kernel_size", "pool_size"),  # ONNX / torch, Keras / Keras pools
    "stride": ("strides", "stride"),                          # ONNX, Keras / torch
    "dilation": ("dilations", "dilation", "dilation_rate"),   # ONNX / torch / Keras
    "output_padding": ("output_padding",),
}
_SCALAR = {
    "groups": ("group", "groups"),                            # ONNX / torch, Keras
    "channels_out": ("filters", "out_channels"),              # Keras / torch
    "channels_in": ("in_channels",),                          # torch
    "features_out": ("units", "out_features"),                # Keras / torch
    "features_in": ("in_features",),                          # torch
    "depth_multiplier": ("depth_multiplier",),                # Keras, TFLite
    "output_size": ("output_size",),                          # torch adaptive pools
    "output_shape": ("output_shape",),                        # Keras EinsumDense
    "start_dim": ("start_dim",),                              # torch flatten
    "end_dim": ("end_dim",),
}
_BOOL = {
    "transposed": ("transposed",),                            # aten.convolution
    "ceil_mode": ("ceil_mode",),                              # ONNX / torch pools
    "keepdims": ("keepdims", "keepdim", "keep_dims"),         # ONNX, Keras / torch / TFLite
    "allowzero": ("allowzero",),                              # ONNX Reshape
    "trans_a": ("transA",),                                   # ONNX Gemm
    "trans_b": ("transB",),
    "batch_first": ("batch_first",),                          # torch recurrent / attention
}
_DIMSUFFIX = re.compile(r"([123])[dD]$")

# ATen schemas: positional argument -> torch's keyword, for calls recorded as ``argN``
# (torch.export and TorchScript keep arguments by position).
_CONV_ARGS = {3: "stride", 4: "padding", 5: "dilation", 6: "groups"}
_ATEN_ARGS: dict[str, dict[int, str]] = {
    **{f"conv{d}d": _CONV_ARGS for d in (1, 2, 3)},
    **{f"conv_transpose{d}d": {3: "stride", 4: "padding", 5: "output_padding", 6: "groups",
                               7: "dilation"} for d in (1, 2, 3)},
    "convolution": {3: "stride", 4: "padding", 5: "dilation", 6: "transposed",
                    7: "output_padding", 8: "groups"},
    **{f"max_pool{d}d{s}": {1: "kernel_size", 2: "stride", 3: "padding", 4: "dilation",
                            5: "ceil_mode"} for d in (1, 2, 3) for s in ("", "_with_indices")},
    **{f"avg_pool{d}d": {1: "kernel_size", 2: "stride", 3: "padding", 4: "ceil_mode"}
       for d in (1, 2, 3)},
    **{f"adaptive_{k}_pool{d}d": {1: "output_size"} for k in ("avg", "max") for d in (1, 2, 3)},
}


def _aten_base(op: str) -> str:
    """'aten.conv2d.default' / 'aten::conv2d' / 'aten.conv2d' -> 'conv2d'; '' otherwise."""
    if op.startswith("aten::"):
        return op[6:].split(".")[0]
    if op.startswith("aten."):
        return op.split(".")[1]
    return ""


def _torch_named(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """A torch call's attributes with its positional ``argN`` named by the ATen schema (a
    keyword the call spelled out wins; an empty pool stride means 'the kernel')."""
    schema = _ATEN_ARGS.get(_aten_base(op))
    if not schema:
        return attrs
    named = dict(attrs)
    for pos, key in schema.items():
        value = attrs.get(f"arg{pos}")
        if value is None or key in attrs or (key == "stride" and value == []):
            continue
        named[key] = value
    return named


# Every attribute name this module reads: a node with none of them has nothing to translate.
_READ = frozenset(
    {s for table in (_SPATIAL, _SCALAR, _BOOL) for spellings in table.values() for s in spellings}
    | {"auto_pad", "pads", "padding", "axis", "axes", "dim", "dims", "perm", "permutation",
       "dim0", "shape", "target_shape", "size", "equation", "data_format", "activation",
       "num_heads", "fused_activation_function", "stride_h", "stride_w", "dilation_hfactor",
       "dilation_wfactor", "filter_height", "filter_width"})


# spelling -> the canonical names of the tables above read from it
_NAMES_OF: dict[str, list[str]] = {}
for _table in (_SPATIAL, _SCALAR, _BOOL):
    for _name, _spellings in _table.items():
        for _s in _spellings:
            _NAMES_OF.setdefault(_s, []).append(_name)


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    for n in names:
        v = attrs.get(n)
        if v is not None:
            return v
    return None


def _spatial(value: Any, rank: int) -> list[int] | None:
    """An int (repeated ``rank`` times, 1 when the op does not say its rank) or a list of
    ints -> a list; anything else (a damaged attribute) -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return [value] * rank
    if isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


def _padding(attrs: dict[str, Any]) -> Any:
    """ONNX auto_pad / pads, Keras / TFLite padding names, torch per-axis pads -> canonical."""
    auto = attrs.get("auto_pad")
    if isinstance(auto, bytes):
        auto = auto.decode("utf-8", "replace")
    if auto == "SAME_UPPER":
        return "same"
    if auto == "SAME_LOWER":
        return "same_lower"
    if auto == "VALID":
        return "valid"
    pads = attrs.get("pads")
    padding = attrs.get("padding")
    if isinstance(pads, (list, tuple)):  # ONNX: explicit begins, then ends
        if all(isinstance(p, int) and not isinstance(p, bool) for p in pads):
            return list(pads)
        return "unknown"
    if isinstance(padding, str):
        return padding.lower()
    if isinstance(padding, bool):
        return "unknown"
    if isinstance(padding, int):
        return [padding]
    if isinstance(padding, (list, tuple)) and padding:
        if all(isinstance(p, int) and not isinstance(p, bool) for p in padding):
            # torch: symmetric pads per spatial axis
            return [padding[0]] if len(padding) == 1 else list(padding) + list(padding)
        return "unknown"  # per-side pairs ((top, bottom), (left, right)): not a conv's
    if pads is not None or padding is not None:
        return "unknown"
    return None


def canonical(op: str, kind: str, attrs: dict[str, Any], family: str = "") -> dict[str, Any]:
    """The canonical attributes of one node, from its framework attributes."""
    if family == "torch":
        attrs = _torch_named(op, attrs)
    out: dict[str, Any] = {}
    if not attrs or attrs.keys().isdisjoint(_READ):
        # most nodes of a big graph (Add, MatMul, Relu): nothing to translate
        if family == "keras":
            _keras(op, kind, attrs, out)
        return out
    wanted = {name for key in attrs if key in _NAMES_OF for name in _NAMES_OF[key]}
    m = _DIMSUFFIX.search(op)
    rank = int(m.group(1)) if m else 1
    for name, spellings in _SPATIAL.items():
        if name not in wanted:
            continue
        v = _spatial(_first(attrs, spellings), rank)
        if v is not None:
            out[name] = v
    if "kernel" in out and "stride" not in out and kind == "pool" and \
            ("pool_size" in attrs or "kernel_size" in attrs):
        out["stride"] = list(out["kernel"])  # Keras and torch pools: stride defaults to kernel
    pad = _padding(attrs)
    if pad is not None:
        out["padding"] = pad
    for name, spellings in _SCALAR.items():
        if name not in wanted:
            continue
        v = _first(attrs, spellings)
        if v is not None:
            out[name] = list(v) if isinstance(v, tuple) else v
    for name, spellings in _BOOL.items():
        if name not in wanted:
            continue
        v = _first(attrs, spellings)
        if v is not None and not isinstance(v, (list, tuple, dict)):
            out[name] = bool(v)
    _plumbing(op, attrs, out, family)
    if family == "keras":
        _keras(op, kind, attrs, out)
    elif family == "tflite":
        _tflite(attrs, out)
    eq = attrs.get("equation")
    if isinstance(eq, bytes):
        eq = eq.decode("utf-8", "replace")
    if isinstance(eq, str):
        out["equation"] = eq
    return out


def _plumbing(op: str, attrs: dict[str, Any], out: dict[str, Any], family: str) -> None:
    """Axes, permutations and reshape targets."""
    axis = _first(attrs, ("axis", "dim"))  # ONNX / Keras, torch
    if axis is not None:
        out["axis"] = axis
    axes = _first(attrs, ("axes", "dim", "axis"))
    if axes is not None:
        out["axes"] = [axes] if isinstance(axes, int) else axes
    perm = _first(attrs, ("perm", "dims", "permutation"))  # ONNX, torch / Keras Permute
    if perm is not None:
        out["perm"] = list(perm) if isinstance(perm, tuple) else perm
    if "dim0" in attrs:  # torch transpose(dim0, dim1)
        out["swap"] = [attrs["dim0"], attrs.get("dim1", 0)]
    shape = _first(attrs, ("shape", "target_shape", "size"))  # ONNX / torch, Keras, torch view
    if isinstance(shape, (list, tuple)) and all(
            isinstance(d, int) and not isinstance(d, bool) for d in shape):
        out["shape"] = list(shape)  # (an Input's shape with a None batch is not a target)
        if "target_shape" in attrs:
            out["keeps_batch"] = True


def _keras(op: str, kind: str, attrs: dict[str, Any], out: dict[str, Any]) -> None:
    fmt = attrs.get("data_format")
    if fmt in ("channels_first", "channels_last"):
        out["data_layout"] = fmt
    out["weight_layout"] = "spatial_in_out"  # kernels are (k..., in, out)
    act = attrs.get("activation")
    if isinstance(act, dict):  # a serialized activation object: {"class_name": ..., ...}
        act = act.get("config", {}).get("name") or act.get("class_name")
    if isinstance(act, str) and act and act.lower() not in ("linear", "none"):
        out["activation"] = act
    lower = op.lower()
    if lower == "permute" and isinstance(out.get("perm"), list):
        dims = out["perm"]
        if sorted(dims) == list(range(1, len(dims) + 1)):
            out["perm"] = [0, *dims]  # Permute's dims are 1-based, without the batch axis
    if lower == "concatenate" and "axis" not in out:
        out["axis"] = -1
    if "num_heads" in attrs and "key_dim" in attrs and "batch_first" not in out:
        out["batch_first"] = True  # Keras attention is always (batch, seq, features)


def _tflite(attrs: dict[str, Any], out: dict[str, Any]) -> None:
    act = attrs.get("fused_activation_function")
    if isinstance(act, str) and act:
        out["activation"] = act.lower()
    for name, (h, w) in (("stride", ("stride_h", "stride_w")),
                         ("dilation", ("dilation_hfactor", "dilation_wfactor")),
                         ("kernel", ("filter_height", "filter_width"))):  # pools' window
        pair = _ints((attrs.get(h), attrs.get(w)))
        if pair is not None:
            out[name] = pair


def _ints(dims: Any) -> list[int] | None:
    if dims is None or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
        return None
    return [int(d) for d in dims]


def from_weights(node: Node, family: str) -> dict[str, Any]:
    """What a family's weight layout says of a convolution or linear layer: kernel size and
    channels (ONNX, torch: (out, in/groups, k...); TFLite: (out, kh, kw, in), depthwise
    (1, kh, kw, channels)); features of a torch Linear (out, in)."""
    w = kernel_param(node)
    shape = w.shape if w is not None else None
    if shape is None or len(shape) < 2:
        return {}
    out: dict[str, Any] = {}
    if node.kind == "conv" and family in ("onnx", "torch") and len(shape) >= 3:
        groups = node.canon.get("groups", 1)
        kernel = _ints(shape[2:])
        if kernel is not None:
            out["kernel"] = kernel
        transposed = "transpose" in node.op.lower() or node.canon.get("transposed")
        o, i = (shape[1], shape[0]) if transposed else (shape[0], shape[1])
        if isinstance(o, int) and isinstance(groups, int):
            out["channels_out"] = o * groups if transposed else o
        if isinstance(i, int) and isinstance(groups, int):
            out["channels_in"] = i if transposed else i * groups
    elif node.kind == "conv" and family == "tflite" and len(shape) == 4:
        kernel = _ints(shape[1:3])
        if kernel is not None:
            out["kernel"] = kernel
        if "DEPTHWISE" in node.op.upper() and isinstance(shape[3], int):
            out["channels_out"] = shape[3]  # (1, kh, kw, channels x multiplier)
        elif "TRANSPOSE" not in node.op.upper() and isinstance(shape[0], int):
            out["channels_out"], out["channels_in"] = shape[0], shape[3]
    elif node.kind == "linear" and family == "torch" and node.op.lower().endswith("linear") \
            and len(shape) == 2 and all(isinstance(d, int) for d in shape):
        out["features_out"], out["features_in"] = int(shape[0]), int(shape[1])
    return out


def canonicalize(graph: Graph, family: str | None = None) -> Graph:
    """Fill ``node.canon`` for every node of ``graph`` (in place), by its family's spellings
    (``family`` defaults to the graph's ``meta["framework"]``). Facts the loader already put
    in ``canon`` (a torch module box takes its convolution's) win over its attributes."""
    fam = family if family is not None else str(graph.meta.get("framework", "")).lower()
    for node in graph.nodes.values():
        node.canon = {**canonical(node.op, node.kind, node.attrs, fam), **node.canon}
        if node.kind in ("conv", "linear") and node.params:
            node.canon = {**from_weights(node, fam), **node.canon}
    return graph


def canonicalize_node(node: Node, family: str) -> Node:
    node.canon = canonical(node.op, node.kind, node.attrs, family)
    return node
