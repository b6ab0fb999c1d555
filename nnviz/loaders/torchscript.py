"""TorchScript archives (``torch.jit.save``: ``.pt``/``.pth``/``.ptl``) read as data.

A TorchScript file is a zip holding ``code/`` (the model's TorchScript source, one file per
class), ``data.pkl`` (the module tree: attributes, parameters and buffers as references to
``data/<key>`` storages), ``constants.pkl`` (tensor constants the code names
``CONSTANTS.cN``) and ``version``. ``torch.jit.load`` unpickles the pickles with a restricted
unpickler and compiles the code; nnviz does neither:

- the pickles are walked by :mod:`nnviz.loaders.pickle_data`, which records globals and calls
  as plain data and never imports or calls anything (a payload is just a record);
- the code is parsed with :func:`ast.parse` (never compiled or executed) and *interpreted
  symbolically*: starting at the root module's ``forward``, each ``torch.X(...)`` call becomes a
  node, each ``(submodule).forward(...)`` call a group (the module path), a module without
  submodules (``Conv2d``, ``Linear``) one box with its parameters, ``if``/``for``/``while``
  with a data-dependent condition a ``prim::If`` / ``prim::Loop`` group; conditions on known
  values (``self.training`` from data.pkl, constants) are evaluated, so eval-mode branches
  are the ones drawn;
- tensor shapes and dtypes come from the storages' records in data.pkl (no byte is read), input
  shapes from ``traced_inputs.pkl`` when ``torch.jit.trace`` recorded them;
- :func:`iter_weights` (``nnviz stats``) reads one storage at a time with numpy.

No torch import is needed. Parameters vs buffers follow the classes' ``__parameters__`` and
``__buffers__`` lists (PyTorch's convention); other tensor attributes and ``CONSTANTS`` are
constants.
"""

from __future__ import annotations

import ast
import math
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nnviz.errors import ModelError
from nnviz.ir import Graph, Group, Node, Param, Tensor
from nnviz.kinds import kind_for
from nnviz.loaders import pickle_data as pd
from nnviz.loaders.canon_attrs import canonicalize, canonicalize_node

# ---- limits: a hostile archive must not make us run for ever or fill memory ------------------
MAX_PICKLE_BYTES = 256 << 20
MAX_CODE_BYTES = 64 << 20
MAX_STEPS = 3_000_000  # interpreted statements + expressions
MAX_NODES = 500_000
MAX_DEPTH = 80  # nested calls

_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "QInt8Storage": "int8", "QUInt8Storage": "uint8",
    "QInt32Storage": "int32", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128", "QUInt4x2Storage": "uint8",
    "Float8_e4m3fnStorage": "float8", "Float8_e5m2Storage": "float8",
}

_MANGLE = re.compile(r"\.___torch_mangle_\d+")


def is_torchscript(names: list[str]) -> bool:
    """A zip listing that is a TorchScript archive.

    ``<root>/data.pkl`` and ``<root>/version`` are in every torch zip (torch.save too);
    ``code/`` or ``constants.pkl`` only in torch.jit.save archives. An archive that lost its
    code still comes here, for a clear message instead of torch.load's jit dispatch.
    """
    roots = {n.split("/", 1)[0] for n in names if "/" in n}
    for root in roots:
        if f"{root}/data.pkl" in names and (f"{root}/version" in names or
                                            f"{root}/.data/version" in names) and \
                (f"{root}/constants.pkl" in names or
                 any(n.startswith(f"{root}/code/") for n in names)):
            return True
    return False


