"""Capture a PyTorch model as a :class:`~nnviz.loaders.torch_build.Trace`.

Three ways, tried in this order by ``nnviz.loaders.torch.load_object``:

* ``from_exported`` - a ``torch.export.ExportedProgram`` (live capture or a ``.pt2`` file):
  the ATen graph with a shape on every value and ``nn_module_stack`` on every op.
* ``capture_fx`` - ``torch.fx.symbolic_trace`` plus ``ShapeProp`` for shapes; torch.nn
  modules stay whole ``call_module`` nodes.
* ``capture_hooks`` - runs the model eagerly with forward pre/post hooks on every module (the
  module call stack) and a ``TorchFunctionMode`` recording each torch function call, so models
  with data-dependent Python control flow still draw (the branch actually taken).

Only this module and ``torch.py`` import torch, and only when a torch model is loaded.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
from typing import Any

import torch

from nnviz.ir import Param
from nnviz.loaders.torch_build import Frame, TOp, Trace


def dtype_name(dtype: Any) -> str | None:
    if dtype is None:
        return None
    return str(dtype).replace("torch.", "")


def shape_of(value: Any) -> tuple:
    """Shape as ints; symbolic sizes (dynamic .pt2 dims) become their names, e.g. 's0'."""
    out: list[int | str] = []
    for d in value.shape:
        if isinstance(d, torch.SymInt):
            # int() would give the example's size (the hint); the symbol is the truth.
            known = d.node.maybe_as_int()
            out.append(int(known) if known is not None else str(d))
            continue
        try:
            out.append(int(d))
        except (TypeError, ValueError, RuntimeError):
            out.append(str(d))
    return tuple(out)


def _is_float(dtype: Any) -> bool:
    return bool(getattr(dtype, "is_floating_point", False) or getattr(dtype, "is_complex",
                                                                         False))


def _class_name(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def _frames_from_stack(stack: Any) -> tuple[Frame, ...]:
    """torch.export / torch.fx ``nn_module_stack`` -> frames (root dropped)."""
    if not stack:
        return ()
    frames = []
    for key, value in stack.items():
        path, cls = value[0], value[1]
        if not path:
            continue
        qual = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
        call = 0
        tail = str(key).rsplit("@", 1)
        if len(tail) == 2 and tail[1].isdigit():
            call = int(tail[1])
        frames.append(Frame(key=f"{path}@{call}" if call else path, path=path,
                            cls=_class_name(qual), qualname=qual, call=call))
    return tuple(frames)


def _leaf_names(structure: Any, is_leaf: Any) -> list[str]:
    """Names of the leaves of a (nested) result: dict keys and indices, "logits", "1.0"."""
    from torch.utils import _pytree as pytree

    try:
        flat, _ = pytree.tree_flatten_with_path(structure)
    except Exception:  # exotic containers: fall back to positional names
        return []
    names = []
    for path, leaf in flat:
        if not is_leaf(leaf):
            continue
        parts = []
        for k in path:
            for attr in ("key", "idx", "name"):
                if hasattr(k, attr):
                    parts.append(str(getattr(k, attr)))
                    break
        names.append(".".join(parts))
    return names


def _flatten_nodes(value: Any) -> list:
    out: list = []
    if isinstance(value, torch.fx.Node):
        out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            out.extend(_flatten_nodes(v))
    elif isinstance(value, dict):
        for v in value.values():
            out.extend(_flatten_nodes(v))
    return out


def _op_display(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        packet = target.overloadpacket
        ns = getattr(packet, "_qualified_op_name", str(packet)).split("::")
        return f"{ns[0]}.{ns[-1]}" if len(ns) > 1 else str(packet)
    if isinstance(target, torch._ops.OpOverloadPacket):
        return str(target).replace("::", ".")
    if isinstance(target, torch._ops.HigherOrderOperator):
        return f"higher_order.{target.name()}"
    name = getattr(target, "__name__", None) or str(target)
    return f"torch.{name}"


def _scalar_attrs(node: Any) -> dict:
    """Plain non-tensor arguments (kernel sizes, dims) for the details panel."""
    attrs: dict[str, Any] = {}
    plain = (int, float, bool, str, type(None))
    for i, a in enumerate(node.args):
        if isinstance(a, plain) or (isinstance(a, (list, tuple)) and
                                    all(isinstance(x, plain) for x in a)):
            attrs[f"arg{i}"] = list(a) if isinstance(a, tuple) else a
    for k, a in node.kwargs.items():
        if isinstance(a, plain) or (isinstance(a, (list, tuple)) and
                                    all(isinstance(x, plain) for x in a)):
            attrs[k] = list(a) if isinstance(a, tuple) else a
    return attrs


def _functional(ep: Any) -> Any:
    """The program without in-place ops, when it has any.

    torch.export's training IR keeps mutations (``y[:, :4] = fc(x)`` is a ``copy_`` into a
    slice view of ``y``), so data flow is not visible from the arguments alone. Functionalizing
    (an empty decomposition table: ops stay as they are) turns them into explicit data flow.
    """
    mutating = any(node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload)
                   and node.target._schema.is_mutable for node in ep.graph.nodes)
    if not mutating:
        return ep
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ep.run_decompositions({})
    except Exception:  # keep the program as it is; the drawing may miss an in-place edge
        return ep


def from_exported(ep: Any, name: str = "model", module: torch.nn.Module | None = None,
                  ) -> Trace:
    """An ExportedProgram -> Trace; ``module`` (the live one) gives canonical names of shared
    tensors (export may keep any alias) and requires_grad.

    The program is serialized the way ``torch.export.save`` writes it (without weights) and
    read by the same code that reads ``.pt2`` files, so a live model and its saved archive
    draw identically. Only when torch cannot serialize the program (custom objects, exotic
    metadata) is the in-memory graph walked instead.
    """
    canonical: dict[str, str] = {}
    trainable: dict[str, bool] = {}
    first: dict[int, str] = {}
    if module is not None:
        named = list(module.named_parameters(remove_duplicate=False))
        named += list(module.named_buffers(remove_duplicate=False))
        for qual, t in named:
            canonical[qual] = first.setdefault(id(t), qual)
            trainable[qual] = bool(t.requires_grad)
    else:  # tied weights are one tensor object under several state_dict names
        for qual, t in list(ep.state_dict.items()) + list(ep.constants.items()):
            canonical[qual] = first.setdefault(id(t), qual)
    doc = _serialized(ep)
    if doc is not None:
        from nnviz.loaders.torch_pt2 import Pt2Error, trace_from_program

        try:
            return trace_from_program(doc, name, canonical=canonical, trainable=trainable)
        except Pt2Error:
            pass  # the in-memory walk below
    return _walk_exported(ep, name, canonical, trainable)


def _serialized(ep: Any) -> dict | None:
    """The program as torch.export.save serializes it (a JSON-able dict), without weights.

    Only the graph module is serialized: ``torch.export.save`` also canonicalizes the whole
    program (deep copies that took 5 of 8 s on a 24-layer GPT-2), which changes nothing a
    drawing shows; the tests compare live and saved drawings to keep it that way.
    """
    try:
        from torch._export.serde.serialize import GraphModuleSerializer, _dataclass_to_dict

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            serializer = GraphModuleSerializer(ep.graph_signature, ep.module_call_graph)
            doc = {"graph_module": _dataclass_to_dict(serializer.serialize(ep.graph_module))}
    except Exception:  # private API or an unserializable program: walk the graph instead
        return None
    return doc


def _walk_exported(ep: Any, name: str, canonical: dict[str, str],
                   trainable: dict[str, bool]) -> Trace:
    """The in-memory ExportedProgram's fx graph -> Trace (fallback of ``from_exported``)."""
    from torch.export.graph_signature import InputKind, OutputKind

    ep = _functional(ep)
    sig = ep.graph_signature
    # placeholder name -> (state name, role); roles follow PyTorch's counting convention.
    state_of: dict[str, tuple[str, str]] = {}
    user_inputs: list[str] = []
    for spec in sig.input_specs:
        arg_name = getattr(spec.arg, "name", None)
        if arg_name is None:
            continue
        if spec.kind == InputKind.USER_INPUT:
            user_inputs.append(arg_name)
            continue
        role = {InputKind.PARAMETER: "param", InputKind.BUFFER: "buffer",
                InputKind.CONSTANT_TENSOR: "constant"}.get(spec.kind)
        if role is not None:
            target = canonical.get(spec.target or "", spec.target or arg_name)
            state_of[arg_name] = (target, role)
    tensors: dict[str, tuple] = {}
    ops: list[TOp] = []
    alias: dict[str, str] = {}  # getitem node name -> tensor id of the tuple element
    outputs_of: dict[str, list[str]] = {}
    inputs: list[tuple[str, str]] = []
    placeholder_params: dict[str, Param] = {}

    for node in ep.graph.nodes:
        val = node.meta.get("val")
        if node.op == "placeholder":
            if node.name in state_of:
                target, role = state_of[node.name]
                shape = shape_of(val) if isinstance(val, torch.Tensor) else None
                dtype = dtype_name(getattr(val, "dtype", None))
                train = role == "param" and trainable.get(
                    target, bool(getattr(val, "requires_grad", True)))
                placeholder_params[node.name] = Param(target, shape, dtype, train, role)
            elif node.name in user_inputs and isinstance(val, torch.Tensor):
                tensors[node.name] = (shape_of(val), dtype_name(val.dtype))
                inputs.append((node.name, node.name))
            continue
        if node.op == "output":
            continue
        if node.op != "call_function":
            continue  # get_attr of submodules (cond branches) are reached through their op
        if node.target is operator.getitem:
            src, idx = node.args[0], node.args[1]
            if isinstance(src, torch.fx.Node) and src.name in outputs_of and \
                    isinstance(idx, int):
                alias[node.name] = f"{src.name}.{idx}"
            continue
        data: list[str] = []
        params: list[Param] = []
        for arg in _flatten_nodes((node.args, node.kwargs)):
            if arg.name in placeholder_params:
                p = placeholder_params[arg.name]
                if all(q.name != p.name for q in params):
                    params.append(p)
                continue
            tid = alias.get(arg.name, arg.name)
            if tid in tensors and tid not in data:
                data.append(tid)
        outs: list[str] = []
        if isinstance(val, torch.Tensor):
            tensors[node.name] = (shape_of(val), dtype_name(val.dtype))
            outs.append(node.name)
        elif isinstance(val, (list, tuple)):
            for i, v in enumerate(val):
                if isinstance(v, torch.Tensor):
                    tid = f"{node.name}.{i}"
                    tensors[tid] = (shape_of(v), dtype_name(v.dtype))
                    outs.append(tid)
        if not outs:
            continue  # asserts, symbolic sizes: no tensor flows out
        outputs_of[node.name] = outs
        ops.append(TOp(node.name, _op_display(node.target), data, outs, params,
                       _frames_from_stack(node.meta.get("nn_module_stack")),
                       _scalar_attrs(node)))

    user_outputs: list[str] = []
    out_node = next(n for n in ep.graph.nodes if n.op == "output")
    out_values = _flatten_nodes(out_node.args)
    for spec, value in zip(sig.output_specs, out_values):
        if spec.kind != OutputKind.USER_OUTPUT:
            continue
        tid = alias.get(value.name, value.name)
        if tid in tensors:
            user_outputs.append(tid)
    names: list[str] = []
    try:
        from torch.utils import _pytree as pytree

        spec = ep.call_spec.out_spec
        if spec is not None:
            # Only user outputs are in the output pytree, in order.
            names = _leaf_names(pytree.tree_unflatten(list(range(spec.num_leaves)), spec),
                                lambda v: isinstance(v, int))
    except Exception:  # names are cosmetic: never fail a load for them
        names = []
    extra = list({p.name: p for p in placeholder_params.values()}.values())
    return Trace(name, ops, tensors, inputs, user_outputs, {"capture": "torch.export"},
                 names if len(names) == len(user_outputs) else [], extra)


