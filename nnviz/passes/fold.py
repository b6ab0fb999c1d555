"""Fold repeats: consecutive sibling groups with identical structure are drawn once.

Twelve transformer layers ``layer.0`` .. ``layer.11`` become ``layer.0`` with
``Group.attrs["repeat"] = 12`` (a collapsed box then carries ``meta["repeat"]``, which the
label code shows as "×12"). Consumers of the last block's outputs are rewired to the kept
block's matching outputs, so edges to the rest of the model survive.

Two blocks are "identical" when their nodes, in topological order, have the same op, kind,
relative sub-group, parameter shapes, output shapes, and the same wiring among themselves.
Names matter only in that siblings must be numbered alike (``layer.3``, ``block2``, ``0``):
``encoder`` and ``decoder`` are never folded together. Blocks must also be chained: each one
consumes something the previous one produced (directly), so parallel branches that happen to
look alike are not folded.
"""

from __future__ import annotations

import json
import re
from itertools import chain, compress, repeat
from operator import and_, attrgetter, eq, truth

from nnviz.ir import DTYPE_BYTES, Graph, Tensor, shape_numel
from nnviz.passes.params import sum_param_rows
from nnviz.passes.util import copy_graph, prune, topological_order

# With fold=None, folding happens only on graphs with more nodes than this.
AUTO_FOLD_NODES = 60


def fold_repeats(graph: Graph, fold: bool | None = None,
                 min_nodes: int = AUTO_FOLD_NODES) -> Graph:
    """A copy of ``graph`` with runs of identical consecutive sibling groups folded."""
    return fold_repeats_inplace(copy_graph(graph), fold, min_nodes)


def will_fold(graph: Graph, fold: bool | None = None, min_nodes: int = AUTO_FOLD_NODES) -> bool:
    """Whether fold_repeats would look for repeats at all (else it only copies)."""
    return not (fold is False or (fold is None and len(graph.nodes) <= min_nodes))


def fold_repeats_inplace(g: Graph, fold: bool | None = None,
                         min_nodes: int = AUTO_FOLD_NODES) -> Graph:
    """fold_repeats on a graph the caller owns (no copy)."""
    return fold_with_order(g, fold, min_nodes)[0]


def fold_with_order(g: Graph, fold: bool | None = None, min_nodes: int = AUTO_FOLD_NODES,
                    order: list[str] | None = None,
                    layout: tuple[dict, dict] | None = None) -> tuple[Graph, list[str] | None]:
    """fold_repeats_inplace, given and giving back the topological order of the graph (the
    passes share one order while the wiring stays the same: it costs a pass over every
    edge at 50k nodes). ``order``, when given, must be ``topological_order(g)``; the order
    returned is the final graph's, or None when no search ran. ``layout``, when given, is
    (first, members) of the groups as _children computes them for ``order`` (annotate
    collects them in its counting walk when the node order is topological)."""
    if not will_fold(g, fold, min_nodes):
        return g, order
    # Deepest-first would fold inner repeats inside blocks that fold anyway; outermost runs
    # first keeps the result simple and is what users expect (one "×12" per stack).
    changed = True
    while changed:
        changed = False
        if order is None:
            order = topological_order(g)
        if layout is not None:
            children, members = _nest(*layout)
            layout = None  # the graph's layout until the first fold
        else:
            children, members = _children(g, order)
        for parent in sorted(children, key=len):
            run, keys = _find_run_keys(g, children[parent], members)
            if run:
                _fold(g, run, keys)
                changed = True
                order = None  # the wiring changed
                break
    return g, order


Paths = tuple[str, ...]


def _children(g: Graph, order: list[str]) -> tuple[dict[Paths, list[Paths]],
                                                     dict[Paths, list[str]]]:
    """(parent path -> child group paths ordered by their first node in topological order,
    group path -> its member node ids in topological order), in one pass over the nodes."""
    members: dict[Paths, list[str]] = {}
    first: dict[Paths, int] = {}
    nodes = g.nodes
    prefixes: dict[Paths, list[Paths]] = {}  # each distinct group's prefixes, cut once
    for i, nid in enumerate(order):
        group = nodes[nid].group
        pre = prefixes.get(group)
        if pre is None:
            pre = prefixes[group] = [group[:k] for k in range(1, len(group) + 1)]
            for path in pre:
                if path not in first:
                    first[path] = i
                    members[path] = []
        for path in pre:
            members[path].append(nid)
    return _nest(first, members)


