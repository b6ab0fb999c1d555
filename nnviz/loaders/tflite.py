"""TFLite (``.tflite``) flatbuffers read as data with the ``tflite`` schema package, no TensorFlow.

The file is memory-mapped and walked through the schema's generated accessors: operators (one
node each, op = the builtin name, e.g. ``CONV_2D``), tensors with shapes and dtypes, builtin
options as attributes (``stride_w``, ``padding`` ...; a fused activation is shown in the box
title, ``CONV_2D + RELU6``), quantization parameters (scale / zero point, per-channel axis) in
the details, and the subgraphs of control-flow ops (``WHILE`` cond/body, ``IF`` then/else,
``CALL_ONCE``) as groups under the op. Constant tensors (those with a buffer) are the
parameters of the op that reads them: weights and biases count as parameters, integer shape /
axis / padding operands as constants. Weight sizes come from the shapes (and the buffer's
vector length), never from reading the bytes; :func:`iter_weights` (``nnviz stats``) reads one
buffer at a time and dequantizes with the tensor's scale and zero point.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nnviz.errors import MissingDependency, ModelError
from nnviz.ir import Graph, Group, Node, Param, Tensor
from nnviz.kinds import kind_for
from nnviz.loaders.canon_attrs import canonicalize

MAX_OPS = 1_000_000
MAX_DEPTH = 16  # nested control-flow subgraphs

_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
           6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64", 11: "complex128",
           12: "uint64", 13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
           18: "bfloat16"}
_ACTIVATIONS = {0: None, 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDING = {0: "SAME", 1: "VALID"}
# TFLite builtin names the shared kind table does not know by their spelling.
_KINDS = {
    "FULLY_CONNECTED": "linear", "BATCH_MATMUL": "linear", "LOGISTIC": "activation",
    "TRANSPOSE_CONV": "conv", "CONV_3D_TRANSPOSE": "conv", "RESIZE_BILINEAR": "pool",
    "RESIZE_NEAREST_NEIGHBOR": "pool", "CONCATENATION": "reshape", "STRIDED_SLICE": "reshape",
    "PADV2": "reshape", "MIRROR_PAD": "reshape", "QUANTIZE": "reshape", "DEQUANTIZE": "reshape",
    "WHILE": "recurrent", "IF": "other", "CALL_ONCE": "other", "MEAN": "reduce", "SUM": "reduce",
    "REDUCE_MAX": "reduce", "REDUCE_MIN": "reduce", "REDUCE_PROD": "reduce",
    "SQUARED_DIFFERENCE": "elementwise", "L2_NORMALIZATION": "norm", "LOG_SOFTMAX": "activation",
    "EXPAND_DIMS": "reshape", "BROADCAST_TO": "reshape", "GATHER_ND": "reshape",
    "SPLIT_V": "reshape", "PACK": "reshape", "UNPACK": "reshape", "FILL": "constant",
    "ZEROS_LIKE": "constant", "ONES_LIKE": "constant", "SELECT_V2": "elementwise",
    "SELECT": "elementwise", "ADD_N": "elementwise", "FLOOR_DIV": "elementwise",
    "FLOOR_MOD": "elementwise", "MAXIMUM": "elementwise", "MINIMUM": "elementwise",
    "LESS": "elementwise", "GREATER": "elementwise", "LESS_EQUAL": "elementwise",
    "GREATER_EQUAL": "elementwise", "NOT_EQUAL": "elementwise", "LOGICAL_AND": "elementwise",
    "LOGICAL_OR": "elementwise", "LOGICAL_NOT": "elementwise", "RSQRT": "elementwise",
    "SQUARE": "elementwise", "CUMSUM": "reduce", "ARG_MAX": "reduce", "ARG_MIN": "reduce",
}
# Subgraph-index options of control-flow ops: (options field, group label).
_SUBGRAPH_FIELDS = {
    "WHILE": (("cond_subgraph_index", "cond"), ("body_subgraph_index", "body")),
    "IF": (("then_subgraph_index", "then"), ("else_subgraph_index", "else")),
    "CALL_ONCE": (("init_subgraph_index", "init"),),
    "CALL": (("subgraph", "call"),),
}
_WEIGHT_DTYPES = {"float32", "float16", "bfloat16", "float64", "int8", "uint8", "int16", "int4"}


def _tflite() -> Any:
    try:
        import tflite
    except ImportError:
        raise MissingDependency("Reading a .tflite file", "tflite", "tflite") from None
    return tflite


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tfl = _tflite()
        try:
            self.fh = open(path, "rb")
            self.buf: Any = mmap.mmap(self.fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise ModelError(path, f"cannot be read ({exc})") from None
        size = len(self.buf)
        if size < 8 or bytes(self.buf[4:8]) != b"TFL3":
            self.close()
            raise ModelError(path, "is not a TFLite flatbuffer (no TFL3 identifier)")
        self.size = size
        self.model = self.tfl.Model.GetRootAs(self.buf, 0)
        self.opcodes = [self._opcode(i) for i in range(self._count(
            self.model.OperatorCodesLength(), "operator codes"))]
        self.nsub = self._count(self.model.SubgraphsLength(), "subgraphs")
        self.nbuf = self._count(self.model.BuffersLength(), "buffers")
        self._opt_classes = {v: k for k, v in vars(self.tfl.BuiltinOptions).items()
                             if not k.startswith("_") and isinstance(v, int)}

    def close(self) -> None:
        try:
            self.buf.close()
        except (AttributeError, BufferError):
            pass
        self.fh.close()

    def _count(self, n: int, what: str) -> int:
        # every vector element takes at least 4 bytes: a larger count is a damaged offset
        if n < 0 or n * 4 > self.size:
            raise ModelError(self.path, f"declares {n:,} {what} in a {self.size:,}-byte file; "
                                        "it is damaged")
        return n

    def _opcode(self, i: int) -> tuple[str, int]:
        oc = self.model.OperatorCodes(i)
        code = max(int(oc.BuiltinCode()), int(oc.DeprecatedBuiltinCode()))
        if code == 32:  # CUSTOM
            custom = oc.CustomCode()
            return (custom.decode("utf-8", "replace") if custom else "CUSTOM"), code
        name = self.tfl.utils.BUILTIN_OPCODE2NAME.get(code, f"BUILTIN_{code}")
        return name, code

    # ---- pieces ----------------------------------------------------------------------------
    def options(self, op: Any) -> dict[str, Any]:
        kind = op.BuiltinOptionsType()
        cls_name = self._opt_classes.get(kind)
        table = op.BuiltinOptions()
        if not cls_name or table is None:
            return {}
        module = getattr(self.tfl, cls_name, None)
        cls = getattr(module, cls_name, module) if module is not None else None
        if cls is None or not hasattr(cls, "Init"):
            return {}
        obj = cls()
        obj.Init(table.Bytes, table.Pos)
        out: dict[str, Any] = {}
        for name in sorted(n for n in dir(cls) if n[:1].isupper()):
            if name.startswith(("GetRootAs", "Init")) or name.endswith(
                    ("IsNone", "AsNumpy", "Length", "BufferHasIdentifier")):
                continue
            fn = getattr(obj, name)
            vector = hasattr(obj, name + "Length")
            try:
                if vector:
                    n = self._count(int(getattr(obj, name + "Length")()), name)
                    value: Any = [_plain(fn(j)) for j in range(min(n, 64))]
                else:
                    value = fn()
            except TypeError:
                continue  # a nested table accessor needing arguments: not an attribute
            key = _snake(name)
            if key == "fused_activation_function":
                value = _ACTIVATIONS.get(int(value), str(value))
            elif key == "padding" and isinstance(value, int):
                value = _PADDING.get(value, value)
            value = _plain(value)
            if value is not _SKIP:
                out[key] = value
        return out

    def quantization(self, tensor: Any) -> dict[str, Any] | None:
        q = tensor.Quantization()
        if q is None:
            return None
        n_scale = self._count(q.ScaleLength(), "scales")
        if not n_scale:
            return None
        scales = [float(q.Scale(j)) for j in range(min(n_scale, 4096))]
        zeros = [int(q.ZeroPoint(j)) for j in range(min(self._count(q.ZeroPointLength(),
                                                                     "zero points"), 4096))]
        out: dict[str, Any] = {}
        if n_scale == 1:
            out["scale"] = _round(scales[0])
            out["zero_point"] = zeros[0] if zeros else 0
        else:
            out["per_channel"] = n_scale
            out["axis"] = int(q.QuantizedDimension())
            out["scale_range"] = [_round(min(scales)), _round(max(scales))]
            if zeros and any(zeros):
                out["zero_points"] = zeros[:16]
        if q.MinLength() == 1 and q.MaxLength() == 1:
            out["range"] = [_round(float(q.Min(0))), _round(float(q.Max(0)))]
        return out

    def buffer_bytes(self, index: int) -> int:
        """Bytes a buffer holds, from the vector's length or the (offset, size) of >2 GB models;
        the bytes themselves are not read."""
        if index <= 0 or index >= self.nbuf:
            return 0
        b = self.model.Buffers(index)
        if b is None:
            return 0
        n = int(b.DataLength())
        if n == 0 and hasattr(b, "Size"):
            n = int(b.Size() or 0)
        return n


_SKIP = object()


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return _round(v) if v == v else str(v)
    if hasattr(v, "item") and not hasattr(v, "__len__"):
        return _plain(v.item())
    if isinstance(v, list):
        items = [_plain(x) for x in v]
        return _SKIP if any(x is _SKIP for x in items) else items
    return _SKIP


_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_3D", "TRANSPOSE_CONV",
             "CONV_3D_TRANSPOSE"}


def _operand_role(opname: str, pos: int) -> str:
    """'input', 'weight', 'bias' for the layers TFLite gives weights (TRANSPOSE_CONV takes the
    output shape first), else input<pos>."""
    if opname in _WEIGHTED:
        roles = ("output_shape", "weight", "input", "bias") if opname == "TRANSPOSE_CONV" \
            else ("input", "weight", "bias")
        if pos < len(roles):
            return roles[pos]
    return "input" if pos == 0 else f"input{pos}"


def _layer_name(tensor_name: str) -> str:
    """A short layer name from a converter's tensor name.

    TensorFlow's converter joins the names of fused ops with ';' and scopes them
    ('model/block0_dw_relu6/Relu6;model/block0_dw/depthwise'): the last fused part is the layer
    the op came from, and its scope component ('block0_dw') names it better than 'depthwise'.
    """
    parts = [p for p in tensor_name.split(";") if p and not p.isdigit()]
    name = parts[-1] if parts else tensor_name
    scopes = [s for s in name.split("/") if s]
    if len(scopes) >= 3:
        return "/".join(scopes[1:-1])
    return name


def _quant_text(q: dict[str, Any] | None, dtype: str | None) -> str:
    if not q:
        return ""
    if "per_channel" in q:
        return f"{dtype} per-channel ({q['per_channel']} scales, axis {q['axis']})"
    # the real value of a stored q, written as Netron writes it: 0.0235 * (q + 128)
    zp = q["zero_point"]
    body = "q" if not zp else f"(q - {zp})" if zp > 0 else f"(q + {-zp})"
    return f"{dtype}: {q['scale']:g} * {body}"


class _Builder:
    def __init__(self, r: _Reader) -> None:
        self.r = r
        self.g = Graph()
        self.nops = 0
        self.quant_of: dict[str, str] = {}  # tensor id -> its quantization, as drawn

    def tensor_id(self, prefix: str, sg: Any, index: int, names: dict[int, str]) -> str:
        return prefix + names[index]

    def subgraph(self, si: int, prefix: str, group: tuple[str, ...], stack: tuple[int, ...],
                 bind: dict[int, str] | None = None) -> tuple[list[str], list[str]]:
        """Add subgraph ``si``'s operators; returns its (input, output) tensor ids."""
        r = self.r
        if si < 0 or si >= r.nsub:
            raise ModelError(r.path, f"refers to subgraph {si}, which does not exist")
        sg = r.model.Subgraphs(si)
        ntensors = r._count(sg.TensorsLength(), "tensors")
        tensors = [sg.Tensors(i) for i in range(ntensors)]
        # ids: the tensor's name when it is unique in this subgraph (what Netron shows)
        names: dict[int, str] = {}
        seen: dict[str, int] = {}
        for i, t in enumerate(tensors):
            raw = t.Name()
            name = raw.decode("utf-8", "replace") if raw else f"t{i}"
            seen[name] = seen.get(name, 0) + 1
            names[i] = name
        for i, name in list(names.items()):
            if seen[name] > 1:
                names[i] = f"{name}#{i}"
        bind = bind or {}

        def tid(i: int) -> str:
            return bind.get(i) or (prefix + names[i])

        info: dict[int, tuple[tuple[int, ...] | None, str, dict | None, int]] = {}

        def tensor_info(i: int) -> tuple[tuple[int, ...] | None, str, dict | None, int]:
            if i not in info:
                t = tensors[i]
                n = r._count(t.ShapeLength(), "dims")
                shape: tuple[Any, ...] | None = tuple(int(t.Shape(j)) for j in range(n))
                sig_n = t.ShapeSignatureLength()
                if sig_n == n and n:
                    sig = [int(t.ShapeSignature(j)) for j in range(n)]
                    # -1 in the signature: a dynamic dim (the batch) shown by name
                    shape = tuple("batch" if s == -1 and j == 0 else (None if s == -1 else d)
                                  for j, (s, d) in enumerate(zip(sig, shape, strict=True)))
                if n == 0 and not t.HasRank() and r.buffer_bytes(int(t.Buffer())) == 0:
                    shape = None  # unranked
                info[i] = (shape, _DTYPES.get(int(t.Type()), f"type{int(t.Type())}"),
                           r.quantization(t), int(t.Buffer()))
            return info[i]

        def valid(i: int) -> bool:
            return 0 <= i < ntensors

        ins = [int(sg.Inputs(j)) for j in range(r._count(sg.InputsLength(), "inputs"))]
        outs = [int(sg.Outputs(j)) for j in range(r._count(sg.OutputsLength(), "outputs"))]
        for i in ins + outs:
            if not valid(i):
                raise ModelError(r.path, f"subgraph {si} names tensor {i}, which does not exist")
        nops = r._count(sg.OperatorsLength(), "operators")
        # Weights stored compressed (float16, sparse) reach their layer through a DEQUANTIZE /
        # DENSIFY of a constant: that op is storage, not a layer. Its output is drawn as the
        # stored constant on the layer that reads it (as Netron and the ONNX loader treat
        # constants), so a float16 model looks like its float32 twin.
        unpack: dict[int, int] = {}  # output tensor -> the stored constant it unpacks
        for oi in range(nops):
            op = sg.Operators(oi)
            idx = int(op.OpcodeIndex())
            if not 0 <= idx < len(r.opcodes) or r.opcodes[idx][0] not in ("DEQUANTIZE",
                                                                            "DENSIFY"):
                continue
            if op.InputsLength() == 1 and op.OutputsLength() == 1:
                src, dst = int(op.Inputs(0)), int(op.Outputs(0))
                if valid(src) and valid(dst) and src not in bind and dst not in outs and \
                        r.buffer_bytes(int(tensors[src].Buffer())) > 0:
                    unpack[dst] = src
        for oi in range(nops):
            self.nops += 1
            if self.nops > MAX_OPS:
                raise ModelError(r.path, f"has more than {MAX_OPS:,} operators (with its "
                                         "subgraphs); it is damaged or too big to draw")
            op = sg.Operators(oi)
            idx = int(op.OpcodeIndex())
            if not 0 <= idx < len(r.opcodes):
                raise ModelError(r.path, f"operator {oi} uses opcode {idx}, which does not "
                                         "exist")
            opname, code = r.opcodes[idx]
            opts = r.options(op) if code != 32 else {}
            op_in = [int(op.Inputs(j)) for j in range(r._count(op.InputsLength(), "inputs"))]
            op_out = [int(op.Outputs(j)) for j in range(r._count(op.OutputsLength(),
                                                                  "outputs"))]
            for i in op_in + op_out:
                if i != -1 and not valid(i):
                    raise ModelError(r.path, f"operator {oi} ({opname}) names tensor {i}, "
                                             "which does not exist")
            if len(op_out) == 1 and op_out[0] in unpack:
                continue  # drawn on its consumers (see unpack above)
            inputs: list[str] = []
            params: list[Param] = []
            quant: dict[str, str] = {}
            for pos, i in enumerate(op_in):
                if i == -1:
                    continue  # an omitted optional operand
                i = unpack.get(i, i)
                shape, dtype, q, buf = tensor_info(i)
                if r.buffer_bytes(buf) > 0 and i not in bind:
                    # a constant: weights/biases are parameters, int shape operands constants
                    # (a scalar such as the 0 of `x > 0` is a constant, not a weight)
                    weighty = dtype in _WEIGHT_DTYPES or (dtype == "int32" and q is not None)
                    numel = 1
                    for d in shape or ():
                        numel *= d if isinstance(d, int) else 1
                    role = "param" if weighty and numel > 1 else "constant"
                    params.append(Param(prefix + names[i], shape, dtype, trainable=False,
                                        role=role))
                    if q:
                        quant[_operand_role(opname, pos)] = _quant_text(q, dtype)
                else:
                    inputs.append(tid(i))
                    self.g.add_tensor(Tensor(tid(i), shape, dtype))
                    if q:
                        quant[_operand_role(opname, pos)] = self.quant_of[tid(i)] = \
                            _quant_text(q, dtype)
            outputs = []
            for i in op_out:
                if i == -1:
                    continue
                shape, dtype, q, _ = tensor_info(i)
                if q:
                    self.quant_of[tid(i)] = _quant_text(q, dtype)
                outputs.append(tid(i))
                self.g.add_tensor(Tensor(tid(i), shape, dtype))
                if q:
                    quant["output" if len(op_out) == 1 else f"output{len(outputs) - 1}"] = \
                        _quant_text(q, dtype)
            attrs = dict(opts)
            meta: dict[str, Any] = {}
            fused = attrs.get("fused_activation_function")
            if fused:
                meta["fused"] = [fused]
            if quant:
                # one attribute per operand, so the details list them as rows
                attrs.update({f"quantization.{k}": v for k, v in quant.items()})
                out_q = quant.get("output")
                if out_q:
                    meta["note"] = out_q
            base = _layer_name(names[op_out[0]]) if op_out and op_out[0] != -1 else \
                opname.lower()
            nid = self.g.unique_node_id(prefix + f"{oi}:{opname}")
            node = Node(id=nid, op=opname, kind=_KINDS.get(opname) or kind_for(opname),
                        name=base, attrs=attrs, inputs=inputs, outputs=outputs, params=params,
                        group=group, meta=meta)
            if code == 32:
                node.meta["custom"] = True
            self.g.add_node(node)
            for field, label in _SUBGRAPH_FIELDS.get(opname, ()):
                sub = opts.get(field)
                if not isinstance(sub, int) or sub <= 0:
                    continue
                if sub in stack or len(stack) >= MAX_DEPTH:
                    raise ModelError(r.path, f"subgraph {sub} is used recursively (operator "
                                             f"{oi}, {opname}); the file is damaged")
                path = group + (f"{oi}:{opname.lower()}", label)
                self.g.ensure_group(path)
                self.g.groups[path[:-1]].op = opname
                self.g.groups[path].op = f"{opname}.{label}"
                self.g.groups[path].attrs = {"subgraph": sub}
                # the subgraph's inputs are the op's operands (WHILE/IF: after the condition)
                operands = [tid(i) for i in (op_in[1:] if opname == "IF" else op_in) if i != -1]
                sub_sg = r.model.Subgraphs(sub) if 0 <= sub < r.nsub else None
                if sub_sg is None:
                    raise ModelError(r.path, f"refers to subgraph {sub}, which does not exist")
                sub_ins = [int(sub_sg.Inputs(j)) for j in range(r._count(
                    sub_sg.InputsLength(), "inputs"))]
                sub_bind = {si_: operands[k] for k, si_ in enumerate(sub_ins) if k < len(operands)}
                _, sub_outs = self.subgraph(sub, nid + f"/{label}/", path, stack + (sub,),
                                            sub_bind)
                # the op consumes what its subgraphs produce, so the drawing reads
                # operands -> subgraph -> op -> results
                for t in sub_outs:
                    if t not in node.inputs and t not in sub_bind.values():
                        node.inputs.append(t)
        return [tid(i) for i in ins], [tid(i) for i in outs]


