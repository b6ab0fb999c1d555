"""What a paper figure draws, and for every layer of the view, where it is drawn.

The paper styles draw one path of boxes (or neuron columns) through the network. They must
never drop a layer silently (issue 17's honesty rule), so this module maps *every* node of
the view onto something drawn:

- a **unit**: a layer that changes the representation (conv, pool, dense, attention, a
  collapsed group, ...) is a box; activations, norms, dropout and plumbing between it and the
  next unit ride along with it and are named in its label ("+ BN + ReLU");
- a **skip**: an edge that jumps over units (a residual connection, a UNet concatenation) is
  an arc over the boxes; a short side branch (a ResNet projection shortcut) rides on its arc,
  named in the arc's label;
- a **side input** (a constant table, a second embedding added in) is named in the label of
  the unit it joins.

Anything else (a second output, an auxiliary head, a parallel branch too big for an arc
label) cannot be drawn as one path: the style refuses in one sentence that says what to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node
from nnviz.layout.labels import GENERIC, added_modules, box_title, short_op

# Kinds that never get a box of their own: they ride along with the box before them.
RIDER_KINDS = frozenset(("activation", "norm", "reshape", "elementwise", "constant"))
# Riders named in a unit's label (plumbing like Flatten or an Add is shown by the shapes and
# arcs instead).
NAMED_RIDERS = frozenset(("activation", "norm"))
MAX_ARC_LAYERS = 3  # a side branch with more layers than this is not an arc label any more
def is_unit(node: Node) -> bool:
    """A layer drawn as its own box (or neuron column)."""
    if node.kind == "io":
        return node.op == "Input"
    return node.kind not in RIDER_KINDS


# What colours a collapsed group in the paper styles: the first of these kinds it holds (a
# transformer block is attention, an inverted residual conv, a GPT MLP linear).
GROUP_KIND_ORDER = ("attention", "recurrent", "conv", "embedding", "linear", "pool", "reduce",
                    "norm", "activation", "elementwise", "reshape")


def paper_kind(node: Node) -> str:
    """The kind a paper figure colours this box by: its own, or for a collapsed group the
    main kind of what it holds ("other" when the view does not say)."""
    if node.kind != "group":
        return node.kind
    inner = node.meta.get("inner_kinds")
    if isinstance(inner, dict):
        for kind in GROUP_KIND_ORDER:
            if inner.get(kind):
                return kind
    return "other"


@dataclass
class Unit:
    node: Node  # the layer whose output the box shows
    members: list[str] = field(default_factory=list)  # every view node it represents
    fused: list[str] = field(default_factory=list)  # rider op names for the label
    pre: list[str] = field(default_factory=list)  # riders applied before it ("pre: LN")
    side: list[str] = field(default_factory=list)  # side inputs joining here, for the label
    repeat: int = 0  # ×N of a folded group this unit is the only box of
    title: str = ""  # what the box is called (layer_title)
    named_by_parent: bool = False  # the title is its parent scope's class


@dataclass
class Skip:
    src: int  # unit index the arc leaves
    dst: int  # unit index the arc lands on
    members: list[str] = field(default_factory=list)  # side-branch layers drawn on the arc
    label: str = ""
    # the view's edges the arc stands for (producer id, consumer id): a direct skip's one
    # edge, or a side branch's edges in from the box it leaves and out to the box it lands on
    edges: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Fold:
    first: int  # unit indices spanned by a folded group of several boxes
    last: int
    label: str  # "×24  h.0 … h.23"


@dataclass
class PaperPath:
    units: list[Unit]
    skips: list[Skip]
    folds: list[Fold] = field(default_factory=list)


CONCAT_OPS = frozenset(("concat", "concatenate", "cat"))


def is_concat_join(graph: Graph, nid: str, pred: dict[str, list[str]]) -> bool:
    """A concatenation of two or more computed tensors (torch.cat, ONNX Concat, Keras
    Concatenate): where a UNet's skip joins the decoder."""
    node = graph.nodes[nid]
    op = node.op.removeprefix("aten.").removeprefix("torch.").split(".")[0].lower()
    return op in CONCAT_OPS and sum(
        1 for p in pred[nid] if graph.nodes[p].kind != "constant") >= 2