# ---- torch.fx ------------------------------------------------------------------------------


class _NameIndex:
    """Canonical names of a root module's parameters and buffers, by object identity.

    The canonical name of a tensor shared by several modules is its first name in
    named_parameters() order, which is also the name torch.export keeps.
    """

    def __init__(self, root: torch.nn.Module):
        self.params: dict[int, tuple[str, Any]] = {}
        self.buffers: dict[int, tuple[str, Any]] = {}
        self.modules: dict[int, str] = {}
        for name, p in root.named_parameters(remove_duplicate=False):
            self.params.setdefault(id(p), (name, p))
        for name, b in root.named_buffers(remove_duplicate=False):
            self.buffers.setdefault(id(b), (name, b))
        for name, m in root.named_modules(remove_duplicate=False):
            self.modules.setdefault(id(m), name)

    def param_entry(self, t: Any) -> Param | None:
        """The Param for a parameter (role "param") or buffer (role "buffer") of the model."""
        key = id(t)
        if key in self.params:
            name, p = self.params[key]
            return Param(name, shape_of(p), dtype_name(p.dtype), bool(p.requires_grad))
        if key in self.buffers:
            name, b = self.buffers[key]
            return Param(name, shape_of(b), dtype_name(b.dtype), False, "buffer")
        return None

    def module_entries(self, module: torch.nn.Module) -> list[Param]:
        params: list[Param] = []
        for t in list(module.parameters()) + list(module.buffers()):
            p = self.param_entry(t)
            if p is not None and all(q.name != p.name for q in params):
                params.append(p)
        return params

    def every_entry(self) -> list[Param]:
        """All parameters and buffers, each once (for state no captured op reads)."""
        out = [self.param_entry(p) for _, p in self.params.values()]
        out += [self.param_entry(b) for _, b in self.buffers.values()]
        return [p for p in out if p is not None]


