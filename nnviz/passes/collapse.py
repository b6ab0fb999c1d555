"""Collapse / expand groups: a collapsed group becomes ONE node of kind "group".

The box keeps every edge to and from the outside with its tensor (and so its shape); its
params are the union of its members' params (a shared weight counted once); its meta holds
the summed FLOPs/MACs, the number of collapsed nodes and the group path. The same code serves
ONNX name scopes, Keras nested models and torch modules, because all of them are just
``node.group`` paths in the IR.
"""

from __future__ import annotations

from nnviz.ir import Graph, Node, Param
from nnviz.passes.params import param_totals
from nnviz.passes.util import copy_graph, prune

# The parameter roll-up keys passes.params writes on nodes, groups and the graph.
_TOTAL_KEYS = ("params", "trainable_params", "non_trainable_params", "param_bytes", "buffers")

# With depth=None, graphs with more boxes than this are collapsed to the deepest level that
# fits, so a big model's default drawing stays one readable figure.
AUTO_MAX_BOXES = 48


def parse_path(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """'encoder/layer.3' -> ('encoder', 'layer.3')."""
    if isinstance(text, tuple):
        return text
    return tuple(p for p in text.strip().strip("/").split("/") if p)


def boxes_at_depth(graph: Graph, depth: int) -> int:
    """How many boxes the drawing would have with every group deeper than ``depth`` collapsed."""
    keys = set()
    for node in graph.nodes.values():
        keys.add(("g",) + node.group[:depth + 1] if len(node.group) > depth else ("n", node.id))
    return len(keys)


def auto_depth(graph: Graph, max_boxes: int = AUTO_MAX_BOXES) -> int | None:
    """None (show everything) when the graph is small, else the deepest depth that fits."""
    if len(graph.nodes) <= max_boxes:
        return None
    deepest = max((len(n.group) for n in graph.nodes.values()), default=0)
    for depth in range(deepest - 1, -1, -1):
        if boxes_at_depth(graph, depth) <= max_boxes:
            return depth
    return 0 if deepest else None


def collapse_groups(graph: Graph, depth: int | None = None,
                    expand: tuple[str, ...] | list = (),
                    collapse: tuple[str, ...] | list = ()) -> Graph:
    """A copy of ``graph`` where groups deeper than ``depth`` (and the ``collapse`` paths,
    unless an ``expand`` path is inside them) are single nodes."""
    return collapse_groups_inplace(copy_graph(graph), depth, expand, collapse)


def collapse_groups_inplace(g: Graph, depth: int | None = None,
                            expand: tuple[str, ...] | list = (),
                            collapse: tuple[str, ...] | list = ()) -> Graph:
    """collapse_groups on a graph the caller owns (no copy: the view transforms chain it)."""
    expand_paths = {parse_path(p) for p in expand}
    collapse_paths = {parse_path(p) for p in collapse}

    def opened(path: tuple[str, ...]) -> bool:
        # Expanding a path opens it and all its ancestors.
        return any(e[:len(path)] == path for e in expand_paths)

    def collapsed(path: tuple[str, ...]) -> bool:
        if opened(path):
            return False
        if path in collapse_paths:
            return True
        return depth is not None and len(path) > depth

    # One decision per distinct group path, not one per node and prefix (50k nodes share a
    # few thousand paths): path -> the outermost collapsed prefix, or None.
    decided: dict[tuple[str, ...], tuple[str, ...] | None] = {}
    owner: dict[str, tuple[str, ...]] = {}
    for node in g.nodes.values():
        group = node.group
        if not group:
            continue
        if group in decided:
            top = decided[group]
        else:
            top = None
            for i in range(1, len(group) + 1):
                if collapsed(group[:i]):
                    top = group[:i]
                    break
            decided[group] = top
        if top is not None:
            owner[node.id] = top
    if not owner:
        return g
    return _build(g, owner)


MAX_RUNS = 8  # runs of children a box records for its title ("Conv2d-BN-ReLU6")


def child_runs(groups: dict, path: tuple[str, ...], nodes) -> list[list]:
    """What group ``path`` holds, one level down, in order: runs of equal children as
    ``[op, count]`` (a layer's op, a sub-module's class), e.g. ``[["BasicBlock", 2]]`` or
    ``[["Conv2d", 1], ["BatchNorm2d", 1], ["ReLU6", 1]]``; at most MAX_RUNS runs. ``nodes``
    are the nodes under ``path``, in graph order; a folded child counts as its repeats. A
    bare container ("Sequential") is titled by this (nnviz.layout.labels.group_title)."""
    runs: list[list] = []
    seen: set[tuple[str, ...]] = set()
    depth = len(path)
    for n in nodes:
        if n.kind in ("constant", "io"):
            continue
        if len(n.group) > depth:
            kid = n.group[:depth + 1]
            if kid in seen:
                continue
            seen.add(kid)
            grp = groups.get(kid)
            op = grp.op if grp is not None and grp.op else kid[-1]
            # a folded block stands for its whole run (layer1's "layer1.0 … layer1.1")
            count = int(grp.attrs.get("repeat") or 1) if grp is not None else 1
        else:
            op, count = n.op, int(n.meta.get("repeat") or 1)
        if runs and runs[-1][0] == op:
            runs[-1][1] += count
        elif len(runs) < MAX_RUNS:
            runs.append([op, count])
        else:
            break
    return runs


def _build(g: Graph, owner: dict[str, tuple[str, ...]]) -> Graph:
    members: dict[tuple[str, ...], list[Node]] = {}
    for node in g.nodes.values():
        if node.id in owner:
            members.setdefault(owner[node.id], []).append(node)
    prod = g.producers()
    cons = g.consumers()
    graph_outputs = set(g.outputs)
    # scopes with layers of their own, and how many sub-scopes each scope has: a box that
    # is its parent's only content is told by these, not by a walk per box
    direct = {n.group for n in g.nodes.values()}
    subs: dict[tuple[str, ...], int] = {}
    for p in g.groups:
        if len(p) > 1:
            subs[p[:-1]] = subs.get(p[:-1], 0) + 1

    def sole_child(g: Graph, parent: tuple[str, ...]) -> bool:
        return subs.get(parent, 0) == 1 and parent not in direct and parent in g.groups

    new_nodes: dict[str, Node] = {}
    taken = {nid for nid in g.nodes if nid not in owner}
    box_for: dict[tuple[str, ...], Node] = {}
    for node in g.nodes.values():
        path = owner.get(node.id)
        if path is None:
            new_nodes[node.id] = node
            continue
        if path in box_for:
            continue
        if len(members[path]) == 1 and not _stands_for_more(g, path, node):
            # A group of one layer collapses to that layer itself, moved to the parent: a
            # "group" box would only hide the op name.
            node.group = path[:-1]
            node.meta["module"] = path[-1]  # the box now stands for the module: its name
            new_nodes[node.id] = node
            box_for[path] = node
            continue
        box = _make_box(g, path, members[path], prod, cons, graph_outputs, taken)
        if len(path) > 1 and sole_child(g, path[:-1]):
            # all its parent holds (MobileNetV2's features.1 is just its .conv): the
            # parent's frame would only frame this box, so the box may carry its class
            box.meta["fills_parent"] = True
        taken.add(box.id)
        box_for[path] = box
        new_nodes[box.id] = box
    g.nodes = new_nodes
    # Groups inside a collapsed group are gone from the drawing; the box sits in the parent.
    prune(g, box_for)
    return g


def _stands_for_more(g: Graph, path: tuple[str, ...], node: Node) -> bool:
    """Does the one node left in group ``path`` stand for more than itself? It does when the
    group, or a group between it and the node, is a folded run (the other blocks were
    removed by the fold, the box must say "×N"), or when the node is a folded box itself."""
    if node.meta.get("repeat"):
        return True
    for k in range(len(path), len(node.group) + 1):
        grp = g.groups.get(node.group[:k])
        if grp is not None and grp.attrs.get("repeat"):
            return True
    return False


def _make_box(g: Graph, path: tuple[str, ...], nodes: list[Node], prod: dict[str, str],
              cons: dict[str, list[str]], graph_outputs: set[str], taken: set[str]) -> Node:
    inside = {n.id for n in nodes}
    inputs: list[str] = []
    outputs: list[str] = []
    # Membership sets next to the ordered lists: a box of a whole model has thousands.
    seen_in: set[str] = set()
    seen_out: set[str] = set()
    params: list[Param] = []
    seen_params: set[str] = set()
    flops = macs = 0
    unknown = 0
    for n in nodes:
        for t in n.inputs:
            if t not in seen_in and prod.get(t) not in inside:
                seen_in.add(t)
                inputs.append(t)
        for t in n.outputs:
            if t in seen_out:
                continue
            if t in graph_outputs or any(c not in inside for c in cons.get(t, ())):
                seen_out.add(t)
                outputs.append(t)
        for p in n.params:
            if p.name not in seen_params:
                seen_params.add(p.name)
                params.append(p)
        f = n.meta.get("flops")
        if f is None:
            unknown += 1 if n.kind not in ("io", "constant") else 0
        else:
            flops += int(f)
            macs += int(n.meta.get("macs") or 0)
    group = g.groups.get(path)
    if group is not None and isinstance(group.attrs.get("flops"), int):
        # Annotated sums (passes.flops) include folded-away blocks, like the params below.
        flops = group.attrs["flops"]
        macs = int(group.attrs.get("macs") or 0)
    label = (group.label if group and group.label else path[-1])
    if group is not None and group.attrs.get("fold_label"):
        label = group.attrs["fold_label"]  # the "×N" badge comes from meta["repeat"]
    op = group.op if group and group.op else label
    base = "group:" + "/".join(path)
    nid = base
    i = 1
    while nid in taken:
        nid = f"{base}_{i}"
        i += 1
    kinds: dict[str, int] = {}
    for n in nodes:  # what the box holds, by kind: the paper styles colour it by that
        inner = n.meta.get("inner_kinds") if n.kind == "group" else None
        for k, c in (inner.items() if isinstance(inner, dict) else [(n.kind, 1)]):
            kinds[k] = kinds.get(k, 0) + c
    meta: dict = {"group": list(path), "group_op": group.op if group else "",
                  "collapsed_nodes": len(nodes), "inner_kinds": dict(sorted(kinds.items())),
                  "inner_runs": child_runs(g.groups, path, nodes),
                  "flops": flops,
                  "macs": macs, "flops_unknown": unknown}
    meta.update(param_totals(params))
    if group is not None and "params" in group.attrs:
        # The annotated group totals (passes.params) count every weight of the group, also
        # those of blocks a fold removed and of nodes hide-noise spliced out: a box shows what
        # the model holds, not what the view kept (a collapsed GPT2Model holding "Block ×48"
        # counts 48 blocks).
        for key in _TOTAL_KEYS:
            if key in group.attrs:
                meta[key] = group.attrs[key]
    if group is not None and group.attrs.get("repeat"):
        meta["repeat"] = group.attrs["repeat"]
        for key in ("params_total", "trainable_params_total", "flops_total"):
            if key in group.attrs:
                meta[key] = group.attrs[key]
    diffs = {n.meta.get("diff") for n in nodes} - {None}
    if diffs:  # `nnviz diff`: a box hiding an added/changed layer is itself highlighted
        meta["diff"] = "added" if diffs == {"added"} else "changed"
    if unknown and not flops:
        meta["flops"] = None
        meta["macs"] = None
    name = "/".join(path)
    if group is not None and group.attrs.get("fold_label"):
        name = "/".join(path[:-1] + (group.attrs["fold_label"],))  # "encoder/layer.0 … layer.11"
    return Node(id=nid, op=op, kind="group", name=name,
                attrs={}, inputs=inputs, outputs=outputs, params=params, group=path[:-1],
                meta=meta)