def _unit_path(node: Node) -> tuple[str, ...]:
    path = node.meta.get("group") if node.kind == "group" else None
    return tuple(path) if isinstance(path, list) else tuple(node.group)


def find_folds(graph: Graph, units: list[Unit]) -> list[Fold]:
    """Folded groups (×N) the units fall in: a single box carries the ×N in its title, a run
    of boxes gets a bracket."""
    folds = []
    for path, grp in graph.groups.items():
        repeat = grp.attrs.get("repeat")
        if not repeat:
            continue
        inside = [i for i, u in enumerate(units) if _unit_path(u.node)[:len(path)] == path]
        if not inside:
            continue
        if len(inside) == 1:
            units[inside[0]].repeat = int(repeat)
            continue
        label = f"\u00d7{repeat}"
        if grp.attrs.get("fold_label"):
            label += f"  {grp.attrs['fold_label']}"
        folds.append(Fold(inside[0], inside[-1], label))
    folds.sort(key=lambda f: (f.first, f.last))
    return folds


def main_path(graph: Graph, counts) -> list[str]:
    """Node ids of the data path through the most counted layers, input to output.

    Ties go to the earlier node in topological order, so the choice is deterministic.
    """
    order = graph.topological_order()
    if not order:
        return []
    index = {nid: i for i, nid in enumerate(order)}
    pred = graph.predecessors()
    score: dict[str, int] = {}
    back: dict[str, str | None] = {}
    for nid in order:
        best, best_p = 0, None
        for p in pred[nid]:
            if p in score and score[p] > best:
                best, best_p = score[p], p
        score[nid] = best + (1 if counts(graph.nodes[nid]) else 0)
        back[nid] = best_p
    outputs = [n for n in order if graph.nodes[n].op == "Output"] or order
    end = max(outputs, key=lambda n: (score[n], -index[n]))
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = back[cur]
    return path[::-1]


def layer_title(graph: Graph, node: Node, alone: bool = False) -> str:
    """What a box is called: the op ("Conv2d", "adaptive_avg_pool2d" for aten/torch calls);
    a collapsed bare container ("Sequential") is named as labels.group_title says (its
    parent's class when it is the parent's only box, "BasicBlock ×2", "mlp",
    "Conv2d-BN-ReLU6")."""
    if node.kind == "io":
        return "Input"
    if node.kind == "group":
        return box_title(graph, node, alone)
    op = node.op
    for prefix in ("aten.", "torch.", "F."):
        if op.startswith(prefix):
            op = op[len(prefix):].split(".")[0]
    return op


def _label_of(graph: Graph, ids: list[str]) -> str:
    """"Conv2d + BN" for a side branch: its layers' ops, riders shortened; a collapsed
    container is named by its name ("downsample")."""
    names = []
    for nid in ids:
        node = graph.nodes[nid]
        if node.kind in ("constant", "reshape") or node.op == "Output":
            continue
        name = short_op(node.op) if not is_unit(node) else layer_title(graph, node)
        if node.kind == "group" and name in GENERIC:
            path = node.meta.get("group")
            name = path[-1] if isinstance(path, list) and path else (node.name or name)
        if name not in names:
            names.append(name)
    return " + ".join(names)


