"""ONNX loader, second half: make the drawn structure and the counts true to the model.

The converter in :mod:`nnviz.loaders.onnx` turns each ONNX node into an IR node; exporters
leave gaps that this module closes after the whole graph is read:

* **Module calls** (:class:`CallTracker`): torch's dynamo exporter writes each node's module
  path (``pkg.torch.onnx.name_scopes``) but drops the call index, so the two calls of a
  BasicBlock's ``self.relu`` carry the same path. In execution order the ops of one call are
  contiguous, so a module whose ops resume after ops of other modules ran is a new call,
  unless the resumed ops read what the earlier run produced (the optimizer moved a node).
  Later calls are named ``relu@1``, ``relu@2`` like the PyTorch loader names them. Calls
  back to back (``block(block(x))``) are contiguous too: a one-op module's calls differ in
  their fx node, a composite's second call repeats its first call's first op
  (:meth:`_Run.restarts`).
* **Unscoped nodes** (:func:`adopt_unscoped`): nodes an optimizer or exporter created without
  scope (the dynamo exporter's q/k/v ``Split``, TorchScript's ``Unsqueeze_30`` of LSTM state
  plumbing) join the deepest group enclosing all their scoped neighbours.
* **Parameter roles** (:func:`assign_roles`): ONNX has no notion of parameter, buffer or
  constant; the rule is in the README ("Parameter counts").
* **Folded parameters** (:func:`folded_parameters`): the dynamo exporter's optimizer
  constant-folds what a parameter feeds when nothing else does (``cls_token.expand``,
  ``exp(logit_scale)``, the position-embedding lookup for the fixed input length) and
  records the inputs of each folded tensor (``folded_from``); the graph signature names the
  model's parameters. A folded tensor from exactly one parameter is that parameter. When the
  fold kept only a part (a lookup or slice: ``wpe[:16]``), the file no longer holds the
  parameter's size: the part is counted and the parameter is listed in
  ``graph.meta["partial_params"]``.
* **Names** (:func:`module_names`): a node that is the only op of its module is named by the
  module path (``layer1.0.conv1``), not by the exporter (``node_Conv_292``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nnviz.ir import Graph, Node, Param, shape_numel
from nnviz.util import union_find_root

# (op, input index) pairs that read a trained weight: a constant there is a parameter.
# None = every input. Custom-domain (com.microsoft) fused ops included by their op name.
WEIGHT_INPUTS: dict[str, frozenset[int] | None] = {
    "Conv": frozenset({1, 2}), "ConvTranspose": frozenset({1, 2}),
    "Gemm": frozenset({0, 1, 2}), "MatMul": None, "Einsum": None,
    "Gather": frozenset({0}),  # an embedding table
    "LayerNormalization": frozenset({1, 2}), "BatchNormalization": frozenset({1, 2}),
    "InstanceNormalization": frozenset({1, 2}), "GroupNormalization": frozenset({1, 2}),
    "RMSNormalization": frozenset({1}), "SimplifiedLayerNormalization": frozenset({1}),
    "SkipLayerNormalization": frozenset({2, 3, 4}),
    "SkipSimplifiedLayerNormalization": frozenset({2}),
    "LSTM": frozenset({1, 2, 3}), "GRU": frozenset({1, 2, 3}), "RNN": frozenset({1, 2, 3}),
    "PRelu": frozenset({1}),
    "Attention": frozenset({1, 2}), "EmbedLayerNormalization": frozenset({2, 3, 4, 5, 6}),
    # quantized weights (int8/uint8/int4): weights all the same
    "DequantizeLinear": frozenset({0}), "QLinearConv": frozenset({3, 8}),
    "QLinearMatMul": frozenset({0, 3}), "MatMulInteger": frozenset({0, 1}),
    "ConvInteger": frozenset({1}), "MatMulNBits": frozenset({1}),
    "GatherBlockQuantized": frozenset({0}), "DynamicQuantizeMatMul": frozenset({1}),
}
# Inputs that hold statistics, not weights: PyTorch calls BatchNorm's running mean/var buffers.
BUFFER_INPUTS: dict[str, frozenset[int]] = {"BatchNormalization": frozenset({3, 4})}
# Quantization metadata (scales, zero points) are constants of the format, not weights.
CONSTANT_INPUTS: dict[str, frozenset[int]] = {
    "QuantizeLinear": frozenset({1, 2}), "DequantizeLinear": frozenset({1, 2}),
}
# Names exporters give the constants they create (never a module's parameter name):
# dynamo ``val_12``, TorchScript ``onnx::Add_123`` and ``/attn/Constant_output_0``, a
# lifted ``_tensor_constant0``, tf2onnx ``const_fold_opt__12``.
ANONYMOUS = re.compile(r"^(val_\d+|onnx::.*|.*_output_\d+|_?tensor_constant\d*|"
                        r"c?_?lifted_tensor_\d+|const_fold_opt__\d+|const_.*__\d+)$")
# A dynamo constant named after an aten.embedding output: a position-embedding lookup the
# exporter folded for the fixed input length; its rows are the parameter's.
_FOLDED_LOOKUP = re.compile(r"^embedding(_\d+)?$")
# torch.export graph signature lines: ``p_lm_head_weight: PARAMETER target='lm_head.weight'``
_SIGNATURE_LINE = re.compile(r"^\s*(\w+): (PARAMETER|BUFFER|CONSTANT_TENSOR)\b[^\n]*?"
                             r"target='([^']*)'", re.M)
_SIGNATURE_ROLES = {"PARAMETER": "param", "BUFFER": "buffer", "CONSTANT_TENSOR": "constant"}
# aten ops (fx node names, ``embedding_1``) whose result holds only part of their input
_PART_OF = re.compile(r"^(embedding|slice|index|select|narrow|gather|split|split_with_sizes|"
                      r"chunk|unbind|take)(_\d+)?$")
_FX_ARG = re.compile(r"%([pbc])_(\w+)")
_INT_DTYPES = {"uint8", "int8", "uint16", "int16", "int32", "int64", "uint32", "uint64",
               "bool", "uint4", "int4"}


@dataclass
class Read:
    """A node reading a constant (initializer / Constant output) as input ``index``."""

    node: str
    op: str
    index: int
    torch_kind: str | None  # "p" parameter, "b" buffer, "c" constant (dynamo fx metadata)
    dynamo: bool = False  # the reader carries fx metadata (which names every model tensor)


@dataclass(frozen=True)
class Folded:
    """A constant the exporter folded from one model parameter."""

    source: str  # the parameter's name (``transformer.wpe.weight``)
    partial: bool  # a lookup/slice of it: the file holds a part, not the whole


@dataclass
class Signature:
    """torch.export's graph signature, which a dynamo export keeps in its graph metadata."""

    roles: dict[str, str] = field(default_factory=dict)  # model tensor -> param/buffer/constant
    targets: dict[str, str] = field(default_factory=dict)  # fx token -> model tensor name