def sniff(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return is_torchscript(zf.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


# ---- the archive as data -------------------------------------------------------------------


@dataclass(frozen=True)
class TensorInfo:
    """A tensor recorded in a pickle: where its bytes are and what shape; nothing read."""

    key: str
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    storage_numel: int
    quant: dict | None = None

    @property
    def ident(self) -> tuple:
        return (self.key, self.offset, self.shape, self.stride)


@dataclass
class ModuleObj:
    qualname: str  # as in the archive: "__torch__.torch.nn.modules.conv.___torch_mangle_0.Conv2d"
    attrs: dict[str, Any] = field(default_factory=dict)
    state: Any = None  # a __getstate__ tuple (quantized modules), restored by __setstate__

    @property
    def clean(self) -> str:
        """The class path without mangling and without the ``__torch__.`` prefix."""
        name = _MANGLE.sub("", self.qualname)
        return name[len("__torch__."):] if name.startswith("__torch__.") else name

    @property
    def short(self) -> str:
        return self.clean.rsplit(".", 1)[-1]

    @property
    def is_packed(self) -> bool:
        """A weight holder rather than a layer: a torch.classes object (quantized packed
        params) or the LinearPackedParams module that wraps one."""
        return self.clean.startswith("torch.classes.") or self.short.endswith("PackedParams")


class Archive:
    """The members of a TorchScript zip, read on demand, with size limits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
            names = self.zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelError(path, f"is not a readable zip archive ({exc})") from None
        self.names = set(names)
        roots = sorted({n.split("/", 1)[0] for n in names if "/" in n})
        self.root = next((r for r in roots if f"{r}/data.pkl" in self.names), "")
        if not self.root:
            raise ModelError(path, "is a zip archive without data.pkl, not a TorchScript model")
        if not any(n.startswith(f"{self.root}/code/") for n in names):
            raise ModelError(path, "is a TorchScript-like archive without code/; nnviz needs the "
                                   "model's TorchScript code to draw it")
        self._classes: dict[str, dict[str, Any]] = {}
        self._parsed: dict[str, ast.Module | None] = {}
        self.code_bytes = 0

    def close(self) -> None:
        self.zf.close()

    def read(self, member: str, limit: int) -> bytes | None:
        name = f"{self.root}/{member}"
        if name not in self.names:
            return None
        info = self.zf.getinfo(name)
        if info.file_size > limit:
            raise ModelError(self.path, f"member {member} is {info.file_size:,} bytes, more "
                                        "than nnviz reads for a drawing")
        try:
            return self.zf.read(name)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ModelError(self.path, f"member {member} is damaged ({exc})") from None

    def pickle(self, member: str) -> Any:
        data = self.read(member, MAX_PICKLE_BYTES)
        if data is None:
            return None
        try:
            return pd.loads(data)
        except pd.PickleDataError as exc:
            raise ModelError(self.path, f"{member} is damaged ({exc})") from None

    def version(self) -> str:
        for member in ("version", ".data/version"):
            data = self.read(member, 1024)
            if data is not None:
                return data.decode("ascii", "replace").strip()
        return "?"

    # ---- code -------------------------------------------------------------------------------
    def module_ast(self, dotted: str) -> ast.Module | None:
        """The parsed ``code/<dotted as path>.py`` (never compiled or run), or None."""
        if dotted in self._parsed:
            return self._parsed[dotted]
        data = self.read("code/" + dotted.replace(".", "/") + ".py", MAX_CODE_BYTES)
        tree = None
        if data is not None:
            self.code_bytes += len(data)
            if self.code_bytes > MAX_CODE_BYTES:
                raise ModelError(self.path, "holds more TorchScript code than nnviz reads")
            try:
                tree = ast.parse(data.decode("utf-8", "replace"), filename=dotted)
            except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
                raise ModelError(self.path, f"code/{dotted.replace('.', '/')}.py cannot be "
                                            f"parsed ({type(exc).__name__})") from None
        self._parsed[dotted] = tree
        return tree

    def lookup(self, qualname: str) -> ast.AST | None:
        """A class or function definition by qualified name (``__torch__.a.b.C``)."""
        mod, _, name = qualname.rpartition(".")
        if not mod:
            return None
        tree = self.module_ast(mod)
        if tree is None:
            return None
        for stmt in tree.body:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)) and stmt.name == name:
                return stmt
        return None

    def class_info(self, qualname: str) -> dict[str, Any]:
        """Parameters, buffers, submodule annotations, constants and methods of a class."""
        if qualname in self._classes:
            return self._classes[qualname]
        info: dict[str, Any] = {"params": [], "buffers": [], "consts": {}, "methods": {}}
        node = self.lookup(qualname)
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                        isinstance(stmt.targets[0], ast.Name):
                    name = stmt.targets[0].id
                    if name in ("__parameters__", "__buffers__"):
                        vals = _literal(stmt.value)
                        if isinstance(vals, (list, tuple)):
                            key = "params" if name == "__parameters__" else "buffers"
                            info[key] = [str(v) for v in vals]
                elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and stmt.value is not None:
                    info["consts"][stmt.target.id] = _literal(stmt.value)
                elif isinstance(stmt, ast.FunctionDef):
                    info["methods"][stmt.name] = stmt
        self._classes[qualname] = info
        return info


def _literal(node: ast.AST) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


# ---- pickle records -> plain values -------------------------------------------------------


class _Resolver:
    """Turns pickle_data records into TensorInfo / ModuleObj / plain values (no code runs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[int, Any] = {}

    def __call__(self, v: Any, depth: int = 0) -> Any:
        if depth > 200:
            raise ModelError(self.path, "data.pkl is nested too deeply (damaged or hostile file?)")
        if isinstance(v, (int, float, str, bool, bytes)) or v is None:
            return v
        key = id(v)
        if key in self.seen:
            return self.seen[key]
        if isinstance(v, list):
            out: Any = []
            self.seen[key] = out
            out.extend(self(x, depth + 1) for x in v)
            return out
        if isinstance(v, tuple):
            out = tuple(self(x, depth + 1) for x in v)
        elif isinstance(v, dict):
            out = {}
            self.seen[key] = out
            for k, x in v.items():
                out[k] = self(x, depth + 1)
            return out
        elif isinstance(v, pd.Obj):
            if isinstance(v.cls, pd.Global) and v.cls.module.startswith("__torch__"):
                out = ModuleObj(v.cls.qualname)
                self.seen[key] = out
                state = self(v.state, depth + 1)
                if isinstance(state, dict):
                    out.attrs = {str(k): x for k, x in state.items()}
                elif not out.is_packed:
                    out.state = state
                else:
                    # torch.classes objects (quantized packed weights) keep their tensors in a
                    # __getstate__ tuple: (weight, bias) for Linear, nested lists for Conv
                    found = [x for x in _flat(state) if isinstance(x, TensorInfo)]
                    names = ["weight", "bias"] if len(found) <= 2 else \
                        [f"tensor{i}" for i in range(len(found))]
                    out.attrs = dict(zip(names, found, strict=False))
                return out
            out = None
        elif isinstance(v, pd.Call):
            out = self._call(v, depth)
        else:
            out = None
        self.seen[key] = out
        return out

    def _call(self, v: pd.Call, depth: int) -> Any:
        func = v.func.qualname if isinstance(v.func, pd.Global) else ""
        args = v.args
        if func in ("torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
                    "torch._utils._rebuild_qtensor"):
            return self._tensor(args, func.endswith("qtensor"))
        if func == "torch._utils._rebuild_parameter" and args:
            return self(args[0], depth + 1)
        if func in ("torch.jit._pickle.restore_type_tag", "torch.jit._pickle.build_intlist",
                    "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
                    "torch.jit._pickle.build_tensorlist", "torch.jit._pickle.build_tensor_from_id"
                    ) and args:
            return self(args[0], depth + 1)
        if func == "collections.OrderedDict":
            return self(v.state, depth + 1) if isinstance(v.state, dict) else {}
        return None  # anything else is opaque: recorded, never called

    def _tensor(self, args: tuple, quantized: bool) -> TensorInfo | None:
        if len(args) < 4 or not isinstance(args[0], pd.PersistentRef):
            return None
        pid = args[0].pid
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            return None
        stype = pid[1].name if isinstance(pid[1], pd.Global) else str(pid[1])
        dtype = _STORAGE_DTYPES.get(stype)
        offset, size, stride = args[1], args[2], args[3]
        if not isinstance(offset, int) or not isinstance(size, tuple) or \
                not isinstance(stride, tuple) or not all(isinstance(d, int) and d >= 0
                                                         for d in size + stride):
            raise ModelError(self.path, "data.pkl records a tensor with an invalid shape")
        quant = None
        if quantized and len(args) > 4 and isinstance(args[4], tuple) and args[4]:
            q = args[4]
            scheme = q[0].name if isinstance(q[0], pd.Global) else str(q[0])
            quant = {"scheme": scheme}
            if len(q) >= 3 and isinstance(q[1], (int, float)):
                quant.update({"scale": q[1], "zero_point": q[2]})
        numel = pid[4] if isinstance(pid[4], int) else 0
        return TensorInfo(str(pid[2]), dtype or stype, tuple(size), tuple(stride), offset,
                          numel, quant)


# ---- the symbolic interpreter ---------------------------------------------------------------


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "?"


UNK = _Unknown()


class _Uninit:
    """TorchScript's ``uninitialized(T)``: a placeholder on a path that never reads it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "uninitialized"


UNINIT = _Uninit()


@dataclass(frozen=True)
class TV:  # a tensor in the graph
    tid: str


@dataclass(frozen=True)
class PV:  # a parameter / buffer / constant tensor (becomes a node's Param where used)
    info: TensorInfo
    name: str
    role: str


@dataclass(frozen=True)
class MV:  # a module instance
    mod: ModuleObj
    path: tuple[str, ...]


@dataclass(frozen=True)
class NS:  # a dotted name: torch.relu, ops.prim.X, __torch__.f
    name: str


@dataclass(frozen=True)
class Multi:  # the result of an op with several outputs (split, chunk, max(dim)...)
    node: str


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass
class _Frame:
    env: dict[str, Any]
    group: tuple[str, ...]
    module: MV | None
    depth: int


# Argument names of common ATen ops (for attrs and the shape pass); others get arg<i>.
_ARGS: dict[str, tuple[str, ...]] = {
    "_convolution": ("input", "weight", "bias", "stride", "padding", "dilation", "transposed",
                     "output_padding", "groups", "benchmark", "deterministic", "cudnn_enabled",
                     "allow_tf32"),
    "conv1d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv3d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv_transpose2d": ("input", "weight", "bias", "stride", "padding", "output_padding",
                         "groups", "dilation"),
    "batch_norm": ("input", "weight", "bias", "running_mean", "running_var", "training",
                   "momentum", "eps", "cudnn_enabled"),
    "layer_norm": ("input", "normalized_shape", "weight", "bias", "eps", "cudnn_enable"),
    "group_norm": ("input", "num_groups", "weight", "bias", "eps", "cudnn_enabled"),
    "linear": ("input", "weight", "bias"),
    "addmm": ("self", "mat1", "mat2", "beta", "alpha"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "max_pool1d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode",
                   "count_include_pad", "divisor_override"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "adaptive_avg_pool1d": ("input", "output_size"),
    "adaptive_max_pool2d": ("input", "output_size"),
    "flatten": ("input", "start_dim", "end_dim"),
    "softmax": ("input", "dim", "dtype"),
    "log_softmax": ("input", "dim", "dtype"),
    "embedding": ("weight", "indices", "padding_idx", "scale_grad_by_freq", "sparse"),
    "view": ("input", "size"), "reshape": ("input", "shape"),
    "permute": ("input", "dims"), "transpose": ("input", "dim0", "dim1"),
    "cat": ("tensors", "dim"), "stack": ("tensors", "dim"),
    "dropout": ("input", "p", "train"), "gelu": ("input", "approximate"),
    "slice": ("input", "dim", "start", "end", "step"), "select": ("input", "dim", "index"),
    "split": ("input", "split_size", "dim"), "chunk": ("input", "chunks", "dim"),
    "mean": ("input", "dim", "keepdim", "dtype"), "sum": ("input", "dim", "keepdim", "dtype"),
    "unsqueeze": ("input", "dim"), "squeeze": ("input", "dim"),
    "add": ("input", "other", "alpha"), "sub": ("input", "other", "alpha"),
    "hardtanh": ("input", "min_val", "max_val"), "leaky_relu": ("input", "negative_slope"),
    "upsample_nearest2d": ("input", "output_size", "scale_factors"),
    "scaled_dot_product_attention": ("query", "key", "value", "attn_mask", "dropout_p",
                                     "is_causal", "scale"),
    "to": ("input", "dtype", "non_blocking", "copy"),
}
# quantized::conv2d / conv2d_relu / linear / add ...: the output's quantization
_QARGS = ("input", "packed_params", "output_scale", "output_zero_point")
_MULTI_OUT = {"split", "split_with_sizes", "chunk", "unbind", "tensor_split", "unsafe_chunk",
              "unsafe_split", "max", "min", "sort", "topk", "kthvalue", "mode", "median",
              "native_layer_norm", "native_batch_norm", "lstm", "gru", "rnn_tanh", "rnn_relu",
              "_native_multi_head_attention", "var_mean", "std_mean", "aminmax",
              "meshgrid", "broadcast_tensors", "split_copy"}
_SCALAR_RESULT = {"is_nested", "equal", "size", "dim", "numel", "len", "item", "Int", "Float",
                  "Bool",
                  "ScalarImplicit", "is_floating_point", "is_contiguous", "stride", "get_device",
                  "element_size", "__contains__", "device", "dtype", "layout", "format",
                  "is_nonzero", "__is__", "__isnot__", "list", "warn", "str", "manual_seed",
                  "is_grad_enabled", "_unwrap_optional", "sym_size", "__getitem__", "append",
                  "copy_", "is_scripting", "_set_item", "keys", "values", "items"}
_CREATE = {"zeros", "ones", "full", "empty", "arange", "rand", "randn", "randint", "eye",
           "tensor", "scalar_tensor", "linspace", "zeros_like", "ones_like", "full_like",
           "empty_like", "rand_like", "randn_like", "as_tensor", "from_numpy", "new_zeros",
           "new_ones", "new_full", "new_empty", "triu_indices", "tril_indices"}
_KIND_ALIASES = {"mean": "reduce", "sum": "reduce", "amax": "reduce", "amin": "reduce",
                 "std": "reduce", "var": "reduce", "prod": "reduce", "max": "reduce",
                 "min": "reduce", "batch_norm": "norm", "layer_norm": "norm",
                 "group_norm": "norm", "instance_norm": "norm", "linear": "linear",
                 "addmm": "linear", "_convolution": "conv", "scaled_dot_product_attention":
                 "attention", "embedding": "embedding", "dropout": "elementwise",
                 "contiguous": "reshape", "slice": "reshape", "select": "reshape",
                 "index": "reshape", "index_select": "reshape"}


def _scalar(name: str, args: list[Any]) -> Any:
    """Plain Python semantics of scalar ops on known values; UNK when anything is unknown."""
    if name in ("__is__", "__isnot__", "equal") and len(args) == 2 and \
            all(isinstance(a, (TV, PV)) for a in args):
        # `query is key` in self-attention: the same value is the same tensor
        same = args[0] == args[1]
        if name == "equal":
            return True if same else UNK
        return same == (name == "__is__")
    if any(a is UNK or a is UNINIT or isinstance(a, (TV, PV, MV, Multi, NS)) for a in args):
        if name in ("__is__", "__isnot__") and len(args) == 2 and args[1] is None:
            a = args[0]
            if a is UNK:
                return UNK
            return (a is None) == (name == "__is__")
        return UNK
    try:
        a = args[0] if args else None
        b = args[1] if len(args) > 1 else None
        table: dict[str, Any] = {
            "add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b,
            "div": lambda: a / b, "floordiv": lambda: a // b, "remainder": lambda: a % b,
            "neg": lambda: -a, "eq": lambda: a == b, "ne": lambda: a != b, "lt": lambda: a < b,
            "le": lambda: a <= b, "gt": lambda: a > b, "ge": lambda: a >= b,
            "__not__": lambda: not a, "__and__": lambda: a and b, "__or__": lambda: a or b,
            "len": lambda: len(a), "__is__": lambda: a is b, "__isnot__": lambda: a is not b,
            "abs": lambda: abs(a), "min": lambda: min(a, b) if len(args) == 2 else min(a),
            "max": lambda: max(a, b) if len(args) == 2 else max(a),
        }
        fn = table.get(name)
        if fn is None:
            return UNK
        out = fn()
        if isinstance(out, (int, float, bool)) and not (isinstance(out, int) and
                                                        abs(out) > 1 << 62):
            return out
    except (TypeError, ValueError, ZeroDivisionError, OverflowError, IndexError):
        pass
    return UNK


class _Interp:
    def __init__(self, arc: Archive, constants: Any, traced: list[Any]) -> None:
        self.arc = arc
        self.constants = constants if isinstance(constants, (tuple, list)) else ()
        self.traced = traced
        self.nodes: list[Node] = []
        self.sinks: list[list[Node]] = [self.nodes]
        self.ids: set[str] = set()
        self.tensors: dict[str, Tensor] = {}
        self.producer: dict[str, Node] = {}
        self.groups: dict[tuple[str, ...], tuple[str, str, dict]] = {}
        self.param_names: dict[tuple, str] = {}
        self.used_params: set[str] = set()
        self.calls: dict[tuple[str, ...], int] = {}
        self.counters: dict[tuple[str, ...], int] = {}
        self.steps = 0
        self.shape_graph = Graph(meta={"framework": "torch"})
        self.setstate = False

    # ---- bookkeeping --------------------------------------------------------------------
    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ModelError(self.arc.path, "TorchScript code is too large or loops back on "
                                            "itself (interpretation budget exceeded)")

    def new_id(self, base: str) -> str:
        base = base or "op"
        if base not in self.ids:
            self.ids.add(base)
            return base
        i = 1
        while f"{base}_{i}" in self.ids:
            i += 1
        self.ids.add(f"{base}_{i}")
        return f"{base}_{i}"

    def add_node(self, node: Node) -> None:
        if len(self.ids) > MAX_NODES:
            raise ModelError(self.arc.path, f"draws more than {MAX_NODES:,} operators; it is "
                                            "damaged or too big to draw")
        self.sinks[-1].append(node)
        for t in node.outputs:
            self.producer[t] = node
            self.tensors.setdefault(t, Tensor(t))
        canonicalize_node(node, "torch")  # the shape rules below read the canonical names
        self.infer(node)

    def infer(self, node: Node) -> None:
        """Output shapes as the node is made, so later ``torch.size(x, d)`` calls (how traced
        code computes view sizes) become numbers and the shapes flow on."""
        outs = [self.tensors[t] for t in node.outputs]
        if not outs or all(t.shape is not None for t in outs):
            return
        ins = [self.tensors[t].shape if t in self.tensors else None for t in node.inputs]
        shapes: tuple = ()
        try:
            shapes = _torch_shapes(node, ins)
            if shapes is None:
                from nnviz.shape_rules import output_shapes

                shapes = output_shapes(self.shape_graph, node, ins)
        except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError):
            shapes = ()
        dtype = self.tensors[node.inputs[0]].dtype if node.inputs and \
            node.inputs[0] in self.tensors else None
        for t, shape in zip(outs, shapes or (), strict=False):
            if t.shape is None and shape is not None:
                t.shape = tuple(shape)
                t.dtype = t.dtype or dtype

    def param(self, pv: PV) -> Param:
        name = self.param_names.setdefault(pv.info.ident, pv.name)
        self.used_params.add(name)
        return Param(name, pv.info.shape, pv.info.dtype, trainable=pv.role == "param",
                     role=pv.role)

    # ---- modules ------------------------------------------------------------------------
    def attr_of(self, mv: MV, name: str) -> Any:
        mod = mv.mod
        if name in mod.attrs:
            v = mod.attrs[name]
            if isinstance(v, ModuleObj):
                return MV(v, mv.path + (name,))
            if isinstance(v, TensorInfo):
                info = self.arc.class_info(mod.qualname)
                role = "param" if name in info["params"] else \
                    "buffer" if name in info["buffers"] else "constant"
                return PV(v, ".".join(mv.path + (name,)), role)
            return _plain(v)
        consts = self.arc.class_info(mod.qualname)["consts"]
        if name in consts:
            return consts[name]
        return UNK

    def restore(self, mod: ModuleObj, path: tuple[str, ...], depth: int = 0) -> None:
        """Modules saved through ``__getstate__`` (quantized Conv2d/Linear keep a tuple, not a
        dict): run their TorchScript ``__setstate__`` symbolically, which only assigns
        attributes and packs weights (``quantized::*_prepack``), to recover the attributes."""
        if depth > 200:
            return
        fn = self.arc.class_info(mod.qualname)["methods"].get("__setstate__")
        if mod.state is not None and fn is not None:
            state, mod.state = mod.state, None
            self.setstate = True
            try:
                self.run_function(fn, [MV(mod, path), state], {}, (), MV(mod, path), 1)
            finally:
                self.setstate = False
        for name, v in list(mod.attrs.items()):
            if isinstance(v, ModuleObj):
                self.restore(v, path + (name,), depth + 1)

    def is_leaf(self, mod: ModuleObj) -> bool:
        return not any(isinstance(v, ModuleObj) and not v.is_packed for v in mod.attrs.values())

    def packed_tensors(self, mv: MV) -> list[PV]:
        """The tensors inside quantized packed params. Not in PyTorch's parameters() (they are
        not nn.Parameters), so they are listed as buffers, like other non-parameter state."""
        out: list[PV] = []
        stack = [mv]
        while stack:
            cur = stack.pop()
            for name, v in cur.mod.attrs.items():
                if isinstance(v, TensorInfo) and cur.mod.is_packed:
                    out.append(PV(v, ".".join(cur.path + (name,)), "buffer"))
                elif isinstance(v, ModuleObj) and v.is_packed and len(cur.path) < 64:
                    stack.append(MV(v, cur.path + (name,)))
        return out

    def call_method(self, mv: MV, method: str, args: list[Any], kwargs: dict[str, Any],
                    frame: _Frame, group: tuple[str, ...] | None = None) -> Any:
        info = self.arc.class_info(mv.mod.qualname)
        fn = info["methods"].get(method)
        if fn is None:
            return UNK
        if group is None:  # another method of the same module: same group
            return self.run_function(fn, [mv] + args, kwargs, frame.group, mv, frame.depth + 1)
        # traced code names the second call of a module forward1, the third forward2, ...
        if method.startswith("forward") and self.is_leaf(mv.mod) and mv.path:
            return self.leaf_call(mv, fn, args, kwargs, frame, group)
        self.groups.setdefault(group, (group[-1] if group else "", mv.mod.short,
                                       {"class": mv.mod.clean}))
        return self.run_function(fn, [mv] + args, kwargs, group, mv, frame.depth + 1)

    def module_group(self, frame: _Frame, mv: MV) -> tuple[str, ...]:
        # The path below the calling module: a ModuleList item called from its owner is
        # ("h", "0"), not "0".
        own = frame.module.path if frame.module is not None else ()
        rel = mv.path[len(own):] if mv.path[:len(own)] == own and len(mv.path) > len(own) \
            else mv.path[-1:] or ("module",)
        name = rel[-1]
        for part in rel[:-1]:
            frame_group = frame.group + (part,)
            self.groups.setdefault(frame_group, (part, "", {}))
        base = frame.group + rel
        n = self.calls.get(base, 0)
        self.calls[base] = n + 1
        return base if n == 0 else base[:-1] + (f"{name}@{n}",)

    def leaf_call(self, mv: MV, fn: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any],
                  frame: _Frame, group: tuple[str, ...]) -> Any:
        """A module without submodules: one box with its parameters (like nnviz's torch loader)."""
        sink: list[Node] = []
        self.sinks.append(sink)
        try:
            result = self.run_function(fn, [mv] + args, kwargs, group, mv, frame.depth + 1)
        finally:
            self.sinks.pop()
        produced = {t for n in sink for t in n.outputs}
        inputs: list[str] = []
        for n in sink:
            for t in n.inputs:
                if t not in produced and t not in inputs:
                    inputs.append(t)
        if not sink:  # Identity / eval-mode Dropout: the tensors it was given
            inputs = [t.tid for t in _flat(args) if isinstance(t, TV)]
        path = ".".join(mv.path)
        nid = self.new_id(path)
        params: list[Param] = []
        cinfo = self.arc.class_info(mv.mod.qualname)
        for name in cinfo["params"] + cinfo["buffers"]:
            v = self.attr_of(mv, name)
            if isinstance(v, PV):
                params.append(self.param(v))
        names = {p.name for p in params}
        for n in sink:  # constants and other modules' tensors used inside
            for p in n.params:
                if p.name not in names:
                    names.add(p.name)
                    params.append(p)
        main = max(sink, key=lambda n: sum(p.count or 0 for p in n.params), default=None)
        attrs: dict[str, Any] = {"module": path}
        if main is not None:
            for k, v in main.attrs.items():
                if k not in ("input", "weight", "bias"):
                    attrs.setdefault(k, v)
        for key in ("kernel_size", "stride", "padding", "dilation", "groups", "scale",
                    "zero_point", "in_features", "out_features", "eps"):
            v = mv.mod.attrs.get(key)  # module attributes (quantized modules keep them)
            val = _jsonable(_plain(v))
            if v is not None and val is not _SKIP and val != "?":
                attrs.setdefault(key, val)
        kind = kind_for(mv.mod.short)
        if kind == "other" and main is not None:
            kind = main.kind
        mapping: dict[str, str] = {}
        outputs: list[str] = []
        for i, t in enumerate(x for x in _flat(result) if isinstance(x, TV)):
            if t.tid in mapping:
                continue
            new = nid if i == 0 else f"{nid}:{i}"
            mapping[t.tid] = new
            outputs.append(new)
        for old, new in mapping.items():  # the box's outputs have the inner ops' shapes
            src = self.tensors.get(old) or Tensor(old)
            self.tensors[new] = Tensor(new, src.shape, src.dtype)
        node = Node(id=nid, op=mv.mod.short, kind=kind, name=path, attrs=attrs, inputs=inputs,
                    outputs=outputs, params=params, group=group[:-1],
                    meta={"class": mv.mod.clean, "ops": len(sink)})
        self.add_node(node)
        return _remap(result, mapping)

    # ---- functions ----------------------------------------------------------------------
    def run_function(self, fn: ast.FunctionDef, args: list[Any], kwargs: dict[str, Any],
                     group: tuple[str, ...], module: MV | None, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ModelError(self.arc.path, "TorchScript calls nest too deeply (recursive or "
                                            "hostile code)")
        env: dict[str, Any] = {}
        params = fn.args.args
        defaults = fn.args.defaults
        first_default = len(params) - len(defaults)
        for i, a in enumerate(params):
            if i < len(args):
                env[a.arg] = args[i]
            elif a.arg in kwargs:
                env[a.arg] = kwargs[a.arg]
            elif i >= first_default:
                env[a.arg] = _literal(defaults[i - first_default])
            else:
                env[a.arg] = UNK
        frame = _Frame(env, group, module, depth)
        try:
            self.block(fn.body, frame)
        except _Return as r:
            return r.value
        return None

    def call_function(self, qual: str, args: list[Any], kwargs: dict[str, Any],
                      frame: _Frame) -> Any:
        node = self.arc.lookup(qual)
        if isinstance(node, ast.FunctionDef):
            # Library functions (F.relu, F.batch_norm) are inlined without a group: their
            # checks fold away and the ATen op inside is what is drawn.
            return self.run_function(node, args, kwargs, frame.group, frame.module,
                                     frame.depth + 1)
        return UNK  # a class constructor (NamedTuple...) or something not in the archive

    # ---- statements ---------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt], frame: _Frame) -> None:
        for s in stmts:
            self.stmt(s, frame)

    def stmt(self, s: ast.stmt, frame: _Frame) -> None:
        self.tick()
        if isinstance(s, ast.Assign):
            value = self.ev(s.value, frame)
            for t in s.targets:
                self.assign(t, value, frame)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(s.target, self.ev(s.value, frame), frame)
        elif isinstance(s, ast.Expr):
            self.ev(s.value, frame)
        elif isinstance(s, ast.Return):
            raise _Return(None if s.value is None else self.ev(s.value, frame))
        elif isinstance(s, ast.If):
            self.if_stmt(s, frame)
        elif isinstance(s, (ast.For, ast.While)):
            self.loop_stmt(s, frame)
        elif isinstance(s, ast.With):
            self.block(s.body, frame)
        elif isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name):
            frame.env[s.target.id] = UNK
        # pass, raise, assert, break, continue, del, imports: nothing to draw

    def assign(self, target: ast.AST, value: Any, frame: _Frame) -> None:
        if isinstance(target, ast.Name):
            frame.env[target.id] = value
        elif isinstance(target, ast.Attribute) and self.setstate:
            base = self.ev(target.value, frame)
            if isinstance(base, MV):
                base.mod.attrs[target.attr] = value.mod if isinstance(value, MV) else \
                    value.info if isinstance(value, PV) else value
        elif isinstance(target, (ast.Tuple, ast.List)):
            parts = self.unpack(value, len(target.elts))
            for t, v in zip(target.elts, parts, strict=False):
                self.assign(t, v, frame)

    def unpack(self, value: Any, n: int) -> list[Any]:
        if isinstance(value, (tuple, list)):
            return list(value) + [UNK] * (n - len(value))
        if isinstance(value, Multi):
            return [self.output(value.node, i) for i in range(n)]
        if isinstance(value, TV) and value.tid in self.producer:
            return [self.output(self.producer[value.tid].id, i) for i in range(n)]
        return [UNK] * n

    def output(self, nid: str, i: int) -> Any:
        node = next((n for n in reversed(self.sinks[-1]) if n.id == nid), None)
        if node is None:
            node = next((n for sink in self.sinks for n in sink if n.id == nid), None)
        if node is None:
            return UNK
        while len(node.outputs) <= i:
            tid = f"{nid}:{len(node.outputs)}"
            node.outputs.append(tid)
            self.producer[tid] = node
            self.tensors.setdefault(tid, Tensor(tid))
            self.infer(node)  # split/chunk: each new output gets its part's shape
        return TV(node.outputs[i])

    def subgroup(self, frame: _Frame, base: str, op: str, attrs: dict | None = None
                 ) -> tuple[str, ...]:
        k = self.counters.get(frame.group + (base,), 0)
        self.counters[frame.group + (base,)] = k + 1
        path = frame.group + (f"{base}{k}" if k else base,)
        self.groups.setdefault(path, (path[-1], op, attrs or {}))
        return path

    def if_stmt(self, s: ast.If, frame: _Frame) -> None:
        cond = self.ev(s.test, frame)
        if isinstance(cond, (bool, int, float)) and not isinstance(cond, (TV, PV)):
            self.block(s.body if cond else s.orelse, frame)
            return
        if isinstance(cond, (PV,)):
            cond = UNK
        path = self.subgroup(frame, "if", "prim::If")
        before = dict(frame.env)
        results = []
        for label, body in (("then", s.body), ("else", s.orelse)):
            sub = _Frame(dict(before), path + (label,), frame.module, frame.depth)
            self.groups.setdefault(sub.group, (label, f"prim::If.{label}", {}))
            self.block(body, sub)
            results.append(sub.env)
        then_env, else_env = results
        merged: list[tuple[str, list[str]]] = []  # (variable, the branch tensors) per output

        def merge(name: str, a: Any, b: Any, depth: int = 0) -> Any:
            if a == b:
                return a
            if a is UNINIT or b is UNINIT:  # the path with the placeholder never reads it
                return b if a is UNINIT else a
            # an op with several outputs on one side, a tuple on the other: its outputs
            if isinstance(a, Multi) and isinstance(b, (tuple, list)) and len(b) < 64:
                a = type(b)(self.output(a.node, i) for i in range(len(b)))
            if isinstance(b, Multi) and isinstance(a, (tuple, list)) and len(a) < 64:
                b = type(a)(self.output(b.node, i) for i in range(len(a)))
            if isinstance(a, (tuple, list)) and type(a) is type(b) and len(a) == len(b) and \
                    depth < 8:  # a tuple both branches build: merged element by element
                return type(a)(merge(f"{name}[{i}]", x, y, depth + 1)
                               for i, (x, y) in enumerate(zip(a, b, strict=True)))
            tids = [v.tid for v in (a, b) if isinstance(v, TV)]
            if not tids:
                return UNK  # different plain values: unknown after the if
            merged.append((name, tids))
            return _Slot(len(merged) - 1)

        # A name only one branch defines is live only through that branch (TorchScript
        # requires a definition on every path that continues, the other one raises).
        values = {name: merge(name, then_env.get(name, else_env.get(name)),
                              else_env.get(name, then_env.get(name)))
                  for name in dict.fromkeys(list(then_env) + list(else_env))}
        outs: list[str] = []
        if merged:
            inputs = ([cond.tid] if isinstance(cond, TV) else []) + \
                [t for _, tids in merged for t in tids]
            nid = self.new_id(".".join(path) + ".if")
            outs = [nid if i == 0 else f"{nid}:{i}" for i in range(len(merged))]
            self.add_node(Node(id=nid, op="prim::If", kind="other", name="if",
                               inputs=list(dict.fromkeys(inputs)), outputs=outs, group=path,
                               attrs={"outputs": [n for n, _ in merged]}))
        for name, v in values.items():
            frame.env[name] = _fill(v, outs)

    def loop_stmt(self, s: ast.For | ast.While, frame: _Frame) -> None:
        attrs: dict[str, Any] = {}
        if isinstance(s, ast.For):
            it = s.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and \
                    it.func.id == "range" and it.args:
                n = self.ev(it.args[-1], frame)
                if isinstance(n, int):
                    attrs["trip_count"] = n
                    if n <= 0:
                        return
            else:
                self.ev(it, frame)
        else:
            cond = self.ev(s.test, frame)
            if cond is False:
                return
        path = self.subgroup(frame, "loop", "prim::Loop", attrs)
        sub = _Frame(dict(frame.env), path, frame.module, frame.depth)
        if isinstance(s, ast.For):
            self.assign(s.target, UNK, sub)
        self.block(s.body, sub)
        # values after the loop are those of the (drawn once) body's last assignment
        for name, v in sub.env.items():
            frame.env[name] = v

    # ---- expressions --------------------------------------------------------------------
    def ev(self, e: ast.AST, frame: _Frame) -> Any:  # noqa: C901 - one case per node type
        self.tick()
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in frame.env:
                return frame.env[e.id]
            return NS(e.id)
        if isinstance(e, ast.Attribute):
            base = self.ev(e.value, frame)
            if isinstance(base, MV):
                return self.attr_of(base, e.attr)
            if isinstance(base, NS):
                if base.name == "CONSTANTS":
                    return self.constant(e.attr)
                return NS(f"{base.name}.{e.attr}")
            return UNK
        if isinstance(e, ast.Call):
            return self.call(e, frame)
        if isinstance(e, (ast.Tuple, ast.List)):
            vals = [self.ev(x, frame) for x in e.elts]
            return tuple(vals) if isinstance(e, ast.Tuple) else vals
        if isinstance(e, ast.Dict):
            out: dict[Any, Any] = {}
            for k, v in zip(e.keys, e.values, strict=False):
                key = self.ev(k, frame) if k is not None else None
                out[key if isinstance(key, (str, int, float, bool)) else len(out)] = \
                    self.ev(v, frame)
            return out
        if isinstance(e, ast.Subscript):
            base = self.ev(e.value, frame)
            idx = self.ev(e.slice, frame)
            if isinstance(base, (list, tuple)) and isinstance(idx, int) and \
                    -len(base) <= idx < len(base):
                return base[idx]
            if isinstance(base, dict) and isinstance(idx, (str, int)):
                return base.get(idx, UNK)
            if isinstance(base, Multi) and isinstance(idx, int) and 0 <= idx < 4096:
                return self.output(base.node, idx)
            return UNK
        if isinstance(e, ast.UnaryOp):
            v = self.ev(e.operand, frame)
            if isinstance(e.op, ast.Not):
                return _scalar("__not__", [v])
            if isinstance(e.op, ast.USub):
                return _scalar("neg", [v])
            return UNK
        if isinstance(e, ast.BoolOp):
            vals = [self.ev(x, frame) for x in e.values]
            name = "__and__" if isinstance(e.op, ast.And) else "__or__"
            out = vals[0]
            for v in vals[1:]:
                out = _scalar(name, [out, v])
            return out
        if isinstance(e, ast.BinOp):
            ops = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
                   ast.FloorDiv: "floordiv", ast.Mod: "remainder"}
            name = ops.get(type(e.op))
            a, b = self.ev(e.left, frame), self.ev(e.right, frame)
            return _scalar(name, [a, b]) if name else UNK
        if isinstance(e, ast.Compare) and len(e.ops) == 1:
            ops = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt",
                   ast.GtE: "ge", ast.Is: "__is__", ast.IsNot: "__isnot__"}
            name = ops.get(type(e.ops[0]))
            a, b = self.ev(e.left, frame), self.ev(e.comparators[0], frame)
            return _scalar(name, [a, b]) if name else UNK
        if isinstance(e, ast.IfExp):
            c = self.ev(e.test, frame)
            if isinstance(c, (bool, int)) and not isinstance(c, (TV, PV)):
                return self.ev(e.body if c else e.orelse, frame)
            return UNK
        return UNK

    def constant(self, attr: str) -> Any:
        if attr.startswith("c") and attr[1:].isdigit():
            i = int(attr[1:])
            if i < len(self.constants):
                v = self.constants[i]
                if isinstance(v, TensorInfo):
                    return PV(v, f"CONSTANTS.{attr}", "constant")
                return _plain(v)
        return UNK

    def call(self, e: ast.Call, frame: _Frame) -> Any:
        kwargs = {k.arg: self.ev(k.value, frame) for k in e.keywords if k.arg}
        func = e.func
        # (module).method(...)
        if isinstance(func, ast.Attribute):
            base = self.ev(func.value, frame)
            if isinstance(base, MV):
                args = [self.ev(a, frame) for a in e.args]
                if frame.module is not None and base.path == frame.module.path:
                    return self.call_method(base, func.attr, args, kwargs, frame)
                group = self.module_group(frame, base)
                return self.call_method(base, func.attr, args, kwargs, frame, group)
            target: Any = NS(f"{base.name}.{func.attr}") if isinstance(base, NS) else UNK
        else:
            target = self.ev(func, frame)
        if not isinstance(target, NS):
            for a in e.args:
                self.ev(a, frame)
            return UNK
        name = target.name
        # Builtins whose argument is a type: don't evaluate the type expression as a value.
        if name in ("annotate", "unchecked_cast") and len(e.args) == 2:
            return self.ev(e.args[1], frame)
        if name == "uninitialized":
            return UNINIT
        if name == "isinstance":
            return UNK
        args = [self.ev(a, frame) for a in e.args]
        if name == "getattr" and len(args) >= 2 and isinstance(args[0], MV) and \
                isinstance(args[1], str):
            return self.attr_of(args[0], args[1])
        if name in ("int", "float") and args:
            v = args[0]
            return v if isinstance(v, (int, float)) and not isinstance(v, bool) else UNK
        if name == "bool" and args:
            v = args[0]
            return v if isinstance(v, (bool, int, TV)) else UNK
        if name == "len" and args:
            return _scalar("len", args[:1])
        if name in ("range", "print", "str", "hasattr", "id", "hash", "list", "dict",
                    "tuple", "ord", "chr", "round", "divmod", "min", "max", "abs", "sum"):
            return _scalar(name, args) if name in ("min", "max", "abs") else UNK
        if name.startswith("__torch__."):
            return self.call_function(name, args, kwargs, frame)
        if name.startswith("torch."):
            return self.op("aten", name[len("torch."):], args, kwargs, frame)
        if name.startswith("ops."):
            ns, _, short = name[len("ops."):].rpartition(".")
            return self.op(ns or "ops", short, args, kwargs, frame)
        return UNK

    def op(self, ns: str, name: str, args: list[Any], kwargs: dict[str, Any],
           frame: _Frame) -> Any:
        if self.setstate:
            if name.endswith("_prepack"):  # packed weights: a holder of the given tensors
                found = [a.info if isinstance(a, PV) else a for a in _flat(list(args))
                         if isinstance(a, (TensorInfo, PV))]
                names = ["weight", "bias"] if len(found) <= 2 else \
                    [f"tensor{i}" for i in range(len(found))]
                holder = ModuleObj(f"__torch__.torch.classes.{ns}.{name}",
                                   dict(zip(names, found, strict=False)))
                return MV(holder, ())
            return UNK  # nothing else is drawn while restoring attributes
        if ns == "prim":
            if name in ("NumToTensor", "unchecked_unwrap_optional", "unchecked_cast"):
                return args[0] if args else UNK
            if name in ("RaiseException", "Uninitialized", "dtype", "device", "layout",
                        "data", "requires_grad", "is_cuda", "min", "max", "abs", "rangelist",
                        "TupleIndex", "isinstance", "AutogradZero", "shape"):
                return _scalar(name, args) if name in ("min", "max", "abs") else UNK
        if ns == "aten" and name.startswith("_") is False and name in ("nn", "jit"):
            return UNK
        flat = _flat(list(args) + list(kwargs.values()))
        tensors = [v for v in flat if isinstance(v, TV)]
        params = [v for v in flat if isinstance(v, PV)]
        params += [p for v in flat if isinstance(v, MV) and v.mod.is_packed
                   for p in self.packed_tensors(v)]
        base = name.split(".")[-1]
        if name in ("append", "extend", "insert") and args and isinstance(args[0], list):
            # list building (annotate(List[Tensor], []) then append): kept, so the later
            # unpack `a, b, = lst` finds the tensors
            if len(args[0]) < 100_000:
                if name == "append" and len(args) == 2:
                    args[0].append(args[1])
                elif name == "extend" and len(args) == 2 and isinstance(args[1], (list, tuple)):
                    args[0].extend(args[1])
            return args[0] if name != "append" else None
        if name in ("size", "dim", "numel") and args and isinstance(args[0], TV):
            shape = self.tensors[args[0].tid].shape if args[0].tid in self.tensors else None
            if shape is not None and all(isinstance(d, int) for d in shape):
                if name == "dim":
                    return len(shape)
                if name == "numel":
                    return math.prod(shape)
                if len(args) == 1:
                    return list(shape)
                if isinstance(args[1], int) and -len(shape) <= args[1] < len(shape):
                    return shape[args[1]]
            return UNK
        if name in _SCALAR_RESULT or (not tensors and not params and name not in _CREATE):
            return _scalar(name, args)
        opname = f"{ns}::{name}"
        inputs = list(dict.fromkeys(t.tid for t in tensors))
        node_params: list[Param] = []
        for pv in params:
            p = self.param(pv)
            if p.name not in {q.name for q in node_params}:
                node_params.append(p)
        attrs: dict[str, Any] = {}
        names = _ARGS.get(name, ()) if ns == "aten" else \
            _QARGS if ns == "quantized" and not name.endswith("dynamic") else ()
        for i, a in enumerate(args):
            key = names[i] if i < len(names) else f"arg{i}"
            val = _jsonable(a)
            if val is not _SKIP:
                attrs[key] = val
        for k, a in kwargs.items():
            val = _jsonable(a)
            if val is not _SKIP:
                attrs[k] = val
        kind = _KIND_ALIASES.get(name.lstrip("_") if name != "_convolution" else name) or \
            kind_for(base)
        if kind == "other" and name in _CREATE:
            kind = "constant"
        label = name.lstrip("_") or name
        nid = self.new_id(".".join(frame.group + (label,)))
        node = Node(id=nid, op=opname, kind=kind, name=label, attrs=attrs, inputs=inputs,
                    outputs=[nid], params=node_params, group=frame.group)
        self.add_node(node)
        if name in _MULTI_OUT and not (name in ("max", "min") and len(args) < 2):
            return Multi(nid)
        return TV(nid)


_SAME_KINDS = ("activation", "norm", "elementwise")


def _torch_shapes(node: Node, ins: list[Any]) -> tuple | None:
    """Shape rules for TorchScript ops and modules the shared pass does not know; None when
    the shared pass should decide."""
    x = ins[0] if ins else None
    a = node.attrs
    op = node.op
    if x is None:
        if op == "aten::arange" and isinstance(a.get("arg0"), int):
            return ((a["arg0"],),)
        return None
    rank = len(x)

    def axis(v: Any) -> int | None:
        if not isinstance(v, int) or not -rank <= v < rank:
            return None
        return v % rank

    if op == "aten::slice":
        d = axis(a.get("dim", 0))
        start, end, step = a.get("start", 0), a.get("end"), a.get("step", 1)
        if d is None or not isinstance(x[d], int) or not isinstance(step, int) or step <= 0:
            return (None,)
        start = 0 if start is None else start
        end = x[d] if end is None or not isinstance(end, int) else end
        if not isinstance(start, int):
            return (None,)
        lo, hi, _ = slice(start, end, step).indices(x[d])
        n = max(0, (hi - lo + step - 1) // step)
        return (tuple(x[:d]) + (n,) + tuple(x[d + 1:]),)
    if op == "aten::select":
        d = axis(a.get("dim"))
        return (None,) if d is None else (tuple(x[:d]) + tuple(x[d + 1:]),)
    if op in ("aten::split", "aten::chunk"):
        d = axis(a.get("dim", 0))
        size = a.get("split_size") if op == "aten::split" else None
        if d is None or not isinstance(x[d], int):
            return None
        if op == "aten::chunk" and isinstance(a.get("chunks"), int) and a["chunks"] > 0:
            size = -(-x[d] // a["chunks"])
        if not isinstance(size, int) or size <= 0:
            return None
        parts = [min(size, x[d] - i) for i in range(0, x[d], size)][:len(node.outputs)]
        return tuple(tuple(x[:d]) + (p,) + tuple(x[d + 1:]) for p in parts)
    if op == "aten::expand" and isinstance(a.get("size"), list):
        size = a["size"]
        if len(size) >= rank and all(isinstance(s, int) for s in size):
            lead = len(size) - rank
            return (tuple(size[i] if size[i] != -1 else x[i - lead] for i in range(len(size))),)
        return None
    if op == "aten::scaled_dot_product_attention" and len(ins) >= 3 and ins[2] is not None:
        return (tuple(x[:-1]) + (ins[2][-1],),)
    if op in ("aten::contiguous", "aten::to", "aten::dropout", "aten::clone", "aten::detach"):
        return (x,)
    if op == "Conv1D" and node.params and node.params[0].shape and \
            len(node.params[0].shape) == 2:  # transformers' Conv1D: a linear with (in, out)
        return (tuple(x[:-1]) + (node.params[0].shape[1],),)
    if not op.startswith(("aten::", "prim::")) and node.kind in _SAME_KINDS:
        return (x,)  # a leaf module that keeps its input's shape (GELU, LayerNorm, Dropout)
    return None


@dataclass(frozen=True)
class _Slot:  # the k-th output of an if's merge node, before that node exists
    k: int


def _fill(v: Any, outs: list[str]) -> Any:
    if isinstance(v, _Slot):
        return TV(outs[v.k])
    if isinstance(v, (tuple, list)):
        return type(v)(_fill(x, outs) for x in v)
    return v


_SKIP = object()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (TV, PV, MV, Multi)):
        return _SKIP
    if v is UNK:
        return "?"
    if isinstance(v, NS):
        return v.name
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        items = [_jsonable(x) for x in v]
        if any(x is _SKIP for x in items):
            return _SKIP
        return items
    return _SKIP


def _plain(v: Any) -> Any:
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return UNK


MAX_FLAT = 1_000_000


def _flat(v: Any) -> list[Any]:
    """The leaves of nested lists/tuples/dicts, in order. A pickle can share one list many
    times (a DAG whose unfolding is exponential): past MAX_FLAT visits the rest is dropped."""
    out: list[Any] = []
    stack = [v]
    visits = 0
    while stack:
        visits += 1
        if visits > MAX_FLAT:
            break
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif isinstance(x, dict):
            stack.extend(reversed(list(x.values())))
        else:
            out.append(x)
    return out


def _remap(v: Any, mapping: dict[str, str]) -> Any:
    if isinstance(v, TV):
        return TV(mapping.get(v.tid, v.tid))
    if isinstance(v, (list, tuple)):
        return type(v)(_remap(x, mapping) for x in v)
    return v


# ---- public entry points ------------------------------------------------------------------


def _read_model(path: Path) -> tuple[Archive, ModuleObj, Any, list[Any]]:
    arc = Archive(path)
    # One resolver per pickle: its memo is keyed by the records' ids, which are only
    # unique while that pickle's records are alive.
    root = _Resolver(path)(arc.pickle("data.pkl"))
    if not isinstance(root, ModuleObj):
        arc.close()
        raise ModelError(path, "data.pkl does not hold a TorchScript module")
    constants = _Resolver(path)(arc.pickle("constants.pkl")) or ()
    traced_raw = _Resolver(path)(arc.pickle("traced_inputs.pkl")) if \
        f"{arc.root}/traced_inputs.pkl" in arc.names else None
    traced: list[Any] = []
    if isinstance(traced_raw, dict) and isinstance(traced_raw.get("forward"), list):
        traced = traced_raw["forward"]
    return arc, root, constants, traced


def load_file(path: str | Path, input_shape: Any = None, input_dtype: str | None = None,
              **_: Any) -> Graph:
    """A TorchScript archive -> Graph, read as data (see the module docstring).

    ``input_shape`` (``--input-shape``; one shape, or one per tensor input) gives shapes to a
    scripted model's inputs, which the archive does not record; a traced model's recorded
    shapes win.
    """
    path = Path(path)
    arc, root, constants, traced = _read_model(path)
    shapes: list[Any] = []
    if input_shape is not None:
        seq = list(input_shape)
        shapes = [tuple(seq)] if seq and all(isinstance(d, int) for d in seq) else \
            [tuple(x) for x in seq]
    given = [TensorInfo("", (input_dtype or "float32").replace("torch.", ""), sh, (), 0, 0)
             for sh in shapes]
    try:
        graph = _build(path, arc, root, constants, traced or given)
        if not traced and given:
            graph.meta.pop("capture", None)
            graph.meta["input_shape"] = [list(sh) for sh in shapes]
        return graph
    finally:
        arc.close()


def _build(path: Path, arc: Archive, root: ModuleObj, constants: Any, traced: list[Any]
           ) -> Graph:
    it = _Interp(arc, constants, traced)
    forward = arc.class_info(root.qualname)["methods"].get("forward")
    if forward is None:
        raise ModelError(path, f"TorchScript module {root.short} has no forward method in "
                               "code/")
    graph = Graph(name=root.short or path.stem)
    it.restore(root, ())
    mv = MV(root, ())
    args: list[Any] = [mv]
    in_ids: list[str] = []
    params = forward.args.args[1:]
    first_default = len(params) - len(forward.args.defaults)
    for i, a in enumerate(params):
        ann = ast.unparse(a.annotation) if a.annotation is not None else ""
        shape, dtype = None, None
        if i < len(traced) and isinstance(traced[i], TensorInfo):
            shape, dtype = traced[i].shape, traced[i].dtype
        elif i >= first_default:
            # An argument with a default (mask: Optional[Tensor] = None) is drawn as the
            # model is usually called: with the default, so `if mask is not None` folds.
            args.append(_literal(forward.args.defaults[i - first_default]))
            continue
        if ann and "Tensor" not in ann:  # an int/bool/str argument: no tensor to draw
            args.append(UNK)
            continue
        tid = it.new_id(a.arg)
        it.tensors[tid] = Tensor(tid, shape, dtype)
        it.producer[tid] = Node(id=tid, op="Input", kind="io", name=a.arg, outputs=[tid],
                                attrs={"type": ann} if ann else {})
        it.add_node(it.producer[tid])
        in_ids.append(tid)
        args.append(TV(tid))
    frame = _Frame({}, (), mv, 0)
    try:
        result = it.run_function(forward, args, {}, (), mv, 1)
    except RecursionError:
        raise ModelError(path, "TorchScript code is nested too deeply (damaged or hostile "
                               "file?)") from None
    outs = list(dict.fromkeys(v.tid for v in _flat(result) if isinstance(v, TV)))
    del frame
    # An if whose merged values nothing reads (a mask conversion for an argument left at its
    # default) has no effect on the result: drop its merge node (and so its empty group).
    while True:
        read = {t for n in it.nodes for t in n.inputs} | set(outs)
        dead = {id(n) for n in it.nodes if n.op == "prim::If" and
                not any(t in read for t in n.outputs)}
        if not dead:
            break
        it.nodes = [n for n in it.nodes if id(n) not in dead]
    for node in it.nodes:
        graph.add_node(node)
    if outs:
        graph.add_node(Node(id=it.new_id("output"), op="Output", kind="io", name="output",
                            inputs=outs))
    for node in graph.nodes.values():
        for t in node.inputs + node.outputs:
            graph.add_tensor(it.tensors.get(t, Tensor(t)))
    graph.inputs = in_ids
    graph.outputs = outs
    used = {g for n in graph.nodes.values() for i in range(1, len(n.group) + 1)
            for g in [n.group[:i]]}
    for gpath in sorted(used, key=lambda p: (len(p), p)):
        label, op, gattrs = it.groups.get(gpath, (gpath[-1], "", {}))
        graph.groups[gpath] = Group(gpath, label=label, op=op, attrs=dict(gattrs))
    # order groups as they first appear in the drawing (deterministic: node order)
    order = {g: i for i, g in enumerate(dict.fromkeys(
        n.group[:i] for n in graph.nodes.values() for i in range(1, len(n.group) + 1)))}
    graph.groups = dict(sorted(graph.groups.items(), key=lambda kv: order.get(kv[0], 0)))
    unused = [name for name, pv in _module_tensors(root, arc, ())
              if pv.role == "param" and
              it.param_names.get(pv.info.ident, pv.name) not in it.used_params]
    graph.meta.update({"framework": "torch", "format": "torchscript",
                       "producer": f"TorchScript archive (format version {arc.version()})",
                       "file": str(path)})
    if traced:
        graph.meta["capture"] = "torch.jit.trace"
    if unused:
        graph.meta["unused_params"] = unused
        # Parameters the code never reads still belong to the model (PyTorch's total
        # counts them): keep them on a box of their own so totals match parameters().
        seen: set[tuple] = set()
        params = []
        for name, pv in _module_tensors(root, arc, ()):
            if pv.role == "param" and name in unused and pv.info.ident not in seen:
                seen.add(pv.info.ident)
                params.append(Param(name, pv.info.shape, pv.info.dtype, role="param"))
        graph.add_node(Node(id=it.new_id("unused_parameters"), op="UnusedParameters",
                            kind="constant", name="unused parameters", params=params))
    return canonicalize(graph, "torch")


def _module_tensors(mod: ModuleObj, arc: Archive, path: tuple[str, ...],
                    depth: int = 0) -> Iterator[tuple[str, PV]]:
    """(qualified name, tensor) of every tensor attribute in the module tree, file order."""
    if depth > 200:
        return
    info = arc.class_info(mod.qualname)
    for name, v in mod.attrs.items():
        if isinstance(v, TensorInfo):
            role = "param" if name in info["params"] else \
                "buffer" if name in info["buffers"] else "constant"
            full = ".".join(path + (name,))
            yield full, PV(v, full, role)
        elif isinstance(v, ModuleObj):
            yield from _module_tensors(v, arc, path + (name,), depth + 1)
    if mod.state is not None:  # a __getstate__ tuple not restored (stats reads it as data)
        for i, v in enumerate(x for x in _flat(mod.state) if isinstance(x, TensorInfo)):
            full = ".".join(path + (f"state{i}",))
            yield full, PV(v, full, "buffer")


def iter_weights(path: str | Path, trust_pickle: bool = False) -> Iterator[Any]:
    """Every tensor of the archive (parameters, buffers, constants), one at a time.

    The bytes come straight from ``data/<key>`` (or ``constants/<key>``) through numpy with the
    dtype, offset and strides recorded in the pickles: nothing is unpickled or executed, so
    ``trust_pickle`` (part of every weight reader's signature) changes nothing here.
    """
    import numpy as np

    from nnviz.loaders.weights import WeightTensor

    path = Path(path)
    arc, root, constants, _ = _read_model(path)
    try:
        seen: set[tuple] = set()
        items = list(_module_tensors(root, arc, ()))
        if isinstance(constants, (list, tuple)):
            items += [(f"CONSTANTS.c{i}", PV(v, f"CONSTANTS.c{i}", "constant"))
                      for i, v in enumerate(constants) if isinstance(v, TensorInfo)]
        for name, pv in items:
            info = pv.info
            if info.ident in seen:
                continue  # tied weights once
            seen.add(info.ident)
            np_dtype = {"bfloat16": None, "float8": None}.get(info.dtype, info.dtype)
            try:
                dt = np.dtype(np_dtype) if np_dtype else None
            except TypeError:
                dt = None
            if dt is None:
                continue  # no numpy dtype (bfloat16, float8): no statistics
            member = None
            for folder in ("data", "constants"):
                candidate = f"{folder}/{info.key}"
                if f"{arc.root}/{candidate}" in arc.names:
                    member = candidate
                    break
            if member is None:
                raise ModelError(path, f"tensor {name!r} points to storage {info.key!r}, "
                                       "which the archive does not hold")
            raw = arc.read(member, 1 << 40) or b""
            count = len(raw) // dt.itemsize
            needed = info.offset + sum((d - 1) * s for d, s in zip(info.shape, info.stride,
                                                                   strict=False)) + 1
            if any(d == 0 for d in info.shape):
                needed = 0
            if info.offset < 0 or needed > count:
                raise ModelError(path, f"tensor {name!r} needs {needed:,} values but its "
                                       f"storage holds {count:,}; the file is damaged")
            flat = np.frombuffer(raw, dtype=dt.newbyteorder("<"), count=count)
            arr = np.lib.stride_tricks.as_strided(
                flat[info.offset:], shape=info.shape,
                strides=tuple(s * dt.itemsize for s in info.stride), writeable=False)
            yield WeightTensor(name, info.shape, info.dtype, arr)
    finally:
        arc.close()