def _tensor_meta_list(meta: Any) -> list | None:
    """ShapeProp's tensor_meta -> [TensorMetadata or None per output], None if not a tensor."""
    if meta is None:
        return None
    if hasattr(meta, "shape") and hasattr(meta, "dtype"):
        return [meta]
    if isinstance(meta, (list, tuple)):
        return [m if hasattr(m, "shape") and hasattr(m, "dtype") else None for m in meta]
    return None


def capture_fx(module: torch.nn.Module, args: tuple, kwargs: dict, name: str) -> Trace:
    from torch.fx.passes.shape_prop import ShapeProp

    if kwargs:
        raise TypeError("torch.fx capture takes positional example inputs only")
    # Arguments the example does not supply keep their defaults (a None must stay None,
    # not become a traced placeholder).
    import inspect

    concrete: dict[str, Any] = {}
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params[len(args):]:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and \
                p.default is not p.empty:
            concrete[p.name] = p.default
    gm = torch.fx.symbolic_trace(module, concrete_args=concrete or None)
    ShapeProp(gm).propagate(*args)
    index = _NameIndex(module)
    tensors: dict[str, tuple] = {}
    ops: list[TOp] = []
    alias: dict[str, str] = {}
    inputs: list[tuple[str, str]] = []
    get_attr: dict[str, tuple[Param | None, dict | None]] = {}
    calls: dict[str, int] = {}

    for node in gm.graph.nodes:
        metas = _tensor_meta_list(node.meta.get("tensor_meta"))
        if node.op == "placeholder":
            if metas and metas[0] is not None:
                tensors[node.name] = (tuple(int(d) for d in metas[0].shape),
                                      dtype_name(metas[0].dtype))
                inputs.append((node.name, node.name))
            continue
        if node.op == "output":
            continue
        if node.op == "get_attr":
            obj = gm
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            orig = module
            try:
                for part in str(node.target).split("."):
                    orig = getattr(orig, part)
            except AttributeError:
                orig = obj
            entry = index.param_entry(orig)
            if entry is not None:
                get_attr[node.name] = entry
            elif isinstance(obj, torch.Tensor):
                # A plain tensor attribute (fx's _tensor_constant0): a constant, not state.
                get_attr[node.name] = Param(str(node.target), shape_of(obj),
                                            dtype_name(obj.dtype), False, "constant")
            continue
        if node.target is operator.getitem and isinstance(node.args[0], torch.fx.Node):
            src = node.args[0]
            src_meta = src.meta.get("tensor_meta")
            # Indexing a tuple result (LSTM's (out, (h, c))) is wiring, not an op; indexing a
            # tensor (x[0]) is a real op and stays.
            if isinstance(src_meta, (list, tuple)) and isinstance(node.args[1], int):
                alias[node.name] = f"{src.name}.{node.args[1]}"
                continue
        data: list[str] = []
        params: list[Param] = []
        for arg in _flatten_nodes((node.args, node.kwargs)):
            if arg.name in get_attr:
                p = get_attr[arg.name]
                if all(q.name != p.name for q in params):
                    params.append(p)
                continue
            tid = alias.get(arg.name, arg.name)
            if tid in tensors and tid not in data:
                data.append(tid)
        outs: list[str] = []
        if metas is not None:
            single = hasattr(node.meta.get("tensor_meta"), "shape")
            for i, m in enumerate(metas):
                if m is None:
                    continue
                tid = node.name if single else f"{node.name}.{i}"
                tensors[tid] = (tuple(int(d) for d in m.shape), dtype_name(m.dtype))
                outs.append(tid)
        first = node.args[0] if node.args and isinstance(node.args[0], torch.fx.Node) else None
        if first is not None and _writes_first_arg(node):
            # In place (x.add_(1), x[i] = y): fx keeps referring to x, so later readers of x
            # must read this op's result instead.
            base = alias.get(first.name, first.name)
            if not outs and base in tensors:
                tensors[node.name] = tensors[base]
                outs.append(node.name)
            if outs:
                alias[first.name] = outs[0]
        if not outs:
            continue
        stack = _frames_from_stack(node.meta.get("nn_module_stack"))
        if node.op == "call_module":
            sub = module.get_submodule(str(node.target))
            mp = index.module_entries(sub)
            params.extend(p for p in mp if all(q.name != p.name for q in params))
            path = str(node.target)
            n = calls.get(path, 0)
            calls[path] = n + 1
            qual = f"{type(sub).__module__}.{type(sub).__qualname__}"
            leaf = Frame(f"{path}@{n}" if n else path, path, type(sub).__name__, qual, n)
            stack = tuple(f for f in stack if f.path != path) + (leaf,)
            opname = type(sub).__name__
        else:
            target = node.target
            opname = f"torch.{target}" if isinstance(target, str) else _op_display(target)
        ops.append(TOp(node.name, opname, data, outs, params, stack, _scalar_attrs(node)))

    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    outputs = []
    for v in _flatten_nodes(out_node.args):
        tid = alias.get(v.name, v.name)
        if tid in tensors and tid not in outputs:
            outputs.append(tid)
    names = _leaf_names(out_node.args[0], lambda v: isinstance(v, torch.fx.Node))
    return Trace(name, ops, tensors, inputs, outputs, {"capture": "torch.fx"},
                 names if len(names) == len(outputs) else [], index.every_entry())