def parse_signature(text: str) -> Signature:
    """``p_lm_head_weight: PARAMETER target='lm_head.weight'`` lines -> :class:`Signature`
    (fx tokens as :func:`fx_kinds` spells them: ``lm_head_weight``)."""
    sig = Signature()
    for placeholder, kind, target in _SIGNATURE_LINE.findall(text):
        sig.roles[target] = _SIGNATURE_ROLES[kind]
        head, _, token = placeholder.partition("_")
        if head in ("p", "b", "c") and token:
            sig.targets.setdefault(token, target)
    return sig


def folded_parameters(folded_from: dict[str, list[str]],
                      signature: dict[str, str]) -> dict[str, Folded]:
    """Folded tensors (value_info ``folded_from`` lists) that stand for one parameter.

    The list holds the fx nodes and model tensors the folded value was computed from; the
    tensor's own name is the last fx node's (``embedding_1``) or an ONNX value name
    (``val_27``, a transposed weight). Buffers and exporter constants among the inputs (the
    position ids) do not make it less the parameter's."""
    out: dict[str, Folded] = {}
    for tensor, origins in folded_from.items():
        if tensor in signature:
            continue
        params = sorted({o for o in origins if signature.get(o) == "param"})
        if len(params) != 1:
            continue  # a mix of parameters (or none) is a new value, not one weight
        partial = bool(_PART_OF.match(tensor)) or \
            any(_PART_OF.match(o) for o in origins if o not in signature)
        out[tensor] = Folded(params[0], partial)
    return out


# ---- module calls -----------------------------------------------------------------------

