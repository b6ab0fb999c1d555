"""The automatic view: which groups a drawing opens when the user gave no ``--depth``.

The rule, in the order it is applied (README "Big models: depth, folding, noise"):

1. A graph of at most ``max_boxes`` (48) operators is drawn whole (unless it was folded: a
   fold is only made of a bigger graph, and its box is examined like the others below).
2. Otherwise three kinds of groups start closed, each drawn as one box:
   - folded repeats ("Block ×12");
   - *plumbing*: in each scope, the operators that compute attention masks, position ids and
     index tables from the inputs and constants alone (nothing they read comes from a
     learnable layer or from a float input) are gathered into one ``plumbing`` group, when
     there are at least ``PLUMBING_MIN`` of them;
   - leaf groups (no sub-groups) whose inside has no architectural skip (see 4): a
     normalisation spelled as seven ops is one ``RMSNorm`` box, as the module it is.
3. The remaining groups open level by level, to the deepest uniform level that keeps the
   drawing at ``max_boxes`` boxes or fewer.
4. Then every closed box whose inside (at any depth) has an *architectural skip* — a
   tensor that reaches a merge both through a learnable layer and around it (a residual or
   skip connection) — is opened one level, in drawing order, as long as the drawing stays
   within ``page_boxes`` (1.5 x ``max_boxes``); what it reveals is examined the same way.
   So ResNet's blocks show their shortcut, a transformer block (folded or not) its two
   residual adds and the mask entering its attention, whenever that still fits a page.

``--depth``, ``--expand`` and ``--collapse`` override all of this (depth is uniform, like
torchinfo's and torchview's: depth 1 draws the model's direct children as boxes).
"""

from __future__ import annotations

from nnviz.ir import Graph, Group, Node
from nnviz.passes.util import opname, topological_order
from nnviz.util import union_find_root

Path = tuple[str, ...]

PLUMBING = "plumbing"
PLUMBING_MIN = 4  # fewer side ops are drawn as they are
PAGE_FACTOR = 1.5

# Ops whose output describes a tensor's shape, not its values: a mask built from the shape of
# the hidden states is still plumbing.
_SHAPE_READS = {"shape", "size", "symsize", "symnumel", "numel", "dim"}
_FLOAT = ("float", "bfloat", "double", "half", "complex")


def choose_closed(g: Graph, max_boxes: int, page_boxes: int | None = None,
                  order: list[str] | None = None) -> set[Path] | None:
    """The groups to draw as boxes (outermost closed groups), or None to draw everything.

    ``g`` may be changed in place: plumbing groups are added to it (the caller owns it).
    ``order``: ``topological_order(g)`` when the caller has it already.
    """
    folded = any(grp.attrs.get("repeat") for grp in g.groups.values())
    if len(g.nodes) <= max_boxes and not folded:
        return None
    page = page_boxes if page_boxes is not None else int(max_boxes * PAGE_FACTOR)
    if order is None:  # once: plumbing and the box counter both walk it
        order = topological_order(g)
    group_plumbing(g, order)
    paths = _all_paths(g)
    children: dict[Path, list[Path]] = {}
    for p in sorted(paths, key=lambda p: (len(p), p)):
        children.setdefault(p[:-1], []).append(p)
    members = _members(g)
    closed0: set[Path] = set()
    for p in paths:
        grp = g.groups.get(p)
        if grp is not None and (grp.attrs.get("repeat") or grp.attrs.get("plumbing")):
            closed0.add(p)
        elif p not in children and len(members[p]) > 1 and not has_skip(g, p, members[p]):
            closed0.add(p)
    deepest = max((len(p) for p in paths), default=0)
    counter = _BoxCounter(g, order)

    def uniform(level: int) -> set[Path]:
        return {p for p in paths if len(p) > level or p in closed0}

    level = deepest
    closed = uniform(level)
    while level > 0 and counter.count(closed) > max_boxes:
        level -= 1
        closed = uniform(level)
    # Step 4: open boxes that hide a skip connection, one level at a time, within a page.
    hides: dict[Path, bool] = {}

    def hides_skip(p: Path) -> bool:
        """A skip at p's own level or anywhere inside it (DenseNet's concat sits two levels
        down, in each dense layer of a dense block)."""
        if p not in hides:
            hides[p] = has_skip(g, p, members[p]) or any(
                hides_skip(c) for c in children.get(p, ()))
        return hides[p]

    queue = sorted(_outermost(closed), key=counter.first)
    while queue:
        p = queue.pop(0)
        if p not in closed or not hides_skip(p):
            continue
        trial = (closed - {p}) | set(children.get(p, ()))
        if counter.count(trial) > page:
            continue
        closed = trial
        queue.extend(sorted(children.get(p, ()), key=counter.first))
    return _outermost(closed)