def load_file(path: str | Path, **_: Any) -> Graph:
    """A .tflite flatbuffer -> Graph (see the module docstring)."""
    path = Path(path)
    r = _Reader(path)
    try:
        b = _Builder(r)
        if r.nsub == 0:
            raise ModelError(path, "holds no subgraph, so there is no model to draw")
        ins, outs = b.subgraph(0, "", (), (0,))
        g = b.g
        sg0 = r.model.Subgraphs(0)
        sig = _signature_names(r)
        in_names = [sig.get(int(sg0.Inputs(j)), t) for j, t in enumerate(ins)]
        out_names = [sig.get(int(sg0.Outputs(j)), t) for j, t in enumerate(outs)]
        first_nodes = dict(g.nodes)
        g.nodes.clear()
        for t, label in zip(ins, in_names, strict=True):
            note = {"note": b.quant_of[t]} if t in b.quant_of else {}
            g.add_node(Node(id=g.unique_node_id(f"input:{t}"), op="Input", kind="io",
                            name=label, outputs=[t], meta=note))
            g.add_tensor(Tensor(t))
        g.nodes.update(first_nodes)
        for t, label in zip(outs, out_names, strict=True):
            g.add_node(Node(id=g.unique_node_id(f"output:{t}"), op="Output", kind="io",
                            name=label, inputs=[t]))
        g.inputs, g.outputs = ins, outs
        name = sg0.Name().decode("utf-8", "replace") if sg0.Name() else ""
        g.name = name if name and name != "main" else path.stem
        desc = r.model.Description()
        g.meta.update({"framework": "tflite", "format": "tflite", "file": str(path),
                       "producer": (desc.decode("utf-8", "replace") if desc else "TFLite"),
                       "schema_version": int(r.model.Version()), "subgraphs": r.nsub})
        # groups in first-appearance order (ensure_group made them while walking)
        g.groups = {p: Group(p, grp.label, grp.op, grp.attrs) for p, grp in g.groups.items()}
        return canonicalize(g, "tflite")
    finally:
        r.close()