def _nest(first: dict[Paths, int], members: dict[Paths, list[str]],
          ) -> tuple[dict[Paths, list[Paths]], dict[Paths, list[str]]]:
    """_children from each path's first node index and member ids."""
    out: dict[Paths, list[Paths]] = {}
    for path in sorted(first, key=lambda p: (first[p], p)):
        out.setdefault(path[:-1], []).append(path)
    return out, members


def signature(g: Graph, path: tuple[str, ...], ids: list[str]) -> str:
    """Name-free structural fingerprint of a group's nodes and their internal wiring."""
    return json.dumps(_rows(g, path, ids), sort_keys=True, default=str)


def _rows(g: Graph, path: tuple[str, ...], ids: list[str]) -> list[tuple]:
    """The signature's rows: one per node (op, kind, relative group, diff mark, parameter
    shapes, output shapes, wiring among the nodes)."""
    k = len(path)
    own = path[-1] if path else ""
    nodes, tensors = g.nodes, g.tensors
    members = [nodes[nid] for nid in ids]
    prod = {}
    for i, n in enumerate(members):  # ids are distinct: i is the node's local index
        for j, t in enumerate(n.outputs):
            prod[t] = (i, j)
    rows = []
    # Tuples where the JSON is the same as for lists (the encoder writes both as arrays):
    # no per-node list copies.
    for n in members:
        wiring = [prod[t] if t in prod else "ext" for t in n.inputs]
        outs = []
        for t in n.outputs:
            tensor = tensors.get(t)
            # Exporters name unknown dims per layer (unk__0, unk__3): any symbol matches.
            outs.append(None if tensor is None or tensor.shape is None else
                        [d if isinstance(d, int) else "?" for d in tensor.shape])
        # A diff highlight makes a block different: it must stay visible, not be folded.
        rel = n.group[k:]
        if own and rel and rel[0].startswith(own):
            # Sub-groups named after their block (structure from names: block_4 holds
            # block_4_expand) match their twins in block_5 by the rest of the name.
            rel = ("\0" + rel[0][len(own):],) + rel[1:]
        rows.append((n.op, n.kind, rel, n.meta.get("diff"),
                     [p.shape for p in n.params], outs, wiring))
    return rows


