"""ONNX model -> ir.Graph, without reading weight bytes.

* Files are read lazily (:mod:`nnviz.loaders.onnx_wire`): large tensor payloads are skipped by
  their length prefix and external data files are never opened; parameter shapes come from
  the initializers' dims.
* Initializers and ``Constant`` nodes are not boxes: they become ``params`` of the nodes that
  consume them (small integer arguments such as Reshape's ``shape`` become ``attrs`` under the
  operator schema's input name, which is what the shape pass reads).
* Shapes come from value_info plus onnx shape inference; symbolic dims stay names; a failing
  inference leaves shapes unknown instead of failing the load.
* Model-local functions are inlined, each call becoming a group; the nodes of ``If``/``Loop``/
  ``Scan`` subgraphs are kept in groups under the control-flow node, and tensors they capture
  from the outer graph give ordinary edges.
* Groups come from name scopes: ``/encoder/layer.0/attn/MatMul`` -> ``("encoder", "layer.0",
  "attn")``.
"""

from __future__ import annotations

import math
import os
import struct
import sys
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnviz.errors import ModelError
from nnviz.ir import Graph, Group, Node, Param, Shape, Tensor
from nnviz.kinds import kind_for
from nnviz.loaders.canon_attrs import canonical, from_weights
from nnviz.loaders.onnx_fidelity import (
    ANONYMOUS,
    ONE_OP_MODULES,
    CallTracker,
    Folded,
    Read,
    adopt_unscoped,
    assign_roles,
    folded_parameters,
    fx_kinds,
    is_weight_input,
    mark_shared,
    module_names,
    parse_signature,
    splice_no_ops,
    stack_frames,
    tie_transposed_copies,
)
from nnviz.loaders.onnx_schemas import INPUTS as SCHEMA_INPUTS
from nnviz.loaders.onnx_schemas import OPSET as SCHEMA_OPSET
from nnviz.util import paused_gc

# TensorProto.DataType -> IR dtype name.
DTYPES: dict[int, str] = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
    14: "complex64", 15: "complex128", 16: "bfloat16", 17: "float8", 18: "float8",
    19: "float8", 20: "float8", 21: "uint4", 22: "int4", 23: "float4",
}
_INT_DTYPES = {"uint8", "int8", "uint16", "int16", "int32", "int64", "uint32", "uint64", "bool",
               "uint4", "int4"}
# Constant arguments with at most this many elements are recorded as attrs (their values).
_SMALL_CONST = 64
# Ops that only re-express a constant (a tied weight's Identity, a transposed or dequantized
# weight): with constant inputs only, their output is a constant too, not a box.
_CONST_FOLD_OPS = {"Identity", "Cast", "CastLike", "Transpose", "Reshape", "Squeeze",
                   "Unsqueeze", "Flatten", "DequantizeLinear", "Expand", "Concat"}
# Of those, the ops whose first input is the only data (the rest are shape/axes/scale
# arguments): the result is a view of that one weight, not a new one.
_ALIAS_OPS = {"Identity", "Cast", "CastLike", "Transpose", "Reshape", "Squeeze", "Unsqueeze",
              "Flatten", "DequantizeLinear", "Expand"}
_GRAPH_ATTR_TYPES = (5, 10)  # AttributeProto.GRAPH, GRAPHS
_UNKNOWN = (None, None)


def load_file(path: str | os.PathLike, **options: Any) -> Graph:
    """Read an ONNX file lazily (weights never materialized) and convert it to the IR."""
    from google.protobuf.message import DecodeError

    from nnviz.loaders.onnx_wire import WireError, onnx_proto, read_stripped

    path = Path(path)
    spans: dict[str, tuple[int, int]] = {}
    try:
        data = read_stripped(path, spans)
    except FileNotFoundError:
        raise ModelError(path, "file not found") from None
    except IsADirectoryError:
        raise ModelError(path, "is a directory, not a model file") from None
    except PermissionError:
        raise ModelError(path, "cannot be read (permission denied)") from None
    except WireError as exc:
        if str(exc) == "empty file":
            raise ModelError(path, "is empty (0 bytes)") from None
        raise ModelError(path, "is not a valid ONNX model (damaged or truncated protobuf)") \
            from None
    except (OSError, ValueError) as exc:  # mmap failures on special files
        raise ModelError(path, f"cannot be read ({exc})") from None
    try:
        model = onnx_proto().ModelProto.FromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise ModelError(path, "is not a valid ONNX model (damaged or truncated protobuf)") \
            from None
    if not model.HasField("graph"):
        raise ModelError(path, "is not an ONNX model (no graph found)")
    if not model.opset_import:  # required by ONNX; missing when the file was cut after the graph
        raise ModelError(path, "is not a valid ONNX model (no opset_import; truncated?)")
    try:
        return convert(model, file=str(path), name=path.stem, _spans=spans, raw=data,
                       **options)
    except (TypeError, AttributeError):
        # protobuf hands back bytes for string fields that are not UTF-8 (ONNX is proto2,
        # so the parser does not validate them): a damaged file, not a bug of ours.
        if _has_non_text(model):
            raise ModelError(path, "is not a valid ONNX model (damaged: a name is not UTF-8 "
                                   "text)") from None
        raise


def _has_non_text(model: Any) -> bool:
    """True when any string field the loader reads came back as bytes."""

    def bad_graph(gp: Any) -> bool:
        if isinstance(gp.name, bytes):
            return True
        for seq in (gp.input, gp.output, gp.value_info, gp.initializer):
            if any(isinstance(x.name, bytes) for x in seq):
                return True
        for n in gp.node:
            fields = [n.name, n.op_type, n.domain, *n.input, *n.output]
            if any(isinstance(f, bytes) for f in fields):
                return True
            for a in n.attribute:
                if isinstance(a.name, bytes) or isinstance(a.ref_attr_name, bytes):
                    return True
                if a.type == 5 and bad_graph(a.g):
                    return True
                if a.type == 10 and any(bad_graph(sg) for sg in a.graphs):
                    return True
        return False

    fields = [model.producer_name, model.producer_version] + \
        [o.domain for o in model.opset_import]
    return any(isinstance(f, bytes) for f in fields) or bad_graph(model.graph)


def load_model_proto(model: Any, **options: Any) -> Graph:
    """Convert a live ``onnx.ModelProto`` (weights may be loaded or external)."""
    import onnx

    if isinstance(model, onnx.GraphProto):
        model = onnx.helper.make_model(model)
    if not isinstance(model, onnx.ModelProto):
        raise ModelError(None, f"expected an onnx.ModelProto, got {type(model).__name__}")
    if model.ByteSize() > _LIGHT_COPY_BYTES:
        model = _light_copy(model)
    return convert(model, **options)


# Live models above this size are converted from a copy without their big weight payloads:
# shape inference serializes the whole model, and cannot at all beyond protobuf's 2 GB.
_LIGHT_COPY_BYTES = 16 << 20


def _light_copy(model: Any) -> Any:
    """A copy of ``model`` whose large main-graph initializers keep dims/dtype but no data."""
    import onnx

    from nnviz.loaders.onnx_wire import KEEP_DATA_BYTES

    light = onnx.ModelProto(ir_version=model.ir_version, producer_name=model.producer_name,
                            producer_version=model.producer_version, domain=model.domain,
                            model_version=model.model_version)
    light.opset_import.extend(model.opset_import)
    light.functions.extend(model.functions)
    src, dst = model.graph, light.graph
    dst.name = src.name
    for name in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(dst, name).extend(getattr(src, name))
    for t in src.initializer:
        if t.ByteSize() <= KEEP_DATA_BYTES + 256:
            dst.initializer.append(t)
            continue
        light_t = dst.initializer.add(name=t.name, dims=t.dims, data_type=t.data_type)
        light_t.data_location = onnx.TensorProto.EXTERNAL  # data not here: like the lazy reader
    return light


load_object = load_model_proto


# ---- conversion -----------------------------------------------------------------------------