@dataclass
class _Run:
    last_seq: int
    call: int = 0
    outs: set[str] = field(default_factory=set)
    fx_op: str | None = None  # the fx node of a one-op module's current call
    # The first op of the current call: (scope below this module, ONNX op, stack frames);
    # how many leading stack frames every op of the call shares so far; whether an op of
    # another child (or another line of this module's forward) ran since.
    first: tuple[tuple[str, ...], str, tuple[str, ...]] | None = None
    shared: int = 0
    left_first: bool = False

    def start(self, tail: tuple[str, ...], op: str, frames: tuple[str, ...] | None) -> None:
        self.first = (tail, op, frames) if frames is not None else None
        self.shared = len(frames) if frames is not None else 0
        self.left_first = False

    def extend(self, tail: tuple[str, ...], frames: tuple[str, ...] | None) -> None:
        if self.first is None or frames is None:
            return
        ftail, _, fframes = self.first
        n = 0
        for a, b in zip(fframes[:self.shared], frames):
            if a != b:
                break
            n += 1
        self.shared = n
        if _child(tail, frames) != _child(ftail, fframes):
            self.left_first = True

    def restarts(self, tail: tuple[str, ...], op: str, frames: tuple[str, ...] | None) -> bool:
        """Whether this op begins a new call of the module, run back to back with the last.

        It does when it repeats the call's first op (same child module path, same op, same
        frames from the module's own forward down) after the call went on to other children:
        the frames every op of one call shares are the module's callers (and, for a
        Sequential, its one forward line), so what follows them is inside the module. A
        forward that loops over its whole body from the same line reads the same and is
        drawn as repeated calls: the exporter records nothing that tells the two apart."""
        if not self.left_first or self.first is None or frames is None:
            return False
        ftail, fop, fframes = self.first
        k = self.shared
        return tail == ftail and op == fop and len(frames) == len(fframes) and \
            frames[k:] == fframes[k:]


def _child(tail: tuple[str, ...], frames: tuple[str, ...]) -> object:
    """Which part of a module's call an op belongs to: its child module, or for an op of
    the module's own forward, its source line."""
    return tail[0] if tail else frames


# torch.nn leaf modules whose call is exactly one aten op in torch.export (checked by export:
# the dynamo exporter's name_scopes end in one fx node per call). Two back-to-back calls of
# one of them (``self.act(self.act(x))``) are told apart by their fx nodes.
ONE_OP_MODULES = frozenset(
    f"torch.nn.modules.{m}" for m in (
        "activation.ReLU", "activation.ReLU6", "activation.Tanh", "activation.Sigmoid",
        "activation.GELU", "activation.SiLU", "activation.ELU", "activation.LeakyReLU",
        "activation.Softplus", "activation.Mish", "activation.Hardswish",
        "activation.Hardsigmoid", "activation.Hardtanh", "activation.SELU", "activation.CELU",
        "activation.LogSigmoid", "activation.Softmax", "activation.LogSoftmax",
        "activation.PReLU", "linear.Linear", "sparse.Embedding", "normalization.LayerNorm",
        "conv.Conv1d", "conv.Conv2d", "conv.Conv3d"))
# nn.Sequential's forward calls each child exactly once: a new call of a child is a new call
# of the Sequential.
SEQUENTIAL = "torch.nn.modules.container.Sequential"


def stack_frames(text: str | None) -> tuple[str, ...] | None:
    """torch.onnx's ``stack_trace`` of a node -> its frames, outermost first."""
    if not text:
        return None
    return tuple(f.strip() for f in text.split("\n  File ") if f.strip())


