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

from nnviz.ir import Graph
from nnviz.passes.params import param_totals
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
    if not will_fold(g, fold, min_nodes):
        return g
    # Deepest-first would fold inner repeats inside blocks that fold anyway; outermost runs
    # first keeps the result simple and is what users expect (one "×12" per stack).
    changed = True
    while changed:
        changed = False
        order = topological_order(g)
        pos = {nid: i for i, nid in enumerate(order)}
        children, members = _children(g, pos)
        for parent in sorted(children, key=len):
            run = _find_run(g, children[parent], members)
            if run:
                _fold(g, run, pos)
                changed = True
                break
    return g


Paths = tuple[str, ...]


def _children(g: Graph, pos: dict[str, int]) -> tuple[dict[Paths, list[Paths]],
                                                       dict[Paths, list[str]]]:
    """(parent path -> child group paths ordered by their first node in topological order,
    group path -> its member node ids in topological order), in one pass over the nodes."""
    members: dict[Paths, list[str]] = {}
    for nid in sorted(g.nodes, key=lambda n: pos[n]):
        group = g.nodes[nid].group
        for i in range(1, len(group) + 1):
            members.setdefault(group[:i], []).append(nid)
    first = {path: pos[ids[0]] for path, ids in members.items()}
    out: dict[Paths, list[Paths]] = {}
    for path in sorted(first, key=lambda p: (first[p], p)):
        out.setdefault(path[:-1], []).append(path)
    return out, members


def signature(g: Graph, path: tuple[str, ...], ids: list[str]) -> str:
    """Name-free structural fingerprint of a group's nodes and their internal wiring."""
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
    return json.dumps(rows, sort_keys=True, default=str)


def _find_run(g: Graph, siblings: list[Paths],
              members: dict[Paths, list[str]]) -> list[tuple[Paths, list[str]]] | None:
    """The first run of >= 2 consecutive, chained, identical siblings, or None."""
    if len(siblings) < 2:
        return None
    info = []
    for path in siblings:
        ids = members[path]
        info.append((path, ids, signature(g, path, ids) if ids else ""))
    i = 0
    while i < len(info):
        j = i + 1
        while j < len(info) and info[j][2] and info[j][2] == info[i][2] and \
                _stem(info[j][0]) == _stem(info[i][0]) and \
                _chained(g, info[j - 1][1], info[j][1]):
            j += 1
        if j - i >= 2:
            return [(p, ids) for p, ids, _ in info[i:j]]
        i = j
    return None


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


def _chained(g: Graph, prev_ids: list[str], next_ids: list[str]) -> bool:
    produced = {t for nid in prev_ids for t in g.nodes[nid].outputs}
    return any(t in produced for nid in next_ids for t in g.nodes[nid].inputs)


def _fold(g: Graph, run: list[tuple[Paths, list[str]]], pos: dict[str, int]) -> None:
    keep_path, keep_ids = run[0]
    # Tensor correspondence: output j of the i-th node of any block -> same in the kept block.
    remap: dict[str, str] = {}
    removed: set[str] = set()
    nodes = g.nodes
    all_params = []
    flops_total = 0
    for _, ids in run:
        for nid in ids:
            n = nodes[nid]
            all_params.extend(n.params)
            flops_total += int(n.meta.get("flops") or 0)
    keep_nodes = [nodes[a] for a in keep_ids]
    for _, ids in run[1:]:
        for na, b in zip(keep_nodes, ids):
            for ta, tb in zip(na.outputs, nodes[b].outputs):
                remap[tb] = ta
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
    totals = param_totals(all_params)
    group.attrs["params_total"] = totals["params"]
    group.attrs["trainable_params_total"] = totals["trainable_params"]
    group.attrs["flops_total"] = flops_total
    group.attrs["fold_label"] = f"{first_label} \u2026 {last_label}"
    group.label = f"{first_label} \u2026 {last_label} \u00d7{count}"