def paper_path(graph: Graph, style: str) -> PaperPath:
    """Units and skips covering every node of ``graph``; NnvizError when that cannot be done."""
    name = graph.name or "the model"
    path = main_path(graph, is_unit)
    on_path = set(path)
    if not any(is_unit(graph.nodes[nid]) for nid in path):
        raise NnvizError(f"the {style} style found no layers to draw in '{name}'; "
                         "use --style graph")
    succ, pred = graph.successors(), graph.predecessors()
    units: list[Unit] = []
    pos: dict[str, int] = {}
    # Riders between two boxes go with the box before them ("Conv + BN + ReLU"), except the
    # ones after the last fork of the segment: in a pre-norm block the LayerNorm after the
    # residual fork belongs to the attention it feeds ("pre: LN"), not to the box before;
    # and the ones from a concatenation that joins a skip on: a UNet's torch.cat assembles
    # the decoder conv's input, so the skip lands on that conv, not on the up-sampling
    # before it (a residual Add, which changes the box's own output, stays with that box).
    pending: list[str] = []

    def flush(pre_of: Unit | None) -> None:
        fork = max((i for i, nid in enumerate(pending) if len(succ[nid]) > 1), default=-1)
        if fork < 0 and (not units or len(succ[units[-1].node.id]) <= 1):
            fork = len(pending)  # no fork at all: everything rides with the box before
        join = min((i for i, nid in enumerate(pending) if is_concat_join(graph, nid, pred)),
                   default=len(pending))
        for i, nid in enumerate(pending):
            node = graph.nodes[nid]
            owner = units[-1] if (pre_of is None or (i <= fork and i < join)) else pre_of
            owner.members.append(nid)
            pos[nid] = len(units) if owner is pre_of else len(units) - 1
            if node.kind in NAMED_RIDERS or node.op.lower().endswith("dropout"):
                op = short_op(node.op)
                names = owner.pre if owner is pre_of and pre_of is not None else owner.fused
                if op not in names:
                    names.append(op)
            # a rider holding another module's weights (GPT's position embedding looked up
            # from a constant table, folded into the add that joins it) names that module
            for mod in added_modules(node):
                if mod not in owner.side:
                    owner.side.append(mod)
        pending.clear()

    lead: list[str] = []  # riders before the first box
    for nid in path:
        node = graph.nodes[nid]
        if is_unit(node):
            unit = Unit(node, [nid])
            if units:
                flush(unit)
            units.append(unit)
            pos[nid] = len(units) - 1
        elif units:
            pending.append(nid)
        else:
            lead.append(nid)
    flush(None)
    for nid in lead:
        units[0].members.append(nid)
        pos[nid] = 0

    skips: dict[tuple[int, int], Skip] = {}

    def add_skip(a: int, b: int, members: list[str], edges: list[tuple[str, str]]) -> None:
        sk = skips.setdefault((a, b), Skip(a, b))
        sk.members.extend(members)
        sk.edges.extend(e for e in edges if e not in sk.edges)

    # Edges between path nodes that jump over boxes: residual adds, UNet concatenations.
    nxt = {a: b for a, b in zip(path, path[1:])}
    for u in path:
        for v in succ[u]:
            if v in on_path and nxt.get(u) != v and pos[v] > pos[u]:
                add_skip(pos[u], pos[v], [], [(u, v)])

    # Everything off the path, in connected pieces.
    off = [nid for nid in graph.topological_order() if nid not in on_path]
    seen: set[str] = set()
    for start in off:
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            cur = stack.pop()
            comp.append(cur)
            for nb in (*succ[cur], *pred[cur]):
                if nb not in on_path and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        comp_set = set(comp)
        comp.sort(key=list(graph.nodes).index)
        entries = {pos[p] for c in comp for p in pred[c] if p in on_path}
        exits = {pos[s] for c in comp for s in succ[c] if s in on_path}
        layers = [c for c in comp if is_unit(graph.nodes[c])]
        what = ", ".join(graph.nodes[c].name or c for c in (layers or comp)[:2])
        if not exits:
            outs = [c for c in comp if graph.nodes[c].op == "Output"]
            if outs:
                raise NnvizError(
                    f"the {style} style draws one path, but '{name}' has "
                    f"{len(graph.outputs)} outputs ({what} ...); use --style graph")
            raise NnvizError(
                f"the {style} style draws one path, but '{name}' has a side branch that does "
                f"not rejoin it ({what}); use --style graph")
        if not entries:
            # A side input (a constant table, a second embedding): named where it joins.
            target = units[min(exits)]
            target.members.extend(comp)
            label = _label_of(graph, comp)
            if label and label not in target.side:
                target.side.append(label)
            continue
        a, b = min(entries), max(exits)
        if len(layers) > MAX_ARC_LAYERS:
            raise NnvizError(
                f"the {style} style draws one path, but '{name}' has a parallel branch of "
                f"{len(layers)} layers ({what} ...); use --style graph or a smaller --depth")
        if a >= b:  # a branch inside one box's riders (e.g. a gate): that box represents it
            units[a].members.extend(comp)
            continue
        ends = [(p, c) for c in comp for p in pred[c] if p in on_path and pos[p] == a] + \
            [(c, t) for c in comp for t in succ[c] if t in on_path and pos[t] == b]
        add_skip(a, b, comp, ends)
        del comp_set
    out = []
    for key in sorted(skips):
        sk = skips[key]
        sk.label = _label_of(graph, sk.members)
        out.append(sk)
    def parent(node: Node) -> tuple[str, ...]:  # the scope a box sits in
        return _unit_path(node)[:-1] if node.kind == "group" else tuple(node.group)

    parents: dict[tuple[str, ...], int] = {}
    for u in units:
        parents[parent(u.node)] = parents.get(parent(u.node), 0) + 1
    for u in units:
        p = parent(u.node)
        u.title = layer_title(graph, u.node, alone=bool(p) and parents[p] == 1)
        # titled by its parent's class (MobileNetV2's features.3.conv is "InvertedResidual"):
        # the name is the parent's too ("features/3", not "features/3/conv")
        path = u.node.meta.get("group")
        up = graph.groups.get(tuple(path[:-1])) if isinstance(path, list) and \
            len(path) > 1 else None
        u.named_by_parent = u.node.kind == "group" and u.node.op in GENERIC and \
            up is not None and up.op == u.title
    return PaperPath(units, out, find_folds(graph, units))