def _writes_first_arg(node: Any) -> bool:
    if node.target is operator.setitem:
        return True
    name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
    return node.op in ("call_method", "call_function") and name.endswith("_") and \
        not name.startswith("_")


# ---- forward hooks + torch function mode ------------------------------------------------------


# Argument types that never hold a tensor. isinstance(v, torch.Tensor) goes through torch's
# metaclass and costs about a microsecond for a non-tensor; an op's arguments are mostly ints,
# dims and dtypes, read twice per captured op (by both capture modes).
_NO_TENSORS = frozenset({int, float, bool, str, type(None), torch.dtype, torch.device,
                         torch.Size, torch.layout, torch.memory_format, slice,
                         type(Ellipsis)})
_CONTAINERS = (list, tuple, dict)


def _iter_tensors(value: Any, depth: int = 0) -> list:
    """The tensors in a (nested) value, in order, down to 6 levels of containers. Called
    for every captured op's arguments and result: one list filled in place, not a list per
    level."""
    kind = type(value)
    if kind in _NO_TENSORS:
        return []
    if kind not in _CONTAINERS and isinstance(value, torch.Tensor):
        return [value] if depth <= 6 else []
    out: list = []
    _collect_tensors(value, out, depth)
    return out


def _collect_tensors(value: Any, out: list, depth: int) -> None:
    if depth > 6:
        return
    if isinstance(value, (list, tuple)):
        items: Any = value
    elif isinstance(value, dict):
        items = value.values()
    else:
        return
    tensor = torch.Tensor
    for v in items:
        kind = type(v)
        if kind in _NO_TENSORS:
            continue
        if kind in _CONTAINERS:
            _collect_tensors(v, out, depth + 1)
        elif isinstance(v, tensor):
            if depth < 6:
                out.append(v)
        elif isinstance(v, _CONTAINERS):
            _collect_tensors(v, out, depth + 1)