class _Keys:
    """Signatures as tuples, equal exactly when the JSON signatures are equal, without
    encoding: every value in them is a str, an int (not a bool) or None, where Python's
    equality is JSON's (no 1 == 1.0 == True, no tuple != list). A sibling set holding any
    other value (``plain`` False) is compared by its JSON signatures instead."""

    def __init__(self, g: Graph):
        self.g = g
        self.outs_memo: dict[object, object] = {None: None}  # exactly-typed shape -> entry
        self.plain = True
        self.produced: dict[Paths, set[str]] = {}  # block -> tensors its nodes produce
        self.reads: dict[Paths, list[str]] = {}  # block -> tensors its nodes read
        # block -> what folding it needs, read while its nodes are in cache: its flat
        # outputs, its weights' (name, dtype, trainable, role) columns, its nodes' flops
        self.block: dict[Paths, tuple] = {}

    def key(self, path: Paths, ids: list[str]) -> tuple:
        """The block's signature as columns: each row field of every node in one tuple
        (ops, kinds, relative groups, diff marks), each per-node list flattened with the
        nodes' lengths beside it (parameter shapes, output shapes, the inputs' wiring).
        Two keys are equal exactly when the row signatures are; a wire names the producing
        output by its position among the block's outputs, which with equal output counts
        is the same as (node, output) in the rows. The columns are built by C-level maps:
        a 50k-node stack is compared in a few passes over flat lists, not a Python loop
        per node."""
        k = len(path)
        own = path[-1] if path else ""
        g = self.g
        members = list(map(g.nodes.__getitem__, ids))
        outputs = list(map(_OUTPUTS, members))
        inputs = list(map(_INPUTS, members))
        params = list(map(_PARAMS, members))
        flat_params = list(chain.from_iterable(params))
        metas = list(map(_META, members))
        flat_outs = list(chain.from_iterable(outputs))
        flat_ins = list(chain.from_iterable(inputs))
        prod = dict(zip(flat_outs, range(len(flat_outs))))
        ops = tuple(map(_OP, members))
        kinds = tuple(map(_KIND, members))
        diffs = tuple(map(dict.get, metas, repeat("diff")))
        plain = set(map(type, ops)) <= _STR and set(map(type, kinds)) <= _STR and \
            set(map(type, diffs)) <= _STR_NONE
        groups = list(map(_GROUP, members))
        rels: dict[Paths, Paths] = {}
        for group in set(groups):
            rel = group[k:]
            if own and rel and rel[0].startswith(own):
                # Sub-groups named after their block (structure from names: block_4 holds
                # block_4_expand) match their twins in block_5 by the rest of the name.
                rel = ("\0" + rel[0][len(own):],) + rel[1:]
            # A str subclass is a str to JSON and to ==: only other types are not plain.
            plain = plain and all(isinstance(x, str) for x in rel)
            rels[group] = rel
        pshapes = list(map(_SHAPE, flat_params))
        if not set(map(type, pshapes)) <= _TUPLE_NONE:
            pshapes = [None if s is None else tuple(s) for s in pshapes]
        if not set(map(type, chain.from_iterable(filter(None, pshapes)))) <= _PLAIN_TYPES:
            plain = False
        shapes = list(map(_SHAPE, map(g.tensors.get, flat_outs, repeat(_NO_TENSOR))))
        outs = self._outs(shapes)
        if outs is None:
            plain = False
            outs = shapes  # not compared: the set falls back to JSON signatures
        if not plain:
            self.plain = False
        self.produced[path] = set(prod)
        self.reads[path] = flat_ins
        self.block[path] = (flat_outs, list(map(_NAME, flat_params)),
                            list(map(_DTYPE, flat_params)), list(map(_TRAINABLE, flat_params)),
                            list(map(_ROLE, flat_params)),
                            list(map(dict.get, metas, repeat("flops"))))
        return (ops, kinds, tuple(map(rels.__getitem__, groups)), diffs,
                tuple(map(len, params)), tuple(pshapes), tuple(map(len, outputs)),
                tuple(outs), tuple(map(len, inputs)),
                tuple(map(prod.get, flat_ins, repeat("ext"))))

    def _outs(self, shapes: list) -> list | None:
        """Output-shape entries: int dims as they are, any other dim "?" (exporters name
        unknown dims per layer: unk__0, unk__3 match); None when a dim is a bool or another
        int subclass (JSON spells it its own way: not plain)."""
        memo = self.outs_memo
        dim_types = set(map(type, chain.from_iterable(filter(None, shapes))))
        if dim_types <= _PLAIN_TYPES and set(map(type, shapes)) <= _TUPLE_NONE:
            # Exactly typed, hashable shapes: equal shapes have equal entries, look each
            # distinct one up once.
            outs = list(map(memo.get, shapes, repeat(_MISS)))
            if _MISS not in outs:
                return outs
            for i, o in enumerate(outs):
                if o is _MISS:
                    shape = shapes[i]
                    o = memo[shape] = tuple([d if type(d) is int else "?" for d in shape])
                    outs[i] = o
            return outs
        if any(t is not int and issubclass(t, int) for t in dim_types):
            return None
        return [None if s is None else tuple([d if type(d) is int else "?" for d in s])
                for s in shapes]

    def chained(self, prev: Paths, nxt: Paths) -> bool:
        """Each block consumes something the previous one produced (directly)."""
        produced = self.produced[prev]
        return any(t in produced for t in self.reads[nxt])


_PLAIN_TYPES = frozenset({int, str, type(None)})
_STR = frozenset({str})
_STR_NONE = frozenset({str, type(None)})
_TUPLE_NONE = frozenset({tuple, type(None)})
_OP, _KIND, _GROUP = attrgetter("op"), attrgetter("kind"), attrgetter("group")
_META, _PARAMS, _SHAPE = attrgetter("meta"), attrgetter("params"), attrgetter("shape")
_INPUTS, _OUTPUTS = attrgetter("inputs"), attrgetter("outputs")
_NAME, _DTYPE = attrgetter("name"), attrgetter("dtype")
_TRAINABLE, _ROLE = attrgetter("trainable"), attrgetter("role")
_NO_TENSOR = Tensor("")  # a missing tensor: its shape is None, like an unknown one
_MISS = object()


def _find_run(g: Graph, siblings: list[Paths],
              members: dict[Paths, list[str]]) -> list[tuple[Paths, list[str]]] | None:
    """The first run of >= 2 consecutive, chained, identical siblings, or None."""
    return _find_run_keys(g, siblings, members)[0]


def _find_run_keys(g: Graph, siblings: list[Paths], members: dict[Paths, list[str]],
                   ) -> tuple[list[tuple[Paths, list[str]]] | None, _Keys]:
    """_find_run, and the keys it computed (what _fold reads of the blocks)."""
    keys = _Keys(g)
    if len(siblings) < 2:
        return None, keys
    info: list[tuple[Paths, list[str], object]] = []
    for path in siblings:
        ids = members[path]
        info.append((path, ids, keys.key(path, ids) if ids else ""))
    if not keys.plain:
        info = [(path, ids, signature(g, path, ids) if ids else "") for path, ids, _ in info]
    i = 0
    while i < len(info):
        j = i + 1
        while j < len(info) and info[j][2] and info[j][2] == info[i][2] and \
                _stem(info[j][0]) == _stem(info[i][0]) and \
                keys.chained(info[j - 1][0], info[j][0]):
            j += 1
        if j - i >= 2:
            return [(p, ids) for p, ids, _ in info[i:j]], keys
        i = j
    return None, keys