def _signature_names(r: _Reader) -> dict[int, str]:
    """Tensor index -> the name the model's signature gives it ("image", not
    "serving_default_image:0"), for subgraph 0, as Netron labels inputs and outputs."""
    out: dict[int, str] = {}
    try:
        n = r._count(r.model.SignatureDefsLength(), "signatures")
        for i in range(min(n, 64)):
            sd = r.model.SignatureDefs(i)
            if int(sd.SubgraphIndex()) != 0:
                continue
            for get, count in ((sd.Inputs, sd.InputsLength()), (sd.Outputs, sd.OutputsLength())):
                for j in range(min(r._count(count, "signature tensors"), 4096)):
                    tm = get(j)
                    name = tm.Name()
                    if name:
                        out.setdefault(int(tm.TensorIndex()), name.decode("utf-8", "replace"))
    except AttributeError:  # an older schema package without signatures
        return {}
    return out


def iter_weights(path: str | Path, trust_pickle: bool = False) -> Iterator[Any]:
    """Every constant tensor with data (weights, biases), one buffer at a time.

    Quantized tensors are dequantized with their scale and zero point so statistics are in the
    model's real units; the raw integers are what the file holds.
    """
    import numpy as np

    from nnviz.loaders.weights import WeightTensor

    path = Path(path)
    r = _Reader(path)
    np_types = {"float32": np.float32, "float16": np.float16, "float64": np.float64,
                "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
                "int64": np.int64, "uint16": np.uint16, "uint32": np.uint32,
                "uint64": np.uint64, "bool": np.bool_}
    try:
        seen: set[int] = set()
        for si in range(r.nsub):
            sg = r.model.Subgraphs(si)
            for i in range(r._count(sg.TensorsLength(), "tensors")):
                t = sg.Tensors(i)
                bi = int(t.Buffer())
                if bi in seen or r.buffer_bytes(bi) == 0:
                    continue
                seen.add(bi)
                dtype = _DTYPES.get(int(t.Type()), "")
                npt = np_types.get(dtype)
                if npt is None:
                    continue  # int4 / bfloat16 / strings: no plain numpy view
                shape = tuple(int(t.Shape(j)) for j in range(r._count(t.ShapeLength(), "dims")))
                b = r.model.Buffers(bi)
                n = int(b.DataLength())
                if n:
                    start = b._tab.Vector(b._tab.Offset(4))
                else:  # >2 GB models: data after the flatbuffer at (offset, size)
                    start, n = int(b.Offset()), int(b.Size())
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                itemsize = np.dtype(npt).itemsize
                if start < 0 or start + n > r.size or count * itemsize > n:
                    raise ModelError(path, f"tensor {t.Name()!r} needs {count * itemsize:,} "
                                           f"bytes but its buffer holds {n:,}; the file is "
                                           "damaged")
                arr = np.frombuffer(r.buf, dtype=np.dtype(npt).newbyteorder("<"), count=count,
                                    offset=start).reshape(shape)
                q = t.Quantization()
                if q is not None and q.ScaleLength() and npt in (np.int8, np.uint8, np.int16,
                                                                 np.int32):
                    scale = q.ScaleAsNumpy().astype(np.float64)
                    zero = q.ZeroPointAsNumpy().astype(np.float64) if q.ZeroPointLength() \
                        else np.zeros_like(scale)
                    if scale.size > 1 and arr.ndim:
                        axis = int(q.QuantizedDimension())
                        if 0 <= axis < arr.ndim and arr.shape[axis] == scale.size:
                            shp = [1] * arr.ndim
                            shp[axis] = scale.size
                            scale, zero = scale.reshape(shp), zero.reshape(shp)
                        else:
                            scale, zero = scale[:1], zero[:1]
                    arr = (arr.astype(np.float64) - zero[..., :] if zero.size == 1 else
                           arr.astype(np.float64) - zero) * scale
                    dtype = f"{dtype} (dequantized)"
                raw = t.Name()
                name = raw.decode("utf-8", "replace") if raw else f"buffer{bi}"
                yield WeightTensor(name, shape, dtype, arr)
    finally:
        r.close()