def _func_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if name == "__get__":  # property access such as Tensor.T / Tensor.mT
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name


# ---- the checked fast capture (what "auto" tries first) -------------------------------------
#
# torch.export costs seconds before it traces anything (it imports torch._dynamo) and then
# traces every op through fake tensors; an eager run with hooks is 5-15x faster. Its drawing is
# the same at module level (leaf modules are one box either way) when every op drawn outside a
# leaf module is a torch function whose pre-dispatch ATen op, the one export records, has the
# same name and the same tensor arguments. The names below were each checked against
# torch.export (tests/test_torch_fast.py exports one small module per name); anything else, an
# in-place write outside a leaf module or through a view, a tensor read as Python data
# (export guards on it or fails), or a tensor the run did not make sends "auto" to export.
_ATEN_SAME = frozenset({
    "add", "sub", "mul", "div", "matmul", "rsub", "neg", "pow", "exp", "log", "sqrt", "rsqrt",
    "abs", "relu", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "cat",
    "stack", "flatten", "reshape", "view", "permute", "transpose", "unsqueeze", "expand",
    "mean", "sum", "amax", "where", "gt", "lt", "ge", "le", "eq", "ne", "full", "zeros",
    "ones", "arange", "triu", "tril", "layer_norm", "linear", "conv2d",
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "scaled_dot_product_attention",
    "embedding", "pad", "clamp", "hardtanh", "contiguous",
})
# Operators as torch functions: Tensor.__add__ is aten.add, 1 - x (__rsub__) aten.rsub, ...
_DUNDER_ATEN = {"__add__": "add", "__radd__": "add", "__sub__": "sub", "__rsub__": "rsub",
                "__mul__": "mul", "__rmul__": "mul", "__truediv__": "div",
                "__matmul__": "matmul", "__neg__": "neg", "__pow__": "pow", "__gt__": "gt",
                "__lt__": "lt", "__ge__": "ge", "__le__": "le", "__eq__": "eq", "__ne__": "ne",
                "_max_pool2d": "max_pool2d"}