class CallTracker:
    """Splits the repeated calls of a module into ``name``, ``name@1``, ... (see module doc).

    Fed the scoped nodes in file order (the exporter writes them in execution order).
    """

    def __init__(self) -> None:
        self._seq = 0
        self._runs: dict[tuple[tuple[str, ...], str], _Run] = {}

    def path(self, base: tuple[str, ...], scope: list[str], inputs: Iterable[str],
             outputs: Iterable[str], fx_op: str | None = None, op: str = "",
             frames: tuple[str, ...] | None = None,
             classes: list[str] | None = None) -> list[str]:
        """The call-qualified labels of ``scope`` (relative module names, outermost first).

        ``fx_op``: the fx node this op comes from, when the innermost module is one of
        :data:`ONE_OP_MODULES` (each of its calls is one fx node). ``op``, ``frames`` (its
        :func:`stack_frames`) and ``classes`` (each scope module's class): what tells a
        composite module called back to back (``block(block(x))``) from one long call."""
        self._seq += 1
        seq = self._seq
        restart = self._restart(base, scope, fx_op, op, frames, classes or [])
        parent = base
        labels: list[str] = []
        ins: list[str] | None = None
        outs = list(outputs)
        for depth, rel in enumerate(scope):
            key = (parent, rel)
            run = self._runs.get(key)
            one_op = fx_op if depth == len(scope) - 1 else None
            tail = tuple(scope[depth + 1:])
            if run is None:
                run = self._runs[key] = _Run(seq, fx_op=one_op)
                run.start(tail, op, frames)
            elif depth == restart or (one_op is not None and run.fx_op is not None and
                                      one_op != run.fx_op):
                # the same module again, right after its last call: a new call
                run.call += 1
                run.outs = set()
                run.start(tail, op, frames)
            elif run.last_seq != seq - 1:
                # Other modules' ops ran since this module's last op: a new call, unless this
                # op reads what the earlier run produced (a node the optimizer moved).
                if ins is None:
                    ins = list(inputs)
                if not any(t in run.outs for t in ins):
                    run.call += 1
                    run.outs = set()
                    run.start(tail, op, frames)
                else:
                    run.extend(tail, frames)
            else:
                run.extend(tail, frames)
            if one_op is not None:
                run.fx_op = one_op
            run.last_seq = seq
            run.outs.update(outs)
            label = rel if run.call == 0 else f"{rel}@{run.call}"
            labels.append(label)
            parent = parent + (label,)
        return labels

    def _restart(self, base: tuple[str, ...], scope: list[str], fx_op: str | None, op: str,
                 frames: tuple[str, ...] | None, classes: list[str]) -> int | None:
        """The shallowest scope depth whose module this op calls anew, back to back with its
        last call (None: no such module)."""
        seq = self._seq
        parent = base
        found: int | None = None
        for depth, rel in enumerate(scope):
            run = self._runs.get((parent, rel))
            if run is None or run.last_seq != seq - 1:
                break  # a module met for the first time, or after a gap (the old rule)
            last = depth == len(scope) - 1
            if run.restarts(tuple(scope[depth + 1:]), op, frames) or \
                    (last and fx_op is not None and run.fx_op is not None and
                     fx_op != run.fx_op):
                found = depth
                break
            parent = parent + (rel if run.call == 0 else f"{rel}@{run.call}",)
        while found and found <= len(classes) and classes[found - 1] == SEQUENTIAL:
            found -= 1  # a Sequential calls each child once: it was called again too
        return found


# ---- unscoped nodes ---------------------------------------------------------------------