@dataclass
class _Const:
    """A constant tensor (initializer, Constant output or folded constant)."""

    param: str  # the Param name: shared weights (Identity aliases) share it
    shape: Shape
    dtype: str | None
    value: Any = None  # small values as plain Python (list / scalar), else None
    # repr(value), made when first needed: equal keys are equal values (ints, floats, str,
    # bool and lists of them repr apart), so it keys what a value makes of a node
    key: str | None = field(default=None, compare=False, repr=False)


def convert(model: Any, *, file: str | None = None, name: str | None = None,
            infer: bool = True, _spans: dict[str, tuple[int, int]] | None = None,
            raw: bytes | None = None, **_options: Any) -> Graph:
    """ModelProto -> Graph. ``infer=False`` skips onnx shape inference. ``_spans``: where
    in ``file`` the stripped weight payloads are (``onnx_wire.read_stripped``); ``raw`` is
    the serialized ``model`` when the caller has it (inference then skips serializing it)."""
    # Tens of thousands of small objects (node rows, IR nodes, tensors): the cyclic GC
    # would rescan them over and over; the graph lives on, so its objects are promoted.
    with paused_gc(promote=True):
        return _convert_proto(model, file, name, infer, _spans, raw)


def _convert_proto(model: Any, file: str | None, name: str | None, infer: bool,
                   _spans: dict[str, tuple[int, int]] | None, raw: bytes | None) -> Graph:
    opsets = {(o.domain or ""): int(o.version) for o in model.opset_import}
    functions = {(f.domain, f.name, getattr(f, "overload", "")): f for f in model.functions}
    scope_ops: dict[tuple[str, ...], str] = {}
    if functions:
        model = _inline_functions(model, functions, scope_ops)
    # The initializers' names, dims and dtypes, read from protobuf once for every use below
    # (a big export has tens of thousands; every read of a field makes new objects).
    rows = _Converter._init_rows(model.graph)
    # value_info's types and the nodes' fields, read once for the completeness test and the
    # conversion (each protobuf read makes new objects; a big export has 50k of each)
    templates: dict[tuple[bytes, ...], _Template] = {(): _NO_ATTRS}
    types = _read_types(model.graph, rows)
    node_rows: list | None = _node_rows(model.graph.node, templates)
    if infer and not _shapes_complete(types[1], node_rows, templates) and \
            (functions or not _inference_fails(model, opsets, rows)):
        try:
            import onnx

            # the file's bytes when no function was inlined into the model
            src = raw if raw is not None and not functions else model
            model = onnx.shape_inference.infer_shapes(src, check_type=False, strict_mode=False,
                                                      data_prop=True)
            types = node_rows = None  # a new model: read from it
        except Exception:  # inference is a bonus: any failure leaves shapes unknown
            pass
    # rows name the initializers of the model as read; shape inference returns a copy
    # with the same initializers, so they stand for its initializers too.
    return _convert(model, opsets, scope_ops, file, name, _Values(file, _spans, rows),
                    rows, (templates, types, node_rows))


def _text(value: str | bytes) -> str:
    """A string field; protobuf returns bytes when a damaged file's text is not UTF-8."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _shapes_complete(known: set[str], node_rows: list, templates: dict) -> bool:
    """True when value_info already types every node output (torch's dynamo exporter
    writes it), so onnx shape inference, the slowest step on big graphs, adds nothing.
    ``known``: the tensors value_info and the graph outputs give a tensor shape (empty when
    value_info gives none), as :func:`_read_types` reads them; ``node_rows``: the nodes as
    :func:`_node_rows` reads them."""
    if not known:
        return False
    for _, op, _, _, _, outs, key, _ in node_rows:
        if op == "Constant":
            continue
        if templates[key].graphs:
            return False  # subgraph value_info is usually missing
        for out in outs:
            if out and out not in known:
                return False
    return True


def _read_types(gp: Any, rows: list) -> tuple[dict[str, tuple[Shape, str | None]], set[str]]:
    """tensor name -> (shape, dtype) of the graph's initializers (``rows``, as
    ``_Converter._init_rows`` reads them), then its inputs, value_info and outputs (a later
    entry wins where the earlier gave no shape), and the names value_info and the outputs
    give a tensor shape (empty when value_info gives none: :func:`_shapes_complete`). An
    export types 50k tensors with a handful of distinct types: each distinct type is decoded
    once, keyed by its bytes (one C call), instead of one protobuf read per dim."""
    seen: dict[bytes, tuple[tuple[Shape, str | None], bool]] = {}
    out: dict[str, tuple[Shape, str | None]] = {}
    for _, name, dims, dtype in rows:
        out[name] = (dims, dtype)
    known: set[str] = set()
    typed = True
    for part, vis in enumerate((gp.input, gp.value_info, gp.output)):
        for vi in vis:
            ty = vi.type
            key = ty.SerializeToString()
            decoded = seen.get(key)
            if decoded is None:
                shaped = ty.WhichOneof("value") == "tensor_type" and \
                    ty.tensor_type.HasField("shape")
                decoded = seen[key] = (_type_info(ty), shaped)
            name = vi.name
            old = out.get(name)
            if old is None or (old[0] is None and decoded[0][0] is not None):
                out[name] = decoded[0]
            if part and decoded[1]:
                known.add(name)
        if part == 1 and not known:
            typed = False  # value_info gives no shape: nothing is known
    return out, known if typed else set()


class _Template:
    """A node's attributes, decoded once for all the nodes whose attributes have the same
    bytes (an export repeats a few dozen distinct attribute sets over 50k nodes): equal
    bytes are equal attributes, so equal decoded values."""

    __slots__ = ("attrs", "copy", "graphs")

    def __init__(self, attributes: Any) -> None:
        attrs: dict[str, Any] = {}
        graphs = False
        for a in attributes:
            if a.type in _GRAPH_ATTR_TYPES:
                graphs = True  # converted per node (_Converter._node), never shared
                continue
            if a.ref_attr_name:
                continue
            value = _attr_value(a)
            if value is not None:
                attrs[a.name] = value
        self.attrs = attrs
        self.copy = _copier(attrs)
        self.graphs = graphs

    def fresh(self) -> dict[str, Any]:
        """A node's own copy (no list or dict shared with another node)."""
        return self.copy(self.attrs)


def _clone(value: Any) -> Any:
    """A copy of a JSON-like value (lists and dicts copied, scalars shared)."""
    if type(value) is list:
        return [_clone(v) for v in value]
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    return value


def _copier(template: dict[str, Any]) -> Any:
    """The cheapest function giving a node its own copy of dicts equal to ``template``
    (which are copied per node: the attributes and canonical attributes of nodes that share
    a template): ``dict`` when every value is a scalar, a flat list copied by slicing, else
    :func:`_clone`."""
    flat = []
    for k, v in template.items():
        if type(v) is dict or (type(v) is list and any(type(x) in (list, dict) for x in v)):
            return _clone
        if type(v) is list:
            flat.append(k)
    if not flat:
        return dict
    if len(flat) == 1:
        (only,) = flat

        def copy_one(d: dict[str, Any]) -> dict[str, Any]:
            out = dict(d)
            out[only] = out[only][:]
            return out

        return copy_one

    def copy_lists(d: dict[str, Any]) -> dict[str, Any]:
        out = dict(d)
        for k in flat:
            out[k] = out[k][:]
        return out

    return copy_lists


_NO_ATTRS = _Template(())


def _node_rows(nodes: Any, templates: dict[tuple[bytes, ...], _Template]) -> list[tuple]:
    """(node, op_type, domain, name, inputs, outputs, attribute key, has metadata) of each
    node, each field read from protobuf once; the key (the attributes' bytes) names the
    node's :class:`_Template` in ``templates``, added when new."""
    rows: list[tuple] = []
    append = rows.append
    meta = None  # does this onnx's NodeProto have metadata_props (onnx >= 1.16)?
    for n in nodes:
        if meta is None:
            meta = "metadata_props" in n.DESCRIPTOR.fields_by_name
        attributes = n.attribute
        if attributes:
            key = tuple([a.SerializeToString() for a in attributes])
            if key not in templates:
                templates[key] = _Template(attributes)
        else:
            key = ()
        append((n, n.op_type, n.domain, n.name, n.input[:], n.output[:], key,
                meta and len(n.metadata_props) > 0))
    return rows


