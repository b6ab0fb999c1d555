"""Captured PyTorch op trace -> ir.Graph, at module level or at op (ATen) level.

Framework-free on purpose: the three capture paths in ``torch_capture`` (torch.export,
torch.fx, forward hooks) all produce the same :class:`Trace`, and this module turns it into
the IR. Keeping the folding logic here means every capture path draws a model the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nnviz.ir import Graph, Node, Param, Shape, Tensor
from nnviz.kinds import kind_for
from nnviz.loaders.canon_attrs import canonical, canonicalize


@dataclass(frozen=True)
class Frame:
    """One module call on the call stack of an op (the root module is never a frame)."""

    key: str  # unique per call of the module (the path, plus "@N" for the N-th extra call)
    path: str  # qualified module path, "encoder.layers.0.self_attn"
    cls: str  # class name, "MultiheadAttention"
    qualname: str = ""  # "torch.nn.modules.activation.MultiheadAttention"
    call: int = 0  # 0 for the first call of this module, 1 for the second, ...


@dataclass
class TOp:
    """One captured op: an ATen op, a torch function, or (torch.fx) a whole leaf module."""

    name: str  # unique, deterministic (the fx node name or a counter-based name)
    op: str  # what to show: "aten.conv2d", "torch.add", "Linear"
    inputs: list[str] = field(default_factory=list)  # data tensor ids
    outputs: list[str] = field(default_factory=list)  # tensor ids it produces
    # Weights the op reads: parameters, buffers and tensor constants (``Param.role`` says
    # which, so totals follow PyTorch's convention: parameters only).
    params: list[Param] = field(default_factory=list)
    stack: tuple[Frame, ...] = ()
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trace:
    name: str
    ops: list[TOp]
    tensors: dict[str, tuple[Shape, str | None]]  # tensor id -> (shape, dtype)
    inputs: list[tuple[str, str]]  # (input name, tensor id)
    outputs: list[str]  # tensor ids
    meta: dict[str, Any] = field(default_factory=dict)
    output_names: list[str] = field(default_factory=list)  # e.g. dict keys of the result
    # Parameters and buffers of the model that no captured op reads (BatchNorm's
    # num_batches_tracked in eval mode): listed on their module's box so the module's
    # state is complete; parameters without a box are named in meta["unused_params"].
    extra_params: list[Param] = field(default_factory=list)


# ATen/torch names whose plain name means something else in the shared kind table: aten.mean
# with a dim is a reduction (ONNX ReduceMean), not the n-ary elementwise ONNX Mean.
_KIND_ALIASES = {
    "mean": "reduce", "sum": "reduce", "amax": "reduce", "amin": "reduce", "std": "reduce",
    "var": "reduce", "prod": "reduce", "batchnorm": "norm", "layernorm": "norm",
    "groupnorm": "norm", "instancenorm": "norm", "nativebatchnormlegitnotraining": "norm",
    "nativebatchnormlegit": "norm", "nativelayernorm": "norm", "rmsnorm": "norm",
    "scaleddotproductattention": "attention", "multiheadattentionforward": "attention",
    "embedding": "embedding", "lstm": "recurrent", "gru": "recurrent", "rnntanh": "recurrent",
    "rnnrelu": "recurrent", "transformerencoderlayerfwd": "attention",
    "nativemultiheadattention": "attention", "getitem": "reshape", "setitem": "reshape",
    "matmul": "linear", "linear": "linear", "conv2d": "conv", "conv1d": "conv",
    "conv3d": "conv", "convolution": "conv", "maxpool2dwithindices": "pool",
    "dropout": "elementwise", "featuredropout": "elementwise", "contiguous": "reshape",
    "gt": "elementwise", "lt": "elementwise", "ge": "elementwise", "le": "elementwise",
    "eq": "elementwise", "ne": "elementwise", "logicaland": "elementwise",
    "logicalor": "elementwise", "logicalnot": "elementwise",
}

# When a module class name says nothing (a user's own leaf module), the most telling op
# inside it decides the colour, in this order.
_KIND_PRIORITY = ("attention", "conv", "recurrent", "embedding", "linear", "norm", "pool",
                  "activation", "reduce", "elementwise", "reshape", "constant")


def op_kind(op: str) -> str:
    """Kind of a captured op name such as 'aten.conv2d', 'torch.add', 'Tensor.__add__'."""
    short = op.rsplit(".", 1)[-1]
    if short.startswith("__r") and short.endswith("__") and len(short) > 5:
        short = short[3:-2]  # reflected operators: __radd__ is an add
    short = short.strip("_").lower().replace("_", "")
    if short in _KIND_ALIASES:
        return _KIND_ALIASES[short]
    # In-place variants (add_, relu_) have the same kind as the op.
    kind = kind_for(short)
    if kind == "other":
        kind = kind_for(op)
    return kind


def module_kind(cls: str, ops: list[TOp]) -> str:
    kind = kind_for(cls)
    if kind == "other":
        low = cls.lower()
        if low.endswith("linear"):
            return "linear"
        kinds = {op_kind(o.op) for o in ops}
        for k in _KIND_PRIORITY:
            if k in kinds:
                return k
    return kind


def _components(stack: tuple[Frame, ...]) -> tuple[str, ...]:
    """Group path of a stack: each module's attribute path relative to its caller.

    ("encoder", "layers.0", "self_attn") for encoder -> encoder.layers.0 -> ...self_attn, so a
    ModuleList index stays with its list name, as in the DESIGN's ("encoder", "layer.3", ...).
    """
    out: list[str] = []
    parent = ""
    for f in stack:
        rel = f.path[len(parent) + 1:] if parent and f.path.startswith(parent + ".") else f.path
        out.append(rel + (f"@{f.call}" if f.call else ""))
        parent = f.path
    return tuple(out)


def _live_ops(trace: Trace) -> list[TOp]:
    """Ops that contribute to a graph output; buffer updates, asserts and dead code go."""
    producer: dict[str, TOp] = {}
    for op in trace.ops:
        for t in op.outputs:
            producer[t] = op
    keep: set[str] = set()
    todo = [t for t in trace.outputs]
    seen_t: set[str] = set()
    while todo:
        t = todo.pop()
        if t in seen_t:
            continue
        seen_t.add(t)
        op = producer.get(t)
        if op is None or op.name in keep:
            continue
        keep.add(op.name)
        todo.extend(op.inputs)
    return [op for op in trace.ops if op.name in keep]


def _fold_weight_views(ops: list[TOp], outputs: list[str]) -> list[TOp]:
    """Ops that only reshape a weight (``pos[:, :n]``, ``cls_token.expand(b, -1, -1)``) become
    weights of their single consumer, as an ONNX initializer feeding an Add would be."""
    consumers: dict[str, list[TOp]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    graph_outputs = set(outputs)
    dropped: set[str] = set()
    for op in ops:
        if op.inputs or not op.params or len(op.outputs) != 1:
            continue
        t = op.outputs[0]
        users = consumers.get(t, [])
        if t in graph_outputs or len(users) != 1:
            continue
        user = users[0]
        user.inputs = [i for i in user.inputs if i != t]
        user.params = user.params + [p for p in op.params
                                     if all(q.name != p.name for q in user.params)]
        dropped.add(op.name)
    return [op for op in ops if op.name not in dropped]


# Ops whose result is their input's values when it keeps the input's shape and dtype: a full
# slice (export writes ``h[:, -0:]`` as ``aten.alias``), ``.to(device)`` to where the tensor
# already is, ``clone``, ``contiguous``, a view to the same shape. They are plumbing, not
# computation: drawn, each would be a box between two real layers (GPT-2's ``alias`` before
# ``lm_head``). A transpose or permute can keep the shape and still move values: not here.
_NO_OPS = frozenset({
    "alias", "detach", "lift_fresh_copy", "clone", "contiguous", "to", "to_copy", "type_as",
    "view", "reshape", "unsafe_view", "view_as", "reshape_as", "expand", "expand_as",
    "flatten", "unflatten", "squeeze", "slice", "narrow",
})


def _is_no_op(op: TOp, tensors: dict[str, tuple[Shape, str | None]]) -> bool:
    name = op.op.rsplit(".", 1)[-1].strip("_").lower()
    if name not in _NO_OPS or op.params or len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    shape_in, dtype_in = tensors.get(op.inputs[0], (None, None))
    shape_out, dtype_out = tensors.get(op.outputs[0], (None, None))
    return shape_in is not None and dtype_in is not None and \
        (shape_in, dtype_in) == (shape_out, dtype_out)


def _splice_no_ops(ops: list[TOp], trace: Trace) -> tuple[list[TOp], list[str], set[str]]:
    """``ops`` without value-preserving plumbing (``_NO_OPS``), each reader of a spliced op's
    result reading its input instead, so every data edge between real ops is kept; also the
    graph outputs so remapped, and the tensors that went. A module call made only of such ops
    (a user's ``Contiguous`` module) stays: each module call is a box."""
    parents = {f.key for op in ops for f in op.stack[:-1]}
    real_calls = {op.stack[-1].key for op in ops
                  if op.stack and not _is_no_op(op, trace.tensors)}
    graph_inputs = {t for _, t in trace.inputs}
    source: dict[str, str] = {}  # spliced tensor -> the tensor that stands for it
    dropped: set[str] = set()
    outputs = list(trace.outputs)
    for op in ops:
        if not _is_no_op(op, trace.tensors):
            continue
        leaf = op.stack[-1].key if op.stack else None
        if leaf is not None and leaf not in parents and leaf not in real_calls:
            continue
        out, src = op.outputs[0], source.get(op.inputs[0], op.inputs[0])
        if out in outputs and (src in outputs or src in graph_inputs):
            continue  # an output must stay its own tensor, produced by an op
        source[out] = src
        dropped.add(op.name)
    if not dropped:
        return ops, outputs, set()
    kept = []
    for op in ops:
        if op.name in dropped:
            continue
        if any(t in source for t in op.inputs):
            op = _copy_op(op)
            op.inputs = list(dict.fromkeys(source.get(t, t) for t in op.inputs))
        kept.append(op)
    return kept, [source.get(t, t) for t in outputs], set(source)


def _merge_params(ops: list[TOp]) -> list[Param]:
    params: list[Param] = []
    names: set[str] = set()
    for op in ops:
        for p in op.params:
            if p.name not in names:
                names.add(p.name)
                params.append(p)
    return params


def build_graph(trace: Trace, aten: bool = False) -> Graph:
    """The IR for a trace: leaf module calls folded into one node each unless ``aten``."""
    graph = Graph(name=trace.name, meta=dict(trace.meta))
    ops, outputs, spliced = _splice_no_ops(_live_ops(trace), trace)
    for tid, (shape, dtype) in trace.tensors.items():
        if tid not in spliced:
            graph.add_tensor(Tensor(tid, shape, dtype))

    used_names: set[str] = set()
    for name, tid in trace.inputs:
        nid = graph.unique_node_id(name)
        used_names.add(nid)
        graph.add_node(Node(nid, "Input", "io", name=name, outputs=[tid]))
        graph.inputs.append(tid)

    if not aten:
        ops = _fold_weight_views([_copy_op(op) for op in ops], outputs)
    # Frames that call another frame are containers (groups); the rest are leaf calls.
    parents = {f.key for op in ops for f in op.stack[:-1]}
    frames: dict[str, Frame] = {}
    for op in ops:
        for f in op.stack:
            frames.setdefault(f.key, f)

    for op in ops:
        comps = _components(op.stack)
        for i in range(1, len(comps) + 1):
            path = comps[:i]
            if path not in graph.groups:
                f = op.stack[i - 1]
                graph.ensure_group(path)
                grp = graph.groups[path]
                grp.op = f.cls
                grp.attrs = {"module": f.path, "class": f.qualname or f.cls}
                if f.call:
                    grp.attrs["call"] = f.call

    if aten:
        for op in ops:
            _add_op_node(graph, op, _components(op.stack))
    else:
        clusters: dict[str, list[TOp]] = {}
        order: list[tuple[str, Any]] = []
        for op in ops:
            leaf = op.stack[-1] if op.stack else None
            if leaf is not None and leaf.key not in parents:
                if leaf.key not in clusters:
                    clusters[leaf.key] = []
                    order.append(("module", leaf.key))
                clusters[leaf.key].append(op)
            else:
                order.append(("op", op))
        consumed_by: dict[str, set[str]] = {}
        owner: dict[str, str] = {}
        for key, members in clusters.items():
            for m in members:
                owner[m.name] = key
        for op in ops:
            who = owner.get(op.name, op.name)
            for t in op.inputs:
                consumed_by.setdefault(t, set()).add(who)
        graph_outputs = set(outputs)
        for what, item in order:
            if what == "op":
                _add_op_node(graph, item, _components(item.stack))
                continue
            members = clusters[item]
            _add_module_node(graph, frames[item], members, consumed_by, graph_outputs)

    _attach_extra(graph, trace.extra_params)
    # Drop groups no drawn node lives in (a container whose only calls were folded away).
    occupied = {n.group[:i] for n in graph.nodes.values() for i in range(1, len(n.group) + 1)}
    graph.groups = {p: g for p, g in graph.groups.items() if p in occupied}

    _mark_shared(graph)
    names = trace.output_names if len(trace.output_names) == len(outputs) else []
    for i, tid in enumerate(outputs):
        base = "output" if len(outputs) == 1 else f"output_{i}"
        nid = graph.unique_node_id(base)
        label = names[i] if names and names[i] and len(outputs) > 1 else base
        graph.add_node(Node(nid, "Output", "io", name=label, inputs=[tid]))
        graph.outputs.append(tid)
    return canonicalize(graph, "torch")


def _attach_extra(graph: Graph, extra: list[Param]) -> None:
    """Put model state that no op reads on its module's first box (module level) or the first
    op inside the module's group (op level), so a BatchNorm lists all of its buffers."""
    if not extra:
        return
    seen = {p.name for n in graph.nodes.values() for p in n.params}
    owner: dict[str, Node] = {}
    for node in graph.nodes.values():
        path = node.attrs.get("module")
        if isinstance(path, str):
            owner.setdefault(path, node)
    by_group = {g.attrs.get("module"): p for p, g in graph.groups.items()
                if not g.attrs.get("call")}
    unused: list[str] = []
    for p in extra:
        if p.name in seen:
            continue
        module = p.name.rpartition(".")[0]
        node = owner.get(module)
        if node is None and module in by_group:
            prefix = by_group[module]
            node = next((n for n in graph.nodes.values()
                         if n.group[:len(prefix)] == prefix), None)
        if node is None:
            if p.role == "param":
                unused.append(p.name)
            continue
        node.params.append(p)
        seen.add(p.name)
    if unused:
        graph.meta["unused_params"] = unused


def _mark_shared(graph: Graph) -> None:
    """``meta["shared_params"] = {weight: [other boxes]}`` on boxes reading a parameter that
    another box reads too (GPT-2's tied lm_head and wte, a module called twice), as the ONNX
    loader marks them: the numbers repeat on the boxes but count once in every total."""
    users: dict[str, list[Node]] = {}
    for node in graph.nodes.values():
        for p in node.params:
            if p.role == "param":
                users.setdefault(p.name, []).append(node)
    for name, nodes in users.items():
        if len(nodes) < 2:
            continue
        for node in nodes:
            others = [o.name or o.id for o in nodes if o is not node]
            node.meta.setdefault("shared_params", {})[name] = others


def _copy_op(op: TOp) -> TOp:
    """A copy whose lists can be edited without touching the trace."""
    return TOp(op.name, op.op, list(op.inputs), list(op.outputs), list(op.params), op.stack,
               dict(op.attrs))


def _add_op_node(graph: Graph, op: TOp, group: tuple[str, ...]) -> None:
    # No name line: the fx-style name ("add_2") repeats the op and is already the node id.
    node = Node(graph.unique_node_id(op.name), op.op, op_kind(op.op), name="",
                attrs=dict(op.attrs), inputs=list(op.inputs), outputs=list(op.outputs),
                params=list(op.params), group=group)
    graph.add_node(node)


def _add_module_node(graph: Graph, frame: Frame, members: list[TOp],
                     consumed_by: dict[str, set[str]], graph_outputs: set[str]) -> None:
    produced: list[str] = []
    produced_set: set[str] = set()
    for m in members:
        for t in m.outputs:
            if t not in produced_set:
                produced_set.add(t)
                produced.append(t)
    inputs: list[str] = []
    for m in members:
        for t in m.inputs:
            if t not in produced_set and t not in inputs:
                inputs.append(t)
    outputs = [t for t in produced
               if t in graph_outputs or (consumed_by.get(t, set()) - {frame.key})]
    if not outputs:
        outputs = list(members[-1].outputs)
    params = _merge_params(members)
    comps = _components(tuple(_stack_of(members[0], frame)))
    nid = frame.path + (f"@{frame.call}" if frame.call else "")
    node = Node(graph.unique_node_id(nid), frame.cls, module_kind(frame.cls, members),
                name=comps[-1], attrs={"module": frame.path}, inputs=inputs, outputs=outputs,
                params=params, group=comps[:-1])
    main = next((m for m in members if op_kind(m.op) == node.kind), None)
    if main is not None and node.kind in ("conv", "pool"):
        # a Conv2d / MaxPool2d box: its kernel, stride, padding... are its call's
        node.canon = canonical(main.op, node.kind, main.attrs, "torch")
    node.meta["class"] = frame.qualname or frame.cls
    node.meta["ops"] = len(members)
    if frame.call:
        node.meta["call"] = frame.call
    graph.add_node(node)


def _stack_of(op: TOp, frame: Frame) -> list[Frame]:
    out = []
    for f in op.stack:
        out.append(f)
        if f.key == frame.key:
            break
    return out