def drawn_members(extras: dict) -> set[str]:
    """Every view node id a paper layout says it draws (boxes, columns, arcs)."""
    ids: set[str] = set()
    for key in ("blocks", "columns", "skips"):
        for item in extras.get(key, []):
            ids.update(item.get("members", []))
    return ids


def display_name(node: Node) -> str:
    """The name line of a layer label ('' when it would only repeat the op).

    A bare index ("0", the name of an nn.Sequential child) says nothing on its own, so it gets
    its parent scope: "features.0". Exporter paths like "/fc1/Gemm" lose the trailing op
    segment the title already shows.
    """
    name = node.name or ""
    if "/" in name:
        parts = [p for p in name.split("/") if p]
        if len(parts) > 1 and parts[-1] == node.op:
            parts = parts[:-1]
        name = "/".join(parts)
    if name == node.op or (node.kind == "io" and name.lower() == node.op.lower()):
        return ""  # ... and an input called "input" says nothing new
    if name.isdigit():  # an nn.Sequential index: only its parent scope makes it a name
        return f"{node.group[-1]}.{name}" if node.group else ""
    return name


def display_names(nodes: list[Node]) -> list[str]:
    """Name lines for the drawn layers; names that repeat (two blocks' "conv1") get their
    parent scope, so every label says which layer it is."""
    names = [display_name(n) for n in nodes]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    out = []
    for node, name in zip(nodes, names):
        if name and seen[name] > 1 and node.group and "/" not in name:
            scope = node.group[-1]
            if scope.isdigit() and len(node.group) > 1:  # blocks/0 reads as blocks.0
                scope = f"{node.group[-2]}.{scope}"
            name = f"{scope}/{name}"
        out.append(name)
    return out