# Tensor -> Python data: export specializes a guard on the value or fails on it.
_DATA_READS = frozenset({"__bool__", "item", "tolist", "__int__", "__float__", "__index__",
                         "numpy", "nonzero", "__array__"})
_IN_PLACE_DUNDERS = frozenset({"__setitem__", "__iadd__", "__isub__", "__imul__",
                               "__itruediv__", "__ior__", "__iand__"})


def _getitem_aten(args: tuple) -> str | None:
    """The one ATen op export records for ``x[index]`` (basic indexing), or None when it is
    several ops or one this cannot tell. Checked against torch.export by
    tests/test_torch_fast.py: an int is ``select``, a slice that cuts is ``slice`` (a whole
    dimension, ``:`` or ``0:n`` with n >= its size, is no op), None is ``unsqueeze``, and an
    index that does nothing at all is ``alias``."""
    if len(args) != 2 or not isinstance(args[0], torch.Tensor):
        return None
    items = args[1] if isinstance(args[1], tuple) else (args[1],)
    shape = args[0].shape
    used = sum(1 for it in items if it is not None and it is not Ellipsis)
    if used > len(shape) or sum(1 for it in items if it is Ellipsis) > 1:
        return None
    ops: list[str] = []
    dim = 0
    for it in items:
        if it is None:
            ops.append("unsqueeze")
        elif it is Ellipsis:
            dim += len(shape) - used
        elif isinstance(it, int) and not isinstance(it, bool):
            ops.append("select")
            dim += 1
        elif isinstance(it, slice) and all(v is None or (isinstance(v, int) and
                                                         not isinstance(v, bool))
                                           for v in (it.start, it.stop, it.step)):
            start, stop, step = it.start, it.stop, it.step
            if start is not None and start < 0 or stop is not None and stop < 0:
                return None  # whether export's slice is whole after normalizing: not told
            if start or (step or 1) != 1 or (stop is not None and stop < int(shape[dim])):
                ops.append("slice")
            dim += 1
        else:
            return None  # tensors, lists, bools: advanced indexing
    if not ops:
        return "alias"
    return ops[0] if len(ops) == 1 else None


def _aten_name(func_name: str) -> str | None:
    """The pre-dispatch ATen op export records for this torch function, if it is one op."""
    name = _DUNDER_ATEN.get(func_name, func_name)
    return name if name in _ATEN_SAME else None


class _Checks:
    """What the fast capture must know to tell whether its drawing is export's: the ATen name
    of each recorded op (None: no one-to-one op), and the first reason it cannot be."""

    def __init__(self) -> None:
        self.aten: dict[str, str | None] = {}
        self.problem: str | None = None
        self.reads: set[int] = set()  # id() of tensors aten ops read during the current call

    def fail(self, why: str) -> None:
        if self.problem is None:
            self.problem = why


def _builtin_names() -> frozenset[str]:
    import builtins
    import keyword

    return frozenset(builtins.__dict__) | frozenset(keyword.kwlist)