def _stem(path: Paths) -> str:
    """'layer.11' -> 'layer.': repeats are numbered siblings; 'encoder' and 'decoder' that
    happen to match structurally are different parts of the model and stay apart."""
    return re.sub(r"\d+", "#", path[-1])


def block_name(path: Paths) -> str:
    """How a fold label names one block: its path element, with the parent's name in front
    when the element is only a number (``layers/0`` -> ``layers.0``): a range must read
    ``layers.0 … layers.5``, never ``0 … 5``."""
    last = path[-1]
    if last.isdigit() and len(path) > 1:
        return f"{path[-2]}.{last}"
    return last


def _fold(g: Graph, run: list[tuple[Paths, list[str]]], keys: _Keys) -> None:
    keep_path, keep_ids = run[0]
    removed: set[str] = set()
    nodes = g.nodes
    # The run's parameter totals as param_totals makes them (each name once), from the
    # columns the keys read. The blocks' signatures are equal, so the i-th weight has the
    # same shape in every block (and each node as many outputs): its element count is
    # computed once, from the kept block.
    counts = [shape_numel(p.shape) for n in map(nodes.__getitem__, keep_ids) for p in n.params]
    keep_outs = keys.block[keep_path][0]
    block = keys.block
    # Every weight name of the run once (the usual case: each block holds its own weights):
    # the totals are sums over columns, without a row per weight.
    every_name = list(chain.from_iterable(block[path][1] for path, _ in run))
    distinct = len(set(every_name)) == len(every_name)
    del every_name
    sizes = [n or 0 for n in counts]
    if distinct:
        # Column sums over the whole run (the i-th weight of every block has the kept
        # block's element count): only role "param" counts, trainable ones also apart.
        counted = list(map(eq, chain.from_iterable(block[path][4] for path, _ in run),
                           repeat("param")))
        every_size = sizes * len(run)
        params_total = sum(compress(every_size, counted))
        trainable_total = sum(compress(every_size, map(
            and_, counted, map(truth, chain.from_iterable(block[path][3] for path, _ in run)))))
    else:
        rows: list = []
        seen: set[str] = set()
        dtype_bytes = DTYPE_BYTES
        for path, _ in run:
            _, names, dtypes, trainable, roles, _ = block[path]
            for name, dtype, train, role, n in zip(names, dtypes, trainable, roles, counts):
                if name in seen:
                    continue
                seen.add(name)
                size = dtype_bytes.get(dtype or "")
                rows.append((name, n or 0, train,
                             None if n is None or size is None else n * size, role))
        totals = sum_param_rows(rows)
        params_total, trainable_total = totals["params"], totals["trainable_params"]
    # each node's int(flops or 0), every block
    flops_total = sum(map(int, filter(None, chain.from_iterable(
        block[path][5] for path, _ in run))))
    # Tensor correspondence: output j of the i-th node of any block -> same in the kept block.
    remap = dict(zip(chain.from_iterable(block[path][0] for path, _ in run[1:]),
                     keep_outs * (len(run) - 1)))
    for _, ids in run[1:]:
        removed.update(ids)
    g.nodes = {nid: n for nid, n in nodes.items() if nid not in removed}
    # Survivors outside the run that read a removed block's tensor read the kept block's.
    for node in g.nodes.values():
        node.inputs = [remap.get(t, t) for t in node.inputs]
    g.outputs = [remap.get(t, t) for t in g.outputs]
    prune(g, {path for path, _ in run[1:]})  # one pass over the groups, not one per block
    g.ensure_group(keep_path)
    group = g.groups[keep_path]
    first_label = block_name(keep_path)
    last_label = block_name(run[-1][0])
    count = len(run)
    group.attrs["repeat"] = count
    group.attrs["repeat_of"] = [list(p) for p, _ in run[:1]] + [list(run[-1][0])]
    group.attrs["params_total"] = params_total
    group.attrs["trainable_params_total"] = trainable_total
    group.attrs["flops_total"] = flops_total
    group.attrs["fold_label"] = f"{first_label} \u2026 {last_label}"
    group.label = f"{first_label} \u2026 {last_label} \u00d7{count}"
