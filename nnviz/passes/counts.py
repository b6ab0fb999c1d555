"""Parameter and FLOPs roll-ups in one walk over the nodes.

The same results as ``count_flops_inplace(count_params_inplace(g), dims)`` (nnviz.passes.params
and nnviz.passes.flops define them), written in the same order. At 50k nodes both passes are
bound by memory reads, not by their arithmetic: each node's fields (meta, params, group,
outputs and their tensors) are fetched from memory once for both instead of once per pass.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter

from nnviz.ir import Graph, Param
from nnviz.passes.flops import count_node
from nnviz.passes.params import _Row, _sum, write_node_totals


def count_params_and_flops_inplace(g: Graph, dims: dict[str, int] | None = None,
                                   layout: tuple[dict, dict] | None = None) -> Graph:
    """count_flops_inplace(count_params_inplace(g), dims), in one walk.

    ``layout``: two empty dicts the walk fills on the way (it reads every node's group
    anyway): group path -> index of its first node, and group path -> its node ids, both in
    node order, for every prefix of a node's group (what fold._children computes; equal to
    it when the node order is the topological order)."""
    dims = dict(dims or {})
    first, paths = layout if layout is not None else ({}, None)
    # Per distinct group path, once: its own parameter rows (those of nodes exactly in it;
    # the roll-ups sum them up the tree afterwards) and the FLOPs accumulators (graph total
    # first) of its prefixes.
    per_group: dict[tuple[str, ...], tuple[list[_Row], list[list[int]], list[list[str]]]] = {}
    # Every path that gets totals, in the order the params pass gives them.
    members: dict[tuple[str, ...], None] = dict.fromkeys(g.groups)
    sums: dict[tuple[str, ...], list[int]] = {}
    total = [0, 0, 0]  # flops, macs, unknown
    stats: dict[int, _Row] = {}  # id(Param) -> its row, each Param's row made once
    every: list[_Row] = []
    memo: dict[int, tuple] = {}  # node_flops' shape element counts
    sizes: dict[tuple, tuple[int, int | None]] = {}  # (shape, dtype) -> (count or 0, bytes)
    for i, (nid, node) in enumerate(g.nodes.items()):
        group = node.group
        entry = per_group.get(group)
        if entry is None:  # every path gets its totals, also one whose nodes hold nothing
            prefixes = [group[:k] for k in range(1, len(group) + 1)]
            for p in prefixes:
                members.setdefault(p)
                first.setdefault(p, i)
            entry = per_group[group] = (
                [], [total] + [sums.setdefault(p, [0, 0, 0]) for p in prefixes],
                [] if paths is None else [paths.setdefault(p, []) for p in prefixes])
        own, chain, ids = entry
        for lst in ids:
            lst.append(nid)
        meta = node.meta
        params = node.params
        if params:
            rows = []
            for p in params:
                row = stats.get(id(p))
                if row is None:
                    row = stats[id(p)] = _row(p, sizes)
                rows.append(row)
            own.extend(rows)
            every.extend(rows)
            write_node_totals(meta, rows)
        else:
            meta["params"] = 0
            meta["trainable_params"] = 0
            meta["param_bytes"] = 0
        count_node(g, node, dims, memo, chain)
    groups = g.groups
    rollups = _param_rollups(g, per_group, members, every, stats)
    for path in members:
        if path not in groups:
            g.ensure_group(path)
        groups[path].attrs.update(rollups[path])
    g.meta.update(rollups[None])
    for path, (f, m, unknown) in sums.items():
        if path not in groups:
            g.ensure_group(path)
        groups[path].attrs.update({"flops": f, "macs": m, "flops_unknown": unknown})
    g.meta.update({"flops": total[0], "macs": total[1], "flops_unknown": total[2]})
    if dims:
        g.meta["dims"] = dict(sorted(dims.items()))
    return g


def _row(p: Param, sizes: dict[tuple, tuple[int, int | None]]) -> _Row:
    """(name, count or 0, trainable, bytes, role) as count_params makes it: Param.count and
    Param.nbytes computed once per distinct (shape, dtype), not twice per weight."""
    try:
        key = (p.shape, p.dtype)
        hit = sizes.get(key)
    except TypeError:  # an unhashable shape (a list): computed as the properties do
        return (p.name, p.count or 0, p.trainable, p.nbytes, p.role)
    if hit is None:
        hit = sizes[key] = (p.count or 0, p.nbytes)
    return (p.name, hit[0], p.trainable, hit[1], p.role)


def _param_rollups(g: Graph, per_group: dict, members: dict, every: list[_Row],
                   stats: dict[int, _Row]) -> dict:
    """path -> _sum of the rows of every node at or under it (None -> of all rows), as
    count_params_inplace computes them, without a row list per path: a weight on one row
    only (nearly all) is added up the tree through per-group sums; weights on several rows
    (shared by nodes) are deduplicated per path by _sum, as before."""
    names = list(map(itemgetter(0), every))
    multi: set[str] = set()
    if len(set(names)) != len(names):
        multi = {name for name, n in Counter(names).items() if n > 1}
        # _sum keeps each name's first row; which row is first under a path depends on the
        # node order, so the per-group sums need each shared name to have one row only.
        if len({row for row in every if row[0] in multi}) != len(multi):
            return _param_rollups_by_rows(g, members, stats)
    # [params, trainable, buffers, bytes, bytes unknown] per path
    acc: dict = {path: [0, 0, 0, 0, False] for path in members}
    acc[None] = [0, 0, 0, 0, False]
    shared: dict = {path: [] for path in members}
    shared[None] = []
    for group, (own, _, _) in per_group.items():
        if not own:
            continue
        a = [0, 0, 0, 0, False]
        mine = []
        for row in own:
            name, n, train, b, role = row
            if name in multi:
                mine.append(row)
                continue
            if role != "param":
                if role == "buffer":
                    a[2] += n
                continue
            a[0] += n
            if train:
                a[1] += n
            if b is None:
                if n:
                    a[4] = True
            else:
                a[3] += b
        for path in [None] + [group[:i] for i in range(1, len(group) + 1)]:
            t = acc[path]
            t[0] += a[0]
            t[1] += a[1]
            t[2] += a[2]
            t[3] += a[3]
            t[4] = t[4] or a[4]
            if mine:
                shared[path].extend(mine)
    out = {}
    for path, (total, trainable, buffers, nbytes, unknown) in acc.items():
        m = _sum(shared[path])
        total += m["params"]
        trainable += m["trainable_params"]
        out[path] = {"params": total, "trainable_params": trainable,
                     "non_trainable_params": total - trainable,
                     "param_bytes": None if unknown or m["param_bytes"] is None
                     else nbytes + m["param_bytes"],
                     "buffers": buffers + m["buffers"]}
    return out


def _param_rollups_by_rows(g: Graph, members: dict, stats: dict[int, _Row]) -> dict:
    """_param_rollups for a graph whose shared weight names carry different rows: each
    path's rows in node order, as count_params_inplace lists them."""
    rows_of: dict = {path: [] for path in members}
    every: list[_Row] = []
    for node in g.nodes.values():
        if node.params:
            rows = [stats[id(p)] for p in node.params]
            group = node.group
            for i in range(1, len(group) + 1):
                rows_of[group[:i]].extend(rows)
            every.extend(rows)
    out = {path: _sum(rows) for path, rows in rows_of.items()}
    out[None] = _sum(every)
    return out