class _Recorder:
    def __init__(self, root: torch.nn.Module, observer: Any = None,
                 checks: _Checks | None = None):
        self.observer = observer  # nnviz.values: statistics of every tensor as it is made
        self.checks = checks
        self.index = _NameIndex(root)
        self.stack: list[Frame] = []
        self.calls: dict[int, int] = {}
        self.ops: list[TOp] = []
        self.tensors: dict[str, tuple] = {}
        self.current: dict[int, str] = {}  # id(tensor object) -> latest tensor id
        self.keep: list[Any] = []  # keeps recorded tensors alive so ids are never reused
        self.names: dict[str, int] = {}
        # Checked runs name ops as torch.fx does (export's names): a Python builtin or
        # keyword is never used bare ("sum_1", "pow_1").
        self.reserved = _builtin_names() if checks is not None else frozenset()

    def fresh(self, base: str) -> str:
        base = base.strip("_") or "op"
        n = self.names.get(base, 0)
        if n == 0 and base in self.reserved:
            n = 1
        self.names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def register(self, t: Any, tid: str) -> None:
        self.keep.append(t)
        self.current[id(t)] = tid
        self.tensors[tid] = (shape_of(t), dtype_name(t.dtype))

    def pre_hook(self, module: torch.nn.Module, args: Any) -> None:
        path = self.index.modules.get(id(module), "")
        if not path:
            return
        n = self.calls.get(id(module), 0)
        self.calls[id(module)] = n + 1
        cls = type(module)
        self.stack.append(Frame(f"{path}@{n}" if n else path, path, cls.__name__,
                                f"{cls.__module__}.{cls.__qualname__}", n))

    def post_hook(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        path = self.index.modules.get(id(module), "")
        if path and self.stack and self.stack[-1].path == path:
            self.stack.pop()

    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        outs = _iter_tensors(out)
        fname = _func_name(func)
        checks = self.checks
        if checks is not None and fname in _DATA_READS:
            checks.fail(f"it reads a tensor's value in Python ({fname})")
        if not outs and fname == "__setitem__" and args and \
                isinstance(args[0], torch.Tensor):
            outs = [args[0]]  # x[i] = y writes x in place: later readers see a new version
        if not outs:
            return
        if checks is not None and fname == "contiguous" and outs[0] is args[0]:
            # x.contiguous() of a contiguous x is x itself and calls no ATen op: export's
            # program has no node for it, so neither does this capture (x keeps its id).
            return
        # x[i, :n] is one ATen op in export's program when it selects, slices or unsqueezes
        # once: that op names it, as export names it.
        indexing = _getitem_aten(args) if checks is not None and \
            fname == "__getitem__" else None
        name = self.fresh(indexing or fname)
        data: list[str] = []
        params: list[Param] = []
        arg_tensors = _iter_tensors((args, kwargs))
        # An argument no ATen op read (MultiheadAttention's attn_mask when is_causal) is no
        # edge in export's program; only judged when the call read something at all.
        reads = checks.reads if checks is not None and checks.reads else None
        for t in arg_tensors:
            p = self.index.param_entry(t)
            if p is not None:
                if all(q.name != p.name for q in params):
                    params.append(p)
                continue
            tid = self.current.get(id(t))
            if tid is None and checks is not None:
                checks.fail(f"{fname} reads a tensor the model run did not make")
            if reads is not None and id(t) not in reads:
                continue
            if tid is not None and tid not in data:
                data.append(tid)
        if checks is not None:
            in_place = fname in _IN_PLACE_DUNDERS or (fname.endswith("_") and
                                                      not fname.startswith("__"))
            if in_place and args and isinstance(args[0], torch.Tensor) and \
                    args[0]._base is not None:
                checks.fail(f"{fname} writes in place through a view")
            # A result that is its argument (x.contiguous() of a contiguous x, eval-mode
            # dropout) cannot tell later readers of the one from readers of the other; inside
            # a leaf module's box that does not show, outside it does: export decides.
            same = any(o is a for o in outs for a in arg_tensors)
            checks.aten[name] = None if in_place or same else (indexing or _aten_name(fname))
        out_ids = []
        for i, t in enumerate(outs):
            tid = name if len(outs) == 1 else f"{name}.{i}"
            self.register(t, tid)
            out_ids.append(tid)
            if self.observer is not None:
                self.observer.tensor(tid, t, func, args, kwargs)
        plain = {k: v for k, v in kwargs.items() if isinstance(v, (int, float, bool, str))}
        self.ops.append(TOp(name, f"torch.{_func_name(func)}", data, out_ids, params,
                            tuple(self.stack), plain))


def _input_names(module: torch.nn.Module, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
    """(forward parameter name, value) pairs, so inputs are named as torch.export names them."""
    import inspect

    try:
        names = [p.name for p in inspect.signature(module.forward).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    out = [(names[i] if i < len(names) else f"input_{i}", a) for i, a in enumerate(args)]
    out.extend((k, v) for k, v in kwargs.items())
    return out


@contextlib.contextmanager
def _tracing_queries(checks: _Checks) -> Any:
    """Fail ``checks`` when code outside torch asks whether it is being compiled or exported
    (Hugging Face's ``is_tracing`` does, and builds an attention mask only then): such a model
    runs other code under export than in this eager run, so only export can draw it. torch's
    own queries (``Module.__call__`` asks on every call with hooks) do not change what runs.
    The functions are wrapped while the model runs and given back after; they still answer."""
    import sys

    saved = []
    for fn_name in ("is_compiling", "is_exporting", "is_dynamo_compiling"):
        original = getattr(torch.compiler, fn_name, None)
        if original is None:
            continue

        def probe(*a: Any, _fn: Any = original, _name: str = fn_name, **k: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller != "torch" and not caller.startswith("torch."):
                checks.fail(f"it asks whether it is being compiled or exported "
                            f"(torch.compiler.{_name}, from {caller})")
            return _fn(*a, **k)

        setattr(torch.compiler, fn_name, probe)
        saved.append((fn_name, original))
    try:
        yield
    finally:
        for fn_name, original in saved:
            setattr(torch.compiler, fn_name, original)


def capture_hooks(module: torch.nn.Module, args: tuple, kwargs: dict, name: str,
                  observer: Any = None, checks: _Checks | None = None) -> Trace:
    """``observer`` (nnviz.values) sees every input and op output tensor as it is made
    (``observer.tensor(tid, t, func, args, kwargs)``) and the model's result
    (``observer.result(value)``), so values are captured in the same run that draws.
    ``checks`` (the fast capture) collects what tells whether the drawing is export's."""
    from torch.overrides import TorchFunctionMode

    rec = _Recorder(module, observer, checks)

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, f_args=(), f_kwargs=None):
            f_kwargs = f_kwargs or {}
            if checks is not None:
                checks.reads.clear()
            out = func(*f_args, **f_kwargs)
            rec.record(func, f_args, f_kwargs, out)
            return out

    reads_mode: Any = contextlib.nullcontext()
    if checks is not None:
        from torch.utils._python_dispatch import TorchDispatchMode

        class _Reads(TorchDispatchMode):
            """Notes every tensor an ATen op reads (below the torch function layer)."""

            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                # torch wraps a mode's __torch_dispatch__ in dynamo.disable by default, which
                # imports torch._dynamo (seconds) on the first op; nothing here is compiled.
                return False

            def __torch_dispatch__(self, func, types, d_args=(), d_kwargs=None):
                d_kwargs = d_kwargs or {}
                for t in _iter_tensors((d_args, d_kwargs)):
                    checks.reads.add(id(t))
                return func(*d_args, **d_kwargs)

        reads_mode = _Reads()

    inputs: list[tuple[str, str]] = []
    for base, value in _input_names(module, args, kwargs):
        flat = _iter_tensors(value)
        for i, t in enumerate(flat):
            nm = base if len(flat) == 1 else f"{base}_{i}"
            if id(t) in rec.current:
                continue  # the same tensor passed twice
            rec.register(t, nm)
            inputs.append((nm, nm))
            if observer is not None:
                observer.tensor(nm, t, None, (), {})
    handles = []
    queries = _tracing_queries(checks) if checks is not None else contextlib.nullcontext()
    try:
        for _, sub in module.named_modules():
            handles.append(sub.register_forward_pre_hook(rec.pre_hook))
            handles.append(sub.register_forward_hook(rec.post_hook, always_call=True))
        with reads_mode, _Mode(), queries:
            result = module(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    if observer is not None:
        observer.result(result)
    outputs = []
    for t in _iter_tensors(result):
        tid = rec.current.get(id(t))
        if tid is not None and tid not in outputs:
            outputs.append(tid)
    # Leaf modules get their full parameter list even if an op reached a weight indirectly.
    leaf_modules: dict[str, torch.nn.Module] = dict(module.named_modules())
    done: set[str] = set()
    # The last op of a call is the one producing its result, so it survives dead-code pruning.
    for op in reversed(rec.ops):
        if op.stack and op.stack[-1].key not in done:
            done.add(op.stack[-1].key)
            sub = leaf_modules.get(op.stack[-1].path)
            if sub is not None and not any(True for _ in sub.children()):
                # The module's own order (parameters, then buffers), which is the order
                # torch.export's ops read them in (BatchNorm: weight, bias, running stats).
                mp = rec.index.module_entries(sub)
                names = {p.name for p in mp}
                op.params[:] = mp + [p for p in op.params if p.name not in names]
    names = _leaf_names(result, lambda v: isinstance(v, torch.Tensor))
    return Trace(name, rec.ops, rec.tensors, inputs, outputs, {"capture": "forward hooks"},
                 names if len(names) == len(outputs) else [], rec.index.every_entry())


def capture_fast(module: torch.nn.Module, args: tuple, kwargs: dict, name: str
                 ) -> tuple[Trace | None, str]:
    """The forward-hooks capture when its module-level drawing is the one torch.export gives
    (see ``_ATEN_SAME``), else (None, the reason). Free ops are renamed to their ATen ops."""
    from nnviz.loaders.torch_build import _copy_op, _fold_weight_views, _live_ops

    checks = _Checks()
    trace = capture_hooks(module, args, kwargs, name, checks=checks)
    if checks.problem is not None:
        return None, checks.problem
    live = _live_ops(trace)
    drawn = {op.name for op in _fold_weight_views([_copy_op(op) for op in live],
                                                  trace.outputs)}
    parents = {f.key for op in live for f in op.stack[:-1]}
    renamed: dict[str, str] = {}
    for op in live:
        if op.name not in drawn or (op.stack and op.stack[-1].key not in parents):
            continue  # inside a leaf module's box, or folded into its consumer as a weight
        aten = checks.aten.get(op.name)
        if aten is None:
            return None, f"{op.op} outside a leaf module has no one-to-one ATen op"
        renamed[op.name] = f"aten.{aten}"
    for op in trace.ops:
        if op.name in renamed:
            op.op = renamed[op.name]
    return trace, ""