def _all_paths(g: Graph) -> set[Path]:
    out: set[Path] = set()
    for group in {n.group for n in g.nodes.values()}:
        for i in range(1, len(group) + 1):
            out.add(group[:i])
    return out


def _members(g: Graph) -> dict[Path, list[str]]:
    out: dict[Path, list[str]] = {}
    for n in g.nodes.values():
        for i in range(1, len(n.group) + 1):
            out.setdefault(n.group[:i], []).append(n.id)
    return out


def _outermost(closed: set[Path]) -> set[Path]:
    return {p for p in closed if not any(p[:i] in closed for i in range(1, len(p)))}


class _BoxCounter:
    """How many boxes a set of closed groups leaves, per distinct group path."""

    def __init__(self, g: Graph, order: list[str]):
        self.groups: dict[Path, int] = {}
        self.pos: dict[Path, int] = {}
        first: dict[Path, int] = {}
        for i, nid in enumerate(order):
            group = g.nodes[nid].group
            if group in self.groups:
                self.groups[group] += 1
            else:  # prefixes once per distinct path, not once per node
                self.groups[group] = 1
                first[group] = i
        for group, i in first.items():
            for k in range(1, len(group) + 1):
                if self.pos.get(group[:k], i + 1) > i:
                    self.pos[group[:k]] = i

    def count(self, closed: set[Path]) -> int:
        boxes: set[Path] = set()
        total = 0
        for group, n in self.groups.items():
            top = next((group[:i] for i in range(1, len(group) + 1) if group[:i] in closed),
                       None)
            if top is None:
                total += n
            else:
                boxes.add(top)
        return total + len(boxes)

    def first(self, path: Path) -> tuple[int, Path]:
        return self.pos.get(path, 0), path


# ---- architectural skips -----------------------------------------------------------------

# Merges that join a skip to the main path: sums (residuals, shortcuts) and concatenations
# (DenseNet, U-Net). Products are not: attention's q·k and a gated MLP's gate·up are two
# branches of one computation, not a path around it.
_MERGES = {"add", "sum", "addv2", "concat", "concatenate", "cat", "sub", "addn", "iadd"}
# What a skip goes around: layers with weights. An elementwise op holding a table (a RoPE
# cos/sin, a mask, a norm's scale) is not a layer a shortcut bypasses.
_LAYER_KINDS = {"conv", "linear", "attention", "recurrent", "embedding", "group"}
MAX_SKIP_UNITS = 4000  # a group whose one-level inside is bigger is never opened anyway