def adopt_unscoped(g: Graph, unscoped: list[str]) -> None:
    """Put each connected set of unscoped nodes into the deepest group that encloses all the
    scoped nodes it exchanges tensors with (inputs/outputs of the model do not count)."""
    if not unscoped:
        return
    free = set(unscoped)
    prod: dict[str, str] = {}
    for node in g.nodes.values():
        for t in node.outputs:
            prod.setdefault(t, node.id)
    cons: dict[str, list[str]] = {}
    for node in g.nodes.values():
        for t in node.inputs:
            cons.setdefault(t, []).append(node.id)
    parent = {n: n for n in unscoped}

    neighbours: dict[str, list[str]] = {n: [] for n in unscoped}
    for nid in unscoped:
        node = g.nodes[nid]
        near = [prod[t] for t in node.inputs if t in prod]
        for t in node.outputs:
            near.extend(cons.get(t, ()))
        for other in near:
            if other in free:
                a, b = union_find_root(parent, nid), union_find_root(parent, other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                neighbours[nid].append(other)
    groups: dict[str, tuple[str, ...] | None] = {}
    seen: dict[str, bool] = {}
    for nid in unscoped:
        root = union_find_root(parent, nid)
        for other in neighbours[nid]:
            on = g.nodes[other]
            if on.kind == "io":
                continue
            seen[root] = True
            cur = groups.get(root)
            groups[root] = on.group if cur is None else _common(cur, on.group)
    for nid in unscoped:
        root = union_find_root(parent, nid)
        if seen.get(root):
            g.nodes[nid].group = groups[root] or ()


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return a[:n]


# ---- parameter roles --------------------------------------------------------------------

def fx_kinds(fx_node: str) -> dict[str, str]:
    """``%p_lm_head_weight`` in a dynamo node's fx metadata -> {"lm_head_weight": "p"}."""
    out: dict[str, str] = {}
    head, _, args = fx_node.partition("args = ")
    for kind, name in _FX_ARG.findall(args or head):
        out.setdefault(name, kind)
    return out


def is_weight_input(op: str, index: int) -> bool:
    idx = WEIGHT_INPUTS.get(op, frozenset())
    return idx is None or index in idx


def role_of(name: str, shape: object, dtype: str | None, reads: list[Read],
            state_names: bool = False) -> str:
    """"param", "buffer" or "constant" for one constant tensor, by the README's rule.

    ``state_names``: the file names initializers after the model's state (PyTorch's
    exporters: ``logit_scale``, ``encoder.layer.0.weight``) and its own constants
    anonymously, so a named float scalar is a model parameter, not an operator argument."""
    torch_kinds = [r.torch_kind for r in reads if r.torch_kind]
    if torch_kinds:
        if "p" in torch_kinds:
            return "param"
        if "b" in torch_kinds:
            return "buffer"
        if "c" in torch_kinds:
            return "constant"
    n = shape_numel(shape)  # type: ignore[arg-type]
    if n is not None and n <= 1 and not (state_names and not ANONYMOUS.match(name) and
                                         dtype not in _INT_DTYPES and dtype != "string"):
        return "constant"  # a scalar is an operator argument, never a weight
    weight = buffer = False
    for r in reads:
        if r.index in CONSTANT_INPUTS.get(r.op, ()):
            continue
        if r.index in BUFFER_INPUTS.get(r.op, ()):
            buffer = True
            continue
        idx = WEIGHT_INPUTS.get(r.op, frozenset())
        if idx is None or r.index in idx:
            if r.op == "Gather" and dtype in _INT_DTYPES:
                continue  # an integer lookup table (shapes, indices), not an embedding
            weight = True
    if weight:
        return "param"
    if buffer:
        return "buffer"
    if dtype in _INT_DTYPES or dtype == "string":
        return "constant"  # masks, indices, shapes
    if reads and all(r.dynamo for r in reads) and not _FOLDED_LOOKUP.match(name):
        # The dynamo exporter names every parameter and buffer a node reads (rule 1): an
        # unnamed one is a value it computed ahead of time (RoPE cos/sin, a mask).
        return "constant"
    if ANONYMOUS.match(name):
        return "constant"  # an exporter-made mask, table or state read by elementwise ops
    return "param"  # a named tensor (a bias, a position embedding) added or multiplied in


def tie_transposed_copies(g: Graph, reads: dict[str, list[Read]],
                          transposed: Callable[[str, str, int, int], bool | None] | None = None,
                          ) -> None:
    """A tied embedding / LM head from an exporter without metadata (TorchScript constant
    folding stores the head's weight as a transposed copy, ``onnx::MatMul_205``): an
    exporter-named 2-D constant read as a MatMul/Gemm weight whose shape is the reverse of a
    named embedding table's is that table, when no other constant has either shape (so an
    MLP's (d, 4d) / (4d, d) pair is never taken for a tie), and when its values are the
    table's transposed. An untied head has the same shapes (a ``Linear(d, vocab)`` after an
    ``Embedding(vocab, d)``): ``transposed(table, copy, rows, cols)`` compares a few values
    and decides; only where the values cannot be read (external data) do shapes alone."""
    first: dict[str, Param] = {}
    for node in g.nodes.values():
        for p in node.params:
            first.setdefault(p.name, p)
    by_shape: dict[tuple, list[str]] = {}
    matrices: list[tuple[str, Param]] = []  # the 2-D weights, in node order
    for name, p in first.items():
        if p.shape is not None and len(p.shape) == 2:
            by_shape.setdefault(tuple(p.shape), []).append(name)
            matrices.append((name, p))
    alias: dict[str, Param] = {}
    for name, p in matrices:
        if not any(r.op == "Gather" and r.index == 0 for r in reads.get(name, ())) or \
                ANONYMOUS.match(name):
            continue
        flipped = (p.shape[1], p.shape[0])
        copies = by_shape.get(flipped, [])
        if flipped == tuple(p.shape) or len(by_shape.get(tuple(p.shape), [])) != 1 or \
                len(copies) != 1 or not ANONYMOUS.match(copies[0]):
            continue
        if not all(r.op in ("MatMul", "Gemm") and r.index == 1
                   for r in reads.get(copies[0], ())):
            continue
        rows, cols = p.shape
        if transposed is not None and isinstance(rows, int) and isinstance(cols, int) and \
                transposed(name, copies[0], rows, cols) is False:
            continue  # an untied head of the same size
        alias[copies[0]] = p
    if not alias:
        return
    for node in g.nodes.values():
        node.params = [Param(alias[p.name].name, alias[p.name].shape, alias[p.name].dtype)
                       if p.name in alias else p for p in node.params]
    for copy, p in alias.items():
        reads.setdefault(p.name, []).extend(reads.pop(copy, []))


def assign_roles(g: Graph, reads: dict[str, list[Read]],
                 declared: dict[str, str] | None = None) -> dict[str, list[Node]]:
    """Set every Param's role; ``declared`` roles (folded parameters the export's signature
    names) win over the rule. Returns the readers of each parameter that is not
    exporter-named, in node order, for :func:`mark_shared` (the same walk over every
    weight, done once)."""
    declared = declared or {}
    # Both PyTorch exporters (TorchScript and dynamo) name a file's initializers after the
    # model's state_dict and their own constants anonymously.
    state_names = str(g.meta.get("producer") or "").startswith("pytorch")
    roles: dict[str, str] = {}  # decided at a weight's first reader, in node order
    users: dict[str, list[Node]] = {}
    # role_of reads of a name only whether the two patterns match it: weights alike in
    # those, shape, dtype and readers (a 50k-node export's 1,666 blocks' q/k/v weights) get
    # one answer, computed once
    by_key: dict[tuple, str] = {}
    for node in g.nodes.values():
        for p in node.params:
            name = p.name
            role = roles.get(name)
            if role is None:
                anonymous = ANONYMOUS.match(name) is not None
                role = declared.get(name)
                if not role:
                    rs = reads.get(name, [])
                    key = (p.shape, p.dtype, anonymous, _FOLDED_LOOKUP.match(name) is not None,
                           tuple([(r.op, r.index, r.torch_kind, r.dynamo) for r in rs]))
                    try:
                        role = by_key.get(key)
                    except TypeError:  # an unhashable shape (a list): no sharing
                        key = None
                    if role is None:
                        role = role_of(name, p.shape, p.dtype, rs, state_names)
                        if key is not None:
                            by_key[key] = role
                roles[name] = role
                if role == "param" and not anonymous:
                    users[name] = []
            p.role = role
            # ONNX has no trainable flag: every weight counts as trainable.
            p.trainable = role == "param"
            readers = users.get(name)
            if readers is not None:
                readers.append(node)
    return users


def mark_shared(g: Graph, users: dict[str, list[Node]] | None = None) -> None:
    """``meta["shared_params"] = {weight: [other boxes' names]}`` on every node reading a
    parameter that another node reads too (a tied embedding / LM head). Exporter-named
    tensors are left out: an exporter merges equal-valued tensors (the zero biases of a
    fresh model), which is not sharing in the model. ``users``: what
    :func:`assign_roles` returned, when the roles have not changed since."""
    if users is not None:
        _write_shared(users)
        return
    users = {}
    anonymous: dict[str, bool] = {}  # name -> exporter-made (one regex match per weight)
    for node in g.nodes.values():
        for p in node.params:
            if p.role != "param":
                continue
            name = p.name
            anon = anonymous.get(name)
            if anon is None:
                anon = anonymous[name] = ANONYMOUS.match(name) is not None
            if not anon:
                users.setdefault(name, []).append(node)
    _write_shared(users)


def _write_shared(users: dict[str, list[Node]]) -> None:
    for name, nodes in users.items():
        if len(nodes) < 2:
            continue
        for node in nodes:
            others = [o.name or o.id for o in nodes if o is not node]
            node.meta.setdefault("shared_params", {})[name] = others


# ---- names ------------------------------------------------------------------------------

# Ops that return their input's values when they keep its shape and dtype (a dynamo export's
# ``view`` of a tensor to its own shape before GPT-2's embedding and lm_head): as on the
# PyTorch routes, they are plumbing, not boxes.
NO_OPS = frozenset({"Identity", "Reshape", "Cast", "CastLike", "Squeeze", "Unsqueeze",
                    "Flatten", "Expand"})


def splice_no_ops(g: Graph, module_path: dict[str, str]) -> None:
    """Remove :data:`NO_OPS` nodes that keep their one data input's shape and dtype (other
    inputs constants), each reader reading that input instead, so every edge between real
    ops stays. A node that is all its group holds stays: a module call is a box."""
    tensors = g.tensors
    # The tests below that do not depend on which nodes went before, first: most graphs
    # (a 50k-node export's Reshapes all change the shape) have no candidate at all. A
    # spliced node's output has its source's shape and dtype, so comparing a node's own
    # input tensor is comparing its source's.
    candidates = []
    for nid, node in g.nodes.items():
        if node.op not in NO_OPS or len(node.inputs) != 1 or len(node.outputs) != 1:
            continue
        a, b = tensors.get(node.inputs[0]), tensors.get(node.outputs[0])
        if a is None or b is None or a.shape is None or a.dtype is None or \
                (a.shape, a.dtype) != (b.shape, b.dtype):
            continue
        if any(p.role != "constant" for p in node.params) or node.meta.get("subgraphs"):
            continue
        candidates.append((nid, node))
    if not candidates:
        return
    count: dict[tuple[str, ...], int] = {}
    for node in g.nodes.values():
        if node.kind != "io":
            for i in range(len(node.group) + 1):
                count[node.group[:i]] = count.get(node.group[:i], 0) + 1
    # A control-flow body's outputs are its interface to the loop or branch: left as they are.
    bodies = {tuple(p) for node in g.nodes.values() for p in node.meta.get("subgraphs", ())}
    source: dict[str, str] = {}
    inputs = set(g.inputs)
    for nid, node in candidates:
        if bodies and any(node.group[:i] in bodies for i in range(1, len(node.group) + 1)):
            continue
        src, out = source.get(node.inputs[0], node.inputs[0]), node.outputs[0]
        a, b = g.tensors.get(src), g.tensors.get(out)
        if a is None or b is None or a.shape is None or a.dtype is None or \
                (a.shape, a.dtype) != (b.shape, b.dtype):
            continue
        if node.group and count.get(node.group, 0) <= 1:
            continue  # the only op of its module call
        if out in g.outputs and (src in g.outputs or src in inputs):
            continue  # an output stays its own tensor, made by an op
        source[out] = src
        for i in range(len(node.group) + 1):
            count[node.group[:i]] -= 1
        del g.nodes[nid]
        module_path.pop(nid, None)
    if not source:
        return
    for node in g.nodes.values():
        if any(t in source for t in node.inputs):
            node.inputs = list(dict.fromkeys(source.get(t, t) for t in node.inputs))
    g.outputs = [source.get(t, t) for t in g.outputs]
    for t in source:
        g.tensors.pop(t, None)


def module_names(g: Graph, module_path: dict[str, str]) -> None:
    """Name the only op of a module after the module (``layer1.0.conv1``); the other ops
    of a module-scoped export lose the exporter's name (``node_view_157``), which says no more
    than the op and its frame, as the PyTorch loader leaves functional ops unnamed. The
    exporter's name stays in ``meta["onnx_name"]`` (details panel, search)."""
    if not module_path:
        return
    count: dict[tuple[str, ...], int] = {}
    for node in g.nodes.values():
        if node.kind != "io":
            count[node.group] = count.get(node.group, 0) + 1
    inner: set[tuple[str, ...]] = set()  # groups holding other groups: not a leaf module
    for group in count:
        for i in range(len(group)):
            inner.add(group[:i])
    for nid, path in module_path.items():
        node = g.nodes[nid]
        node.meta.setdefault("onnx_name", node.name)
        if not (count.get(node.group) == 1 and node.group not in inner and path):
            node.name = ""
        else:
            first = node.params[0].name if node.params else ""
            if node.meta.get("fused") and first.endswith(".weight"):
                # The exporter folded BatchNorm ``bn1`` into Conv ``conv1`` and kept only
                # the BatchNorm's scope: name both (``layer1.0.conv1+bn1``).
                path = f"{first[:-len('.weight')]}+{path.rsplit('.', 1)[-1]}"
            node.name = path