def _inference_fails(model: Any, opsets: dict[str, int], rows: list) -> bool:
    """True when onnx shape inference is certain to raise on ``model`` (it then only costs
    time: on a 50k-node file 0.2 s to say so). onnx infers the nodes in file order and stops
    at the first node whose inference reads an input the node lacks ("Input 1 is out of
    bounds"); whether it gets there depends on the types reaching that node, so a node with
    fewer inputs than its schema's minimum is only a suspect. The proof is onnx's own
    inference of the file's first nodes up to a suspect, with the initializers they read:
    it infers those nodes exactly as it would in the whole graph, so if it raises, the whole
    graph's inference raises too. A few growing prefixes are tried, within a budget of
    nodes; when none raises, the caller runs the whole inference as before."""
    gp = model.graph
    nodes = gp.node
    budget = max(256, len(nodes) // 8)
    low: dict[tuple[str, str], int] = {}
    tries = (1, 2, 4, 8, 16)  # prefixes ending at these suspects, in order
    found = 0
    for i, node in enumerate(nodes):
        if i >= budget:
            return False
        key = (node.domain, node.op_type)
        need = low.get(key)
        if need is None:
            need = low[key] = _min_inputs(key[1], key[0], opsets)
        if len(node.input) >= need:
            continue
        found += 1
        if found not in tries:
            continue
        if _prefix_raises(model, i + 1, rows):
            return True
        if found == tries[-1]:
            return False
    return False


def _min_inputs(op: str, domain: str, opsets: dict[str, int]) -> int:
    """The least number of inputs the operator schema in force allows (0 when unknown)."""
    import onnx

    version = opsets.get(domain, opsets.get("ai.onnx" if not domain else domain))
    try:
        kw = {"max_inclusive_version": version} if version else {}
        return int(onnx.defs.get_schema(op, domain=domain, **kw).min_input)
    except Exception:  # custom domains have no schema
        return 0


def _prefix_raises(model: Any, count: int, rows: list) -> bool:
    """Does onnx shape inference raise on the model cut after its first ``count`` nodes?
    ``rows``: the model's initializers as ``_Converter._init_rows`` reads them."""
    import onnx

    gp = model.graph
    head = onnx.ModelProto(ir_version=model.ir_version)
    head.opset_import.extend(model.opset_import)
    hg = head.graph
    hg.node.extend(gp.node[:count])
    read: set[str] = set()

    def reads(nodes: Any) -> None:  # names the nodes read, subgraphs' captures included
        for n in nodes:
            read.update(n.input)
            for a in n.attribute:
                if a.type == 5:
                    reads(a.g.node)
                elif a.type == 10:
                    for sg in a.graphs:
                        reads(sg.node)

    reads(hg.node)
    hg.initializer.extend(t for t, name, _, _ in rows if name in read)
    hg.sparse_initializer.extend(s for s in gp.sparse_initializer if s.values.name in read)
    hg.input.extend(gp.input)
    hg.value_info.extend(gp.value_info)
    try:
        onnx.shape_inference.infer_shapes(head, check_type=False, strict_mode=False,
                                          data_prop=True)
    except Exception:
        return True
    return False


class _Values:
    """A few float32 values of a main-graph initializer, for the tied-weight check: read from
    the proto when it kept them, else from the file at the payload's span (a few bytes of an
    embedded weight, never an external data file). None when neither has them."""

    def __init__(self, file: str | None, spans: dict[str, tuple[int, int]] | None,
                 rows: list) -> None:
        self.file = file
        self.spans = spans or {}
        self.rows = rows  # (initializer, name, dims, dtype), as _Converter._init_rows reads
        self._inits: dict[str, Any] | None = None  # name -> initializer, made when first asked

    def sample(self, name: str, flat: list[int]) -> list[bytes] | None:
        if self._inits is None:
            self._inits = {n: t for t, n, _, _ in self.rows}
        t = self._inits.get(name)
        if t is None or t.data_type != 1:  # float32 only
            return None
        if t.raw_data:
            return [bytes(t.raw_data[4 * i:4 * i + 4]) for i in flat]
        span = self.spans.get(name)
        if span is None or self.file is None:
            return None
        start, end = span
        if any(start + 4 * i + 4 > end for i in flat):
            return None
        from nnviz.loaders.onnx_wire import read_span

        try:
            return read_span(self.file, [(start + 4 * i, start + 4 * i + 4) for i in flat])
        except OSError:
            return None

    def transposed(self, table: str, copy: str, rows: int, cols: int) -> bool | None:
        """Is ``copy`` (cols x rows) the transpose of ``table`` (rows x cols)? Compared at a
        few spread positions; None when the values cannot be read."""
        picks = [((k * 7919) % rows, (k * 104729 + k) % cols) for k in range(16)]
        a = self.sample(table, [i * cols + j for i, j in picks])
        b = self.sample(copy, [j * rows + i for i, j in picks])
        if a is None or b is None:
            return None
        return a == b


def _convert(model: Any, opsets: dict[str, int], scope_ops: dict, file: str | None,
             name: str | None, values: _Values | None = None,
             rows: list | None = None, read: tuple | None = None) -> Graph:
    g = Graph(name=_text(model.graph.name) or name or "model")
    producer = f"{_text(model.producer_name)} {_text(model.producer_version)}".strip()
    g.meta = {"framework": "onnx", "opset": opsets.get("", opsets.get("ai.onnx")),
              "producer": producer, "file": file, "ir_version": int(model.ir_version),
              "opsets": dict(sorted(opsets.items()))}
    conv = _Converter(g, opsets, scope_ops)
    conv.values = values
    templates, types, node_rows = read if read is not None else ({(): _NO_ATTRS}, None, None)
    conv.templates = templates
    conv.main(model.graph, rows, types, node_rows)
    # Each node's canonical attributes were set as it was made (_Converter._node, which is
    # canon_attrs.canonicalize's first half, shared between nodes of equal attributes); the
    # second half reads the weights, final only now.
    for node in g.nodes.values():
        if node.kind in ("conv", "linear") and node.params:
            node.canon = {**from_weights(node, "onnx"), **node.canon}
    return g


def _dims(tensor_shape: Any) -> Shape:
    dims: list[int | str | None] = []
    for d in tensor_shape.dim:
        which = d.WhichOneof("value")
        if which == "dim_value":
            dims.append(int(d.dim_value))
        elif which == "dim_param" and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def _type_info(type_proto: Any) -> tuple[Shape, str | None]:
    which = type_proto.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        tt = getattr(type_proto, which)
        shape = _dims(tt.shape) if tt.HasField("shape") else None
        return shape, DTYPES.get(tt.elem_type)
    if which in ("sequence_type", "optional_type"):
        return None, which.split("_")[0]
    return None, None


def _has_payload(t: Any) -> bool:
    if t.data_location == 1:  # external, or stripped by the lazy reader
        return False
    return bool(t.raw_data or t.float_data or t.int32_data or t.int64_data or t.double_data
                or t.uint64_data or t.string_data)


def _small_value(t: Any) -> Any:
    """The values of a small tensor with available data, as plain Python, else None."""
    n = 1
    for d in t.dims:
        n *= d
    if n > _SMALL_CONST or not _has_payload(t):
        return None
    value = _plain_value(t, n)
    if value is not None:
        return _jsonable(value)
    try:
        from onnx import numpy_helper

        arr = numpy_helper.to_array(t)
    except Exception:
        return None
    value = arr.tolist()
    return _jsonable(value)


# TensorProto data types read without numpy -> (struct code, bytes per value, typed field)
_PLAIN_TYPES = {1: ("f", 4, "float_data"), 6: ("i", 4, "int32_data"), 7: ("q", 8, "int64_data"),
                11: ("d", 8, "double_data")}


def _plain_value(t: Any, n: int) -> Any:
    """What ``numpy_helper.to_array(t).tolist()`` gives, for the common small tensors (a
    scalar or vector of float32/int32/int64/float64): read with struct, so a load needs
    neither onnx's helpers nor numpy. None when ``t`` is anything else (the caller then
    asks numpy_helper)."""
    spec = _PLAIN_TYPES.get(t.data_type)
    dims = t.dims
    if spec is None or len(dims) > 1 or sys.byteorder != "little" or t.HasField("segment"):
        return None
    code, size, field_name = spec
    if t.HasField("raw_data"):
        raw = t.raw_data
        if len(raw) != n * size:
            return None  # numpy_helper judges a damaged payload
        values = list(struct.unpack(f"<{n}{code}", raw))
    else:
        values = list(getattr(t, field_name))
        if len(values) != n:
            return None
    return values if len(dims) == 1 else values[0]


def _f32(value: float) -> Any:
    """A float32 attribute as its shortest decimal (1e-05, not 9.999999747378752e-06)."""
    import numpy as np

    return _jsonable(float(str(np.float32(value))))


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _tensor_summary(t: Any) -> dict:
    out: dict[str, Any] = {"shape": [int(d) for d in t.dims], "dtype": DTYPES.get(t.data_type)}
    value = _small_value(t)
    if value is not None:
        out["value"] = value
    return out


def _attr_value(a: Any) -> Any:
    t = a.type
    if t == 1:
        return _f32(a.f)
    if t == 2:
        return int(a.i)
    if t == 3:
        return a.s.decode("utf-8", "replace")
    if t == 4:
        return _tensor_summary(a.t)
    if t == 6:
        return [_f32(v) for v in a.floats]
    if t == 7:
        return [int(v) for v in a.ints]
    if t == 8:
        return [s.decode("utf-8", "replace") for s in a.strings]
    if t == 9:
        return [_tensor_summary(x) for x in a.tensors]
    if t == 11:
        return {"sparse": True, "shape": [int(d) for d in a.sparse_tensor.dims]}
    if t == 13:
        return str(a.tp).strip()
    return None


def _scope(name: str, _cache: dict[str, tuple[str, ...]] = {}) -> tuple[str, ...]:  # noqa: B006
    """'/encoder/layer.0/attn/MatMul' -> ('encoder', 'layer.0', 'attn')."""
    head, sep, _ = name.rpartition("/")
    if not sep:
        return ()
    # Thousands of nodes share each scope prefix: split each prefix once (bounded cache).
    found = _cache.get(head)
    if found is None:
        found = tuple(p for p in head.split("/") if p)
        if len(_cache) < 100_000:
            _cache[head] = found
    return found


_TORCH_SCOPES = "pkg.torch.onnx.name_scopes"
_TORCH_CLASSES = "pkg.torch.onnx.class_hierarchy"


_TORCH_FX = "pkg.torch.onnx.fx_node"
_TORCH_RULES = "pkg.onnxscript.rewriter.rule_name"
_FUSED_BN = "FuseBatchNormIntoConv"
_TORCH_STACK = "pkg.torch.onnx.stack_trace"
_TORCH_KEYS = (_TORCH_SCOPES, _TORCH_CLASSES, _TORCH_FX, _TORCH_RULES, _TORCH_STACK)
_SIGNATURE = "pkg.torch.export.ExportedProgram.graph_signature"  # graph metadata
_FOLDED_FROM = "pkg.onnxscript.optimizer.folded_from"  # value_info metadata


def _torch_props(node: Any) -> dict[str, str]:
    """The torch.onnx / onnxscript metadata of a node (empty for other exporters)."""
    return {p.key: p.value for p in node.metadata_props if p.key in _TORCH_KEYS}


def _fx_key(param: str) -> str:
    """'lm_head.weight' -> 'lm_head_weight', as torch.export names its placeholder
    (``p_lm_head_weight``)."""
    return param.replace(".", "_")


def _dotted(labels: list[str]) -> str:
    """The dotted module path of call-qualified scope labels (``layer1.0.relu@1``): each
    label is its module's name relative to the parent, as :func:`_torch_scopes` makes it."""
    return ".".join(labels)


def _dotted_param(token: str, scope: list[tuple[str, str]] | None) -> str | None:
    """'transformer_h_3_ln_1_weight' -> 'transformer.h.3.ln_1.weight' when a module of the
    node's scope spells the token's prefix (fx placeholders replace '.' by '_'), else None."""
    for cut in range(len(scope or ()), 0, -1):
        module = ".".join(p for p, _ in scope[:cut])  # type: ignore[index]
        key = _fx_key(module) + "_"
        if token.startswith(key) and len(token) > len(key):
            return f"{module}.{token[len(key):]}"
    return None


def _torch_scopes(meta: dict[str, str]) -> list[tuple[str, str]] | None:
    """Module scope from torch.onnx's (dynamo exporter) node metadata, else None.

    ``name_scopes`` is ``['', 'layers.0', 'layers.0.attn', 'linear']``: the root, each module's
    full path, and the op itself. Each group is the path relative to its parent, so a
    ModuleList index stays with its list name, as the PyTorch loader does.
    """
    if _TORCH_SCOPES not in meta:
        return None
    import ast

    try:
        scopes = ast.literal_eval(meta[_TORCH_SCOPES])
        classes = ast.literal_eval(meta.get(_TORCH_CLASSES, "[]"))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        return None
    if not isinstance(classes, list):
        classes = []
    out: list[tuple[str, str]] = []
    parent = ""
    for i, full in enumerate(scopes[1:-1], start=1):
        if not full:
            continue
        rel = full[len(parent) + 1:] if parent and full.startswith(parent + ".") else full
        cls = classes[i] if i < len(classes) and isinstance(classes[i], str) else ""
        out.append((rel, cls))
        parent = full
    return out


def _fx_op_name(meta: dict[str, str]) -> str | None:
    """The fx node an ONNX node was made from: the last entry of torch.onnx's name_scopes
    (``['', 'act', 'tanh_1']`` -> ``tanh_1``)."""
    text = meta.get(_TORCH_SCOPES, "").rstrip("] ")
    cut = max(text.rfind("'"), text.rfind('"'))
    if cut <= 0:
        return None
    start = max(text.rfind("'", 0, cut), text.rfind('"', 0, cut))
    return text[start + 1:cut] if start >= 0 else None


def _last(name: str) -> str:
    parts = [p for p in name.split("/") if p]
    return parts[-1] if parts else name


def _constant_node(node: Any) -> tuple[Shape, str | None, Any]:
    """Shape, dtype and small value of a Constant node's output."""
    for a in node.attribute:
        if a.name == "value" and a.type == 4:
            return tuple(int(d) for d in a.t.dims), DTYPES.get(a.t.data_type), _small_value(a.t)
        if a.name == "sparse_value":
            return (tuple(int(d) for d in a.sparse_tensor.dims),
                    DTYPES.get(a.sparse_tensor.values.data_type), None)
        if a.name == "value_float":
            return (), "float32", _f32(a.f)
        if a.name == "value_int":
            return (), "int64", int(a.i)
        if a.name == "value_floats":
            v = [_f32(x) for x in a.floats]
            return (len(v),), "float32", v if len(v) <= _SMALL_CONST else None
        if a.name == "value_ints":
            v = [int(x) for x in a.ints]
            return (len(v),), "int64", v if len(v) <= _SMALL_CONST else None
        if a.name == "value_string":
            return (), "string", a.s.decode("utf-8", "replace")
        if a.name == "value_strings":
            return (len(a.strings),), "string", None
    return None, None, None


class _Converter:
    def __init__(self, graph: Graph, opsets: dict[str, int], scope_ops: dict) -> None:
        self.g = graph
        self.opsets = opsets
        self.scope_ops = scope_ops
        self._schemas: dict[tuple[str, str], Any] = {}
        self._kinds: dict[str, str] = {}
        self._calls = CallTracker()
        self._reads: dict[str, list[Read]] = {}  # constant -> its readers
        self._unscoped: list[str] = []  # main-graph nodes without any scope
        self._has_scopes = False  # did the exporter give any node a scope?
        self._module_path: dict[str, str] = {}  # node -> dotted module path (dynamo)
        self._fx_taken: dict[str, str] = {}  # fx parameter name -> the Param named for it
        self._restored: dict[str, str] = {}  # fx name of a re-added parameter -> its role
        # dynamo: node -> (fx tensors it names, torch scope, BatchNorm folded in), and the
        # ONNX nodes made from each fx op with the fx names of the tensors each one reads
        self._fx_info: dict[str, tuple[dict[str, str], Any, bool]] = {}
        self._fx_ops: dict[str, list[tuple[str, set[str]]]] = {}
        self._init_keys: dict[str, _Const] = {}  # initializers by their fx spelling
        self._folded: dict[str, Folded] = {}  # folded initializer -> the parameter it is
        self._declared: dict[str, str] = {}  # Param name -> role the export's signature gives
        self._partial: dict[str, int] = {}  # parameter -> elements of it the file holds
        self._stacks: dict[str, tuple[str, ...] | None] = {}  # stack trace -> its frames
        self._sig_targets: dict[str, str] = {}  # fx token -> model tensor name (signature)
        # PyTorch's exporters name initializers after the state_dict, their constants not
        self._state_names = str(graph.meta.get("producer") or "").startswith("pytorch")
        self.values: _Values | None = None  # weight values, for the tied-weight check
        # attribute bytes -> decoded attributes (_node_rows); (op, template, small
        # constants) -> canonical attributes (_node)
        self.templates: dict[tuple[bytes, ...], _Template] = {(): _NO_ATTRS}
        self._canon: dict[tuple, tuple[dict[str, Any], Any]] = {}

    # -- helpers ----------------------------------------------------------------------------
    def _group(self, path: tuple[str, ...], op: str = "") -> tuple[str, ...]:
        if path:
            groups = self.g.groups
            if path not in groups:
                if path[:-1] in groups or len(path) == 1:
                    groups[path] = Group(path, label=path[-1])
                else:
                    self.g.ensure_group(path)
            for i in range(1, len(path) + 1):
                sub = path[:i]
                fop = self.scope_ops.get(sub)
                if fop and not self.g.groups[sub].op:
                    self.g.groups[sub].op = fop
            if op and not self.g.groups[path].op:
                self.g.groups[path].op = op
        return path

    def _frames(self, props: dict[str, str]) -> tuple[str, ...] | None:
        """A node's stack frames, split once per distinct trace (most nodes share one)."""
        text = props.get(_TORCH_STACK)
        if text is None:
            return None
        if text not in self._stacks:
            self._stacks[text] = stack_frames(text)
        return self._stacks[text]

    def _torch_groups(self, base: tuple[str, ...], scope: list[tuple[str, str]]) -> None:
        """Name the groups of a torch.onnx (dynamo) scope after their module classes."""
        for i in range(len(scope)):
            path = base + tuple(p for p, _ in scope[: i + 1])
            if path in self.g.groups:
                continue
            self.g.ensure_group(path)
            cls = scope[i][1]
            grp = self.g.groups[path]
            grp.op = cls.rsplit(".", 1)[-1]
            grp.attrs = {"class": cls}

    def _restore_dropped(self) -> None:
        """Parameters of the model that an op computes with but its ONNX nodes no longer
        read: the exporter's optimizer dropped an all-zero bias, or folded a BatchNorm into a
        Conv (its scale into the weight, its bias into the conv bias). The fx metadata still
        names them; 1-D ones (bias, norm weight, running statistics) are sized by the output
        channels, so the totals equal the PyTorch model's. All ONNX nodes made from one fx
        op (a Linear as MatMul + Add) are looked at together: a tensor one of them reads is
        not missing."""
        for members in self._fx_ops.values():
            covered = set().union(*(keys for _, keys in members))
            for nid, _ in members:
                if self._restore(nid, covered):
                    break

    def _restore(self, nid: str, covered: set[str]) -> bool:
        node = self.g.nodes[nid]
        fx, scope, fused = self._fx_info[nid]
        if not scope:
            return False
        op, params = node.op, node.params
        channels: Any = None
        if op in ("Conv", "ConvTranspose") and params and params[0].shape:
            channels = params[0].shape[0] if op == "Conv" else None
        elif node.outputs:
            shape = self.g.tensors[node.outputs[0]].shape
            channels = shape[-1] if shape else None
        if not isinstance(channels, int):
            return False
        have_bias = fused and len(params) > 1  # the fused bias initializer is the BN bias
        out: list[Param] = []
        dtype = params[0].dtype if params else None
        for token, kind in fx.items():
            if kind not in "pb" or token in self._init_keys or token in covered:
                continue
            if token in self._fx_taken:  # a later call of the same module: the same weight
                if token in self._restored:
                    name = self._fx_taken[token]
                    out.append(Param(name, (channels,), dtype, role=self._restored[token]))
                    self._reads.setdefault(name, []).append(Read(nid, op, -1, kind))
                continue
            name = self._param_name(token, scope)
            if name is None:
                continue
            attr = name.rsplit(".", 1)[-1]
            if attr not in ("bias", "running_mean", "running_var") and \
                    not (fused and attr == "weight"):
                continue  # only 1-D tensors can be sized from the output channels
            if attr == "bias" and have_bias:
                continue
            role = "param" if kind == "p" else "buffer"
            self._fx_taken[token] = name
            self._restored[token] = role
            out.append(Param(name, (channels,), dtype, trainable=role == "param", role=role))
            self._reads.setdefault(name, []).append(Read(nid, op, -1, kind))
        if not out:
            return False
        params.extend(out)
        node.meta["restored_params"] = [p.name for p in out]
        if fused:
            # meta "fused" lists what a box holds besides its op (labels title it
            # "Conv + BatchNorm", like TFLite's fused activations)
            node.meta["fused"] = ["BatchNorm"]
        return True

    def _param_name(self, token: str, scope: list[tuple[str, str]] | None) -> str | None:
        """The model's name of fx token ``token``: the export's signature says it exactly
        (``encoder.layers.1.self_attn.out_proj.bias``, where the op's scope ends at
        ``self_attn``); without it, spelled from the scope."""
        return self._sig_targets.get(token) or _dotted_param(token, scope)

    @staticmethod
    def _const_inputs(node: Any, scope: _Scope) -> list[_Const]:
        return [c for c in (scope.lookup(n)[1] for n in node.input if n) if c is not None]

    def _undedup(self, const: _Const, op: str, index: int, fx: dict[str, str],
                 read_keys: set[str], scope: list[tuple[str, str]] | None) -> _Const:
        """The model parameter that constant ``const`` stands for in this node when the
        exporter renamed it; the fx metadata names the parameter (``%p_lm_head_weight``):

        * it merged equal-valued initializers (fresh LayerNorm weights are all ones): a
          named initializer read where fx names another parameter with the same ending;
        * it constant-folded a transposed copy (``val_65`` = lm_head.weight transposed, read
          by the tied head while the embedding reads lm_head.weight): an exporter-named
          initializer, read as a weight, where fx names a parameter this node does not read
          by name; when that parameter is an initializer too, its shape must hold the same
          dims (a permutation), and the copy is that weight, counted once.
        """
        anonymous = ANONYMOUS.match(const.param) is not None
        suffix = const.param.rsplit(".", 1)[-1]
        weight_input = is_weight_input(op, index)
        rank1 = const.shape is not None and len(const.shape) == 1
        cands = []
        for token, kind in fx.items():
            if kind not in "pb" or token in read_keys:
                continue
            init = self._init_keys.get(token)
            if not anonymous:
                if init is None and token.endswith("_" + suffix):
                    cands.append(token)
            elif init is not None:
                if weight_input and init.shape is not None and const.shape is not None and \
                        sorted(map(str, init.shape)) == sorted(map(str, const.shape)):
                    cands.append(token)
            elif token.endswith("_bias") if rank1 else (weight_input and
                                                         not token.endswith("_bias")):
                cands.append(token)
        if len(cands) != 1:
            return const
        token = cands[0]
        init = self._init_keys.get(token)
        if init is not None:
            return init  # the same weight: same Param name and count
        dotted = self._fx_taken.get(token) or self._param_name(token, scope)
        if dotted is None:
            return const
        self._fx_taken[token] = dotted
        read_keys.add(token)
        return _Const(dotted, const.shape, const.dtype, None)

    def _input_names(self, op_type: str, domain: str) -> list[str] | None:
        key = (domain, op_type)
        if key not in self._schemas:
            version = self.opsets.get(domain, self.opsets.get("ai.onnx" if not domain else domain))
            if not domain and (not version or version <= SCHEMA_OPSET):
                # the standard domain's names, as onnx.defs.get_schema gives them (the
                # table is generated from it and tested against it), without importing onnx
                found = None
                for since, names in SCHEMA_INPUTS.get(op_type, ()):
                    if version and since > version:
                        break
                    found = names.split(",") if names else []
                self._schemas[key] = found
                return found
            import onnx

            try:
                kw = {"max_inclusive_version": version} if version else {}
                schema = onnx.defs.get_schema(op_type, domain=domain, **kw)
                self._schemas[key] = [i.name for i in schema.inputs]
            except Exception:  # custom domains have no schema
                self._schemas[key] = None
        return self._schemas[key]

    def _tensor(self, tid: str, info: Mapping[str, tuple[Shape, str | None]], name: str,
                is_param: bool = False) -> None:
        tensors = self.g.tensors
        if tid not in tensors:
            shape, dtype = info.get(name, _UNKNOWN)
            tensors[tid] = Tensor(tid, shape, dtype, is_param)

    # -- graphs -----------------------------------------------------------------------------
    def _read_folds(self, gp: Any) -> None:
        """The dynamo export's record of what it constant-folded (see
        :func:`~nnviz.loaders.onnx_fidelity.folded_parameters`)."""
        sig = next((p.value for p in getattr(gp, "metadata_props", ()) if p.key == _SIGNATURE),
                   None)
        if not sig:
            return
        import ast

        folded_from: dict[str, list[str]] = {}
        for vi in gp.value_info:
            for p in getattr(vi, "metadata_props", ()):
                if p.key != _FOLDED_FROM:
                    continue
                try:
                    names = ast.literal_eval(p.value)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue
                if isinstance(names, list) and all(isinstance(n, str) for n in names):
                    folded_from[vi.name] = names
        signature = parse_signature(sig)
        self._sig_targets = signature.targets
        self._folded = folded_parameters(folded_from, signature.roles)

    def main(self, gp: Any, rows: list | None = None, types: tuple | None = None,
             node_rows: list | None = None) -> None:
        """Convert the main graph; ``rows``: its initializers as _init_rows reads them,
        ``types`` its value_info as _read_types, ``node_rows`` its nodes as _node_rows."""
        scope = _Scope()
        rows = self._init_rows(gp) if rows is None else rows
        info = self._value_info(gp, None, rows, types)
        self._read_folds(gp)
        init_names = {name for _, name, _, _ in rows} | \
            {s.values.name for s in gp.sparse_initializer}
        self._add_initializers(gp, "", scope, info, rows)
        for vi in gp.input:
            if vi.name in init_names or not vi.name:
                continue
            scope.names[vi.name] = vi.name
            self._tensor(vi.name, info, vi.name)
            nid = self.g.unique_node_id(f"input:{vi.name}")
            self.g.add_node(Node(nid, "Input", "io", name=vi.name, outputs=[vi.name]))
            self.g.inputs.append(vi.name)
        self._nodes(gp, (), "", scope, info, node_rows)
        for vi in gp.output:
            tid = scope.names.get(vi.name, vi.name)
            self._tensor(tid, info, vi.name)
            nid = self.g.unique_node_id(f"output:{vi.name}")
            self.g.add_node(Node(nid, "Output", "io", name=vi.name, inputs=[tid]))
            self.g.outputs.append(tid)
        self._finish()

    def _finish(self) -> None:
        """Whole-graph fixes (see :mod:`nnviz.loaders.onnx_fidelity`)."""
        g = self.g
        if self._has_scopes:  # a flat file has nothing to adopt into
            adopt_unscoped(g, self._unscoped)
            if self._module_path:  # dynamo: no module path -> the exporter's node_Split_49
                for nid in self._unscoped:
                    self._module_path[nid] = ""
        self._restore_dropped()
        tie_transposed_copies(g, self._reads, self.values.transposed if self.values else None)
        users = assign_roles(g, self._reads, self._declared)
        if self._partial:
            # The total can only count the part the file holds: say so where it is read.
            g.meta["partial_params"] = dict(sorted(self._partial.items()))
            for node in g.nodes.values():
                part = [p.name for p in node.params if p.name in self._partial]
                if part and not node.meta.get("note"):
                    node.meta["note"] = f"part of {part[0]} (folded by the exporter)"
        splice_no_ops(g, self._module_path)
        module_names(g, self._module_path)
        mark_shared(g, users)

    @staticmethod
    def _init_rows(gp: Any) -> list[tuple[Any, str, tuple[int, ...], str | None]]:
        """(initializer, name, dims, dtype) of each initializer, read from protobuf once
        (a big export has tens of thousands; every read of a field makes new objects)."""
        return [(t, t.name, tuple(t.dims[:]), DTYPES.get(t.data_type)) for t in gp.initializer]

    def _value_info(self, gp: Any, outer: Mapping | None = None,
                    rows: list | None = None, types: tuple | None = None) -> Mapping:
        """tensor name -> (shape, dtype): initializers' dims, then value_info (``types``:
        what :func:`_read_types` read of ``gp``, when the caller has it)."""
        if types is None:
            types = _read_types(gp, self._init_rows(gp) if rows is None else rows)
        local = types[0]
        return ChainMap(local, outer) if outer is not None else local

    def _add_initializers(self, gp: Any, prefix: str, scope: _Scope, info: Mapping,
                          rows: list | None = None) -> None:
        names, consts, init_keys = scope.names, scope.consts, self._init_keys
        tensors = self.g.tensors
        for t, name, dims, dtype in (self._init_rows(gp) if rows is None else rows):
            tid = prefix + name
            # Only integer arguments and scalars can become attrs: skip decoding the rest.
            value = _small_value(t) if (dtype in _INT_DTYPES or not dims) else None
            names[name] = tid
            const = consts[name] = _Const(tid, dims, dtype, value)
            init_keys[_fx_key(tid)] = const
            if tid not in tensors:  # self._tensor inlined (tens of thousands of weights)
                shape, tdtype = info.get(name, _UNKNOWN)
                tensors[tid] = Tensor(tid, shape, tdtype, True)
        for s in gp.sparse_initializer:
            tid = prefix + s.values.name
            scope.names[s.values.name] = tid
            scope.consts[s.values.name] = _Const(tid, tuple(s.dims),
                                                 DTYPES.get(s.values.data_type))
            self._tensor(tid, info, s.values.name, is_param=True)
        if prefix or not self._folded:
            return
        seen: dict[str, _Const] = {}
        for t in gp.initializer:
            fold = self._folded.get(t.name)
            if fold is None:
                continue
            # A folded copy of a parameter is that parameter (counted once, by its name);
            # a folded part of one is counted as the part the file holds.
            # Several folds of one parameter all stand for its first (one count).
            whole = self._init_keys.get(_fx_key(fold.source)) or seen.get(fold.source)
            if whole is not None:
                scope.consts[t.name] = whole
                continue
            const = scope.consts[t.name]
            whole = seen[fold.source] = _Const(fold.source, const.shape, const.dtype, None)
            scope.consts[t.name] = whole
            self._declared[fold.source] = "param"
            if fold.partial:
                self._partial[fold.source] = math.prod(const.shape or (0,))

    def _nodes(self, gp: Any, base_group: tuple[str, ...], prefix: str, scope: _Scope,
               info: Mapping, rows: list | None = None) -> None:
        """Add the nodes of ``gp`` (``rows``: them as :func:`_node_rows` read them)."""
        templates = self.templates
        for row in (_node_rows(gp.node, templates) if rows is None else rows):
            node, op, domain, _, ins, outs, key, _ = row
            if op == "Constant" and outs and outs[0] and not domain:
                shape, dtype, value = _constant_node(node)
                out = outs[0]
                tid = prefix + out
                ishape, idtype = info.get(out, (None, None))
                scope.names[out] = tid
                scope.consts[out] = _Const(tid, shape if shape is not None else ishape,
                                           dtype or idtype, value)
                self._tensor(tid, info, out, is_param=True)
                continue
            if op in _CONST_FOLD_OPS and not domain and len(outs) == 1 and \
                    not templates[key].graphs:
                consts = []  # the inputs' constants, up to the first input that is none
                for i in ins:
                    if i:
                        const = scope.lookup(i)[1]
                        if const is None:
                            break
                        consts.append(const)
                else:
                    const = consts[0] if consts else None
                if const is not None:  # every input (at least one) is a constant
                    out = outs[0]
                    src = consts[0]
                    tid = prefix + out
                    scope.names[out] = tid
                    shape, dtype = info.get(out, (None, None))
                    if op in _ALIAS_OPS:
                        # A transposed / cast / reshaped view of one weight (GPT-2's tied
                        # lm_head.weight read through a Transpose) is that weight: same
                        # Param name, counted once, with its own shape and dtype.
                        scope.consts[out] = _Const(src.param, src.shape, src.dtype, None)
                    else:
                        scope.consts[out] = _Const(tid, shape, dtype or src.dtype, None)
                    self._tensor(tid, info, out, is_param=True)
                    continue
            self._node(row, base_group, prefix, scope, info)

    def _node(self, row: tuple, base_group: tuple[str, ...], prefix: str, scope: _Scope,
              info: Mapping) -> str:
        """Add one operator (``row``: as :func:`_node_rows` reads it)."""
        node, op, domain, raw_name, ins, outs, akey, has_meta = row
        template = self.templates[akey]
        g = self.g
        base = prefix + raw_name if raw_name else prefix + op
        nid = base if base and base not in g.nodes else g.unique_node_id(base)
        props = _torch_props(node) if has_meta else None
        torch_scope = _torch_scopes(props) if props else None
        fx = fx_kinds(props.get(_TORCH_FX, "")) if props and _TORCH_FX in props else None
        attrs = template.fresh()
        graph_attrs = [a for a in node.attribute if a.type in _GRAPH_ATTR_TYPES] \
            if template.graphs else []
        small_keys: list[tuple[str, str]] | None = None  # the small constants made attrs
        inputs: list[str] = []
        params: list[Param] = []
        formal = None
        fused = bool(props) and "Fuse" in props.get(_TORCH_RULES, "")
        read_keys: set[str] | None = None
        tensors = g.tensors
        main_consts = scope.consts if scope.parent is None else None
        for i, name in enumerate(ins):
            if not name:
                continue
            if main_consts is not None:  # the main graph: tensor ids are the ONNX names
                const = main_consts.get(name)
                tid = name if const is None else const.param
            else:
                tid, const = scope.lookup(name)
            if const is None:
                if tid not in tensors:  # self._tensor inlined: the hottest loop of a load
                    shape, dtype = info.get(name, _UNKNOWN)
                    tensors[tid] = Tensor(tid, shape, dtype, False)
                inputs.append(tid)
                continue
            small = const.value is not None and (const.dtype in _INT_DTYPES or
                                                 const.dtype == "string" or const.shape == ())
            if small and self._state_names and const.dtype not in _INT_DTYPES and \
                    const.dtype != "string" and not ANONYMOUS.match(const.param):
                small = False  # a named scalar of a PyTorch export: CLIP's logit_scale
            if small:
                if formal is None:
                    formal = self._input_names(op, domain) or []
                key = formal[i] if i < len(formal) else (formal[-1] if formal else f"input{i}")
                if i >= len(formal) and formal:
                    key = f"{key}{i}"
                attrs.setdefault(key, const.value)
                vkey = const.key
                if vkey is None:
                    vkey = const.key = repr(const.value)
                if small_keys is None:
                    small_keys = []
                small_keys.append((key, vkey))
                continue  # an operator argument, not a weight
            if fx is not None and _fx_key(const.param) not in fx and not fused:
                if read_keys is None:
                    read_keys = {_fx_key(c.param) for c in self._const_inputs(node, scope)}
                const = self._undedup(const, op, i, fx, read_keys, torch_scope)
            pname = const.param
            # Role (param / buffer / constant) is decided once all readers are known.
            self._reads.setdefault(pname, []).append(
                Read(nid, op, i, fx.get(_fx_key(pname)) if fx else None, fx is not None))
            for p in params:
                if p.name == pname:
                    break
            else:
                params.append(Param(pname, const.shape, const.dtype))
        outputs: list[str] = []
        if main_consts is None:  # in a subgraph: outer graphs may use the same names
            names = scope.names
            for out in outs:
                if out:
                    names[out] = prefix + out
        # (the main graph's output names are their tensor ids: _Scope.lookup's default)
        for out in outs:
            if not out:
                continue
            tid = prefix + out
            if tid not in tensors:
                shape, dtype = info.get(out, _UNKNOWN)
                tensors[tid] = Tensor(tid, shape, dtype, False)
            outputs.append(tid)
        if fx:
            self._fx_info[nid] = (fx, torch_scope, fused)
            self._fx_ops.setdefault(props[_TORCH_FX], []).append(
                (nid, {_fx_key(p.name) for p in params}))
        if torch_scope is not None:
            one_op = None
            if torch_scope and torch_scope[-1][1] in ONE_OP_MODULES:
                one_op = _fx_op_name(props)
            labels = self._calls.path(base_group, [p for p, _ in torch_scope], inputs,
                                      outputs, one_op, op, self._frames(props),
                                      [c for _, c in torch_scope])
            group = base_group + tuple(labels)
            self._has_scopes = True
            self._torch_groups(base_group, [(lab, cls) for lab, (_, cls)
                                            in zip(labels, torch_scope)])
            self._module_path[nid] = _dotted(labels)
        else:
            group = base_group + _scope(raw_name)
            if group != base_group:
                self._has_scopes = True
            elif not base_group and "/" not in raw_name and not graph_attrs:
                self._unscoped.append(nid)
        meta: dict[str, Any] = {}
        if domain and domain not in ("ai.onnx",):
            meta["domain"] = domain
        if props and "FuseSuccessive" in props.get(_TORCH_RULES, ""):
            # onnxscript merged back-to-back calls (relu(relu(x)) -> one Relu): the box says
            # it stands for two ("Relu + Relu"), as a BatchNorm folded into a Conv does.
            meta["fused"] = [op]
        if graph_attrs:
            label = _last(nid)
            cf_group = self._group(group + (label,), op)
            for a in graph_attrs:
                subgraphs = [a.g] if a.type == 5 else list(a.graphs)
                for k, sg in enumerate(subgraphs):
                    sub_label = a.name if len(subgraphs) == 1 else f"{a.name}.{k}"
                    path = self._group(cf_group + (sub_label,), f"{op}.{a.name}")
                    outs = self._subgraph(sg, path, f"{nid}/{sub_label}/", scope, info)
                    inputs.extend(t for t in outs if t not in inputs)
                    meta.setdefault("subgraphs", []).append(list(path))
            group = cf_group
        elif group not in g.groups:
            self._group(group)
        kind = self._kinds.get(op)
        if kind is None:
            kind = self._kinds[op] = kind_for(op)
        # Canonical attributes follow from op and attrs alone, and attrs from the template
        # and the small constants read: computed once per distinct (op, template, constants).
        ckey = (op, akey) if small_keys is None else (op, akey, tuple(small_keys))
        found = self._canon.get(ckey)
        if found is None:
            canon = canonical(op, kind, attrs, "onnx")
            found = self._canon[ckey] = (canon, _copier(canon))
        canon, copy = found
        node_ = Node(nid, op, kind, raw_name, attrs, inputs, outputs, params, group, meta,
                     copy(canon))
        if graph_attrs:
            g.add_node(node_)  # its subgraphs' nodes were added since nid was picked
        else:
            g.nodes[nid] = node_  # nid was free when picked, and nothing was added since
        return nid

    def _subgraph(self, sg: Any, group: tuple[str, ...], prefix: str, outer: _Scope,
                  info: Mapping) -> list[str]:
        """Add a subgraph's nodes under ``group``; returns its output tensor ids."""
        scope = _Scope(outer)
        sub_info = self._value_info(sg, info)
        self._add_initializers(sg, prefix, scope, sub_info)
        init_names = {t.name for t in sg.initializer}
        used = {i for n in sg.node for i in n.input} | {o.name for o in sg.output}
        for vi in sg.input:
            if vi.name in init_names or not vi.name:
                continue
            tid = prefix + vi.name
            scope.names[vi.name] = tid
            self._tensor(tid, sub_info, vi.name)
            if vi.name not in used:
                continue  # e.g. Loop's unused iteration counter: an isolated box helps no one
            nid = self.g.unique_node_id(f"{prefix}input:{vi.name}")
            self.g.add_node(Node(nid, "Input", "io", name=vi.name, outputs=[tid], group=group,
                                 meta={"subgraph_input": True}))
        self._nodes(sg, group, prefix, scope, sub_info)
        outs = []
        for vi in sg.output:
            tid, const = scope.lookup(vi.name)
            if const is None:
                outs.append(tid)
        return outs


class _Scope:
    """Tensor names visible in a graph: its own, then its enclosing graphs' (subgraphs
    capture outer tensors by name, and may shadow them)."""

    __slots__ = ("names", "consts", "parent")

    def __init__(self, parent: _Scope | None = None) -> None:
        self.names: dict[str, str] = {}  # ONNX name -> IR tensor id
        self.consts: dict[str, _Const] = {}
        self.parent = parent

    def lookup(self, name: str) -> tuple[str, _Const | None]:
        """(tensor id, constant or None) of ``name``, innermost definition first."""
        s: _Scope | None = self
        while s is not None:
            const = s.consts.get(name)
            if const is not None:
                return const.param, const
            tid = s.names.get(name)
            if tid is not None:
                return tid, None
            s = s.parent
        return name, None


# ---- model-local functions ------------------------------------------------------------------

def _inline_functions(model: Any, functions: dict, scope_ops: dict) -> Any:
    """A copy of ``model`` with every call of a model-local function replaced by its body.

    Body nodes are named under the call's scope (``/<call scope>/<call label>/<body name>``)
    so the ordinary name-scope grouping puts each call in its own group; ``scope_ops`` maps
    that group path to the function's name. Internal tensors get the same unique prefix.
    """
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.functions[:]
    labels: dict[tuple[str, ...], int] = {}
    _inline_graph(out.graph, functions, scope_ops, labels, 0)
    return out


def _func_key(node: Any) -> tuple[str, str, str]:
    return (node.domain, node.op_type, getattr(node, "overload", ""))


def _inline_graph(gp: Any, functions: dict, scope_ops: dict, labels: dict, depth: int) -> None:
    import onnx

    new_nodes = []
    changed = False
    for node in gp.node:
        for a in node.attribute:
            if a.type == 5:
                _inline_graph(a.g, functions, scope_ops, labels, depth)
            elif a.type == 10:
                for sg in a.graphs:
                    _inline_graph(sg, functions, scope_ops, labels, depth)
        fn = functions.get(_func_key(node))
        if fn is None or depth > 32:  # depth guard: recursive functions are invalid ONNX
            new_nodes.append(node)
            continue
        changed = True
        new_nodes.extend(_expand_call(node, fn, functions, scope_ops, labels, depth))
    if changed:
        # Copy into a fresh container before clearing: the kept nodes are elements of
        # gp.node, and not every protobuf backend keeps removed elements alive.
        fresh = onnx.GraphProto()
        fresh.node.extend(new_nodes)
        del gp.node[:]
        gp.node.extend(fresh.node)


def _expand_call(call: Any, fn: Any, functions: dict, scope_ops: dict, labels: dict,
                 depth: int) -> list:
    import onnx

    scope = _scope(call.name)
    base = _last(call.name) if call.name else fn.name
    key = scope + (base,)
    n = labels.get(key, 0)
    labels[key] = n + 1
    label = base if n == 0 else f"{base}_{n}"
    path = scope + (label,)
    scope_ops.setdefault(path, f"{fn.domain}.{fn.name}" if fn.domain else fn.name)
    prefix = "/" + "/".join(path) + "/"
    rename: dict[str, str] = {"": ""}
    for formal, actual in zip(fn.input, call.input):
        rename[formal] = actual
    for formal in fn.input[len(call.input):]:
        rename[formal] = ""
    for formal, actual in zip(fn.output, call.output):
        rename[formal] = actual
    call_attrs = {a.name: a for a in call.attribute}
    defaults = {a.name: a for a in getattr(fn, "attribute_proto", [])}

    def mapped(name: str) -> str:
        if name not in rename:
            rename[name] = prefix + name
        return rename[name]

    body: list = []
    for bn in fn.node:
        nn = onnx.NodeProto()
        nn.CopyFrom(bn)
        del nn.input[:]
        nn.input.extend(mapped(i) for i in bn.input)
        del nn.output[:]
        nn.output.extend(mapped(o) for o in bn.output)
        nn.name = prefix + (bn.name.lstrip("/") if bn.name else bn.op_type)
        if any(p.key == _TORCH_SCOPES for p in getattr(nn, "metadata_props", ())):
            # The call's scope (from its name) must win over the body's own torch scope.
            keep = [p for p in nn.metadata_props if p.key != _TORCH_SCOPES]
            del nn.metadata_props[:]
            nn.metadata_props.extend(keep)
        del nn.attribute[:]
        for a in bn.attribute:
            if a.ref_attr_name:
                src = call_attrs.get(a.ref_attr_name) or defaults.get(a.ref_attr_name)
                if src is None:
                    continue
                na = onnx.AttributeProto()
                na.CopyFrom(src)
                na.name = a.name
                nn.attribute.append(na)
            else:
                na = nn.attribute.add()
                na.CopyFrom(a)
                if na.type == 5:
                    _rename_captures(na.g, mapped)
                elif na.type == 10:
                    for sg in na.graphs:
                        _rename_captures(sg, mapped)
        if not nn.domain and not nn.op_type:
            continue
        body.append(nn)
    # Nested calls inside the body are expanded in turn.
    holder = onnx.GraphProto()
    holder.node.extend(body)
    _inline_graph(holder, functions, scope_ops, labels, depth + 1)
    return list(holder.node)


def _rename_captures(sg: Any, mapped: Any) -> None:
    """Rename, inside a subgraph of a function body, the names it captures from the body."""
    local = {t.name for t in sg.initializer} | {i.name for i in sg.input}
    for n in sg.node:
        local.update(n.output)
    for n in sg.node:
        for k, name in enumerate(n.input):
            if name and name not in local:
                n.input[k] = mapped(name)
    for o in sg.output:
        if o.name not in local:
            o.name = mapped(o.name)