def has_skip(g: Graph, path: Path, member_ids: list[str]) -> bool:
    """Whether ``path`` opened one level shows a skip: some merge reads a tensor through a
    learnable unit and, from the same origin, around it (residual, shortcut, dense skip).

    A unit is a direct member node or a child group (one box). Attention is not a skip (q, k
    and v all pass through the same projection) and neither is a normalisation (no learnable
    unit between the fork and the merge).
    """
    k = len(path)
    unit_of: dict[str, object] = {}
    index: dict[object, int] = {}
    learnable: set[object] = set()
    merges: set[int] = set()
    for nid in member_ids:
        node = g.nodes[nid]
        u: object = node.group[:k + 1] if len(node.group) > k else nid
        if u not in index:
            index[u] = len(index)
        unit_of[nid] = u
        if node.kind in _LAYER_KINDS and _learnable(node):
            learnable.add(u)
        if u == nid and opname(node.op) in _MERGES:
            merges.add(index[u])
    if len(index) > MAX_SKIP_UNITS or not learnable or not merges:
        return False
    prod: dict[str, int] = {}
    for nid in member_ids:
        for t in g.nodes[nid].outputs:
            prod.setdefault(t, index[unit_of[nid]])
    # Unit -> the tensors it reads (internal: producer unit; external: the tensor itself).
    reads: dict[int, list[object]] = {}
    for nid in member_ids:
        node = g.nodes[nid]
        ui = index[unit_of[nid]]
        lst = reads.setdefault(ui, [])
        for t in node.inputs:
            if t in g.tensors and g.tensors[t].is_param:
                continue
            src: object = prod.get(t, ("ext", t))
            if src != ui and src not in lst:
                lst.append(src)
    order = _unit_order(len(index), reads)
    ext_bit: dict[object, int] = {}
    nbits = len(index)
    anc: list[int] = [0] * len(index)  # bitset of units and external tensors upstream
    learn_mask = 0
    for u, i in index.items():
        if u in learnable:
            learn_mask |= 1 << i
    for i in order:
        acc = 0
        for src in reads.get(i, ()):
            if isinstance(src, int):
                acc |= anc[src] | (1 << src)
            else:
                if src not in ext_bit:
                    ext_bit[src] = nbits + len(ext_bit)
                acc |= 1 << ext_bit[src]
        anc[i] = acc
    for i in order:
        srcs = reads.get(i, ())
        if i not in merges or len(srcs) < 2:
            continue
        paths = []
        for src in srcs:
            if isinstance(src, int):
                paths.append(anc[src] | (1 << src))
            else:
                paths.append(1 << ext_bit[src])
        for a in range(len(paths)):
            for b in range(len(paths)):
                if a != b and paths[a] & ~paths[b] & learn_mask and paths[a] & paths[b]:
                    return True
    return False


def _learnable(node: Node) -> bool:
    """Whether a node holds parameters (the annotated count when there is one)."""
    n = node.meta.get("params")
    return bool(n) if isinstance(n, int) else node.param_count > 0


def _unit_order(n: int, reads: dict[int, list[object]]) -> list[int]:
    """Units in a topological order of their internal reads (cycles appended as they are)."""
    indeg = [0] * n
    succ: list[list[int]] = [[] for _ in range(n)]
    for i, srcs in reads.items():
        for s in srcs:
            if isinstance(s, int):
                indeg[i] += 1
                succ[s].append(i)
    ready = [i for i in range(n) if indeg[i] == 0]
    out: list[int] = []
    while ready:
        i = ready.pop()
        out.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
    if len(out) < n:
        seen = set(out)
        out.extend(i for i in range(n) if i not in seen)
    return out


# ---- plumbing -----------------------------------------------------------------------------

def group_plumbing(g: Graph, order: list[str] | None = None) -> None:
    """Gather each scope's side computations (masks, positions, indices) into a group.

    An operator is a side computation when it has no learnable weights and none of its inputs
    carries activations. Activations start at float graph inputs and at the outputs of
    learnable operators, and flow through every operator except shape reads. Only direct
    members of a scope move (a module's own ops stay in the module), and only runs of at least
    PLUMBING_MIN connected ops that feed the activation path and give no graph output, so a
    lone ``arange`` stays where it is and a weightless model is not plumbing of itself.
    """
    active: set[str] = set()
    for t in g.inputs:
        tensor = g.tensors.get(t)
        if tensor is not None and str(tensor.dtype or "float").startswith(_FLOAT):
            active.add(t)
    side: list[str] = []
    main: set[str] = set()  # nodes on the activation path
    for nid in order if order is not None else topological_order(g):
        node = g.nodes[nid]
        if node.kind == "io":
            continue
        reads_active = any(t in active for t in node.inputs)
        learnable = _learnable(node)
        if learnable or (reads_active and opname(node.op) not in _SHAPE_READS):
            active.update(node.outputs)
            main.add(nid)
            continue
        side.append(nid)
    if len(side) < PLUMBING_MIN:
        return
    side_set = set(side)
    by_scope: dict[Path, list[str]] = {}
    for nid in side:
        by_scope.setdefault(g.nodes[nid].group, []).append(nid)
    prod = g.producers()
    cons = g.consumers()
    outputs = set(g.outputs)
    topo = order if order is not None else topological_order(g)
    pos = {nid: i for i, nid in enumerate(topo)}
    for scope, ids in by_scope.items():
        pieces = [p for comp in _components(g, ids, side_set, prod)
                  for p in _convex_pieces(g, comp, side_set, prod, cons, pos)]
        for comp in pieces:
            if len(comp) < PLUMBING_MIN:
                continue
            outs = [t for nid in comp for t in g.nodes[nid].outputs]
            # Plumbing serves the activation path and is not the model's result: a graph
            # with no float input and no weights is all "side", and all of it is the model.
            if any(t in outputs for t in outs) or \
                    not any(c in main for t in outs for c in cons.get(t, ())):
                continue
            path = scope + (_free_name(g, scope),)
            g.groups[path] = Group(path, label=PLUMBING, op="Plumbing",
                                   attrs={"plumbing": True})
            for nid in comp:
                g.nodes[nid].group = path


def _convex_pieces(g: Graph, comp: list[str], side: set[str], prod: dict[str, str],
                   cons: dict[str, list[str]], pos: dict[str, int]) -> list[list[str]]:
    """``comp`` cut into pieces no data path leaves and re-enters: a box for a piece that
    feeds the trunk and also reads from it further down (CLIP's EOS pooling indices, built
    from the input ids and the shape of the final norm's output, joined to the mask ops at
    the start) would draw a loop. The ops reached from the piece through outside ops go to a
    later piece, which is cut the same way."""
    out: list[list[str]] = []
    todo = [comp]
    while todo:
        piece = todo.pop()
        inside = set(piece)
        last = max(pos[n] for n in piece)
        reached: set[str] = set()
        stack = [c for n in piece for t in g.nodes[n].outputs for c in cons.get(t, ())
                 if c not in inside]
        while stack:  # outside ops downstream of the piece, up to its last op
            n = stack.pop()
            if n in reached or pos.get(n, last + 1) > last:
                continue
            reached.add(n)
            stack.extend(c for t in g.nodes[n].outputs for c in cons.get(t, ())
                         if c not in inside)
        late = {n for n in piece
                if any(prod.get(t) in reached for t in g.nodes[n].inputs)}
        if not late:
            out.append(piece)
            continue
        # everything of the piece downstream of a late op is late too
        stack = list(late)
        while stack:
            n = stack.pop()
            for t in g.nodes[n].outputs:
                for c in cons.get(t, ()):
                    if c in inside and c not in late:
                        late.add(c)
                        stack.append(c)
        early = [n for n in piece if n not in late]
        for part in (early, [n for n in piece if n in late]):
            todo.extend(_components(g, part, side, prod))
    out.sort(key=lambda p: min(pos[n] for n in p))
    return out


def _components(g: Graph, ids: list[str], side: set[str],
                prod: dict[str, str]) -> list[list[str]]:
    """Weakly connected components of ``ids`` (edges among them only), in node order."""
    idset = set(ids)
    parent = {nid: nid for nid in ids}

    for nid in ids:
        for t in g.nodes[nid].inputs:
            src = prod.get(t)
            if src in idset and src != nid:
                parent[union_find_root(parent, src)] = union_find_root(parent, nid)
    comps: dict[str, list[str]] = {}
    for nid in ids:
        comps.setdefault(union_find_root(parent, nid), []).append(nid)
    return list(comps.values())


def _free_name(g: Graph, scope: Path) -> str:
    name, i = PLUMBING, 1
    while scope + (name,) in g.groups:
        i += 1
        name = f"{PLUMBING}_{i}"
    return name
