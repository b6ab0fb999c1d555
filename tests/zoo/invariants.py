"""Fidelity invariants: the drawing is exactly the model.

Given the operator graph a loader produced and a view of it (``nnviz.prepare`` with some
options), these checks say whether the picture is true:

- the operator graph: no cycle in a feed-forward model, and every group (a module call, a name
  scope) is *convex*: no data path leaves it and comes back. A group that two calls of one
  module share, or a block with one of its operators left outside it (an exporter's unscoped
  node), breaks this, and collapsing or folding it would draw a loop;
- the view is a quotient of the operator graph: every operator is in exactly one box, every
  data edge between two different boxes is drawn, every drawn edge comes from a data edge
  (edges between two blocks of one folded run are the repetition itself and are not drawn);
  no cycle in a feed-forward model;
- every collapsed box and folded run holds the parameters of every operator it stands for
  (all blocks of a fold), and the totals equal the framework's own count in every view;
- the laid-out drawing draws exactly the view's edges, each pointing down (TB).

Each check returns a list of problems (empty when the drawing is true), so a test can print
all of them at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nnviz.ir import Graph
from nnviz.passes import ViewOptions, annotate, prepare
from nnviz.passes.params import param_totals

Path = tuple[str, ...]
MAX_LISTED = 6  # problems of one kind listed before "... and N more"


def _some(items: Iterable[Any], limit: int = MAX_LISTED) -> str:
    items = sorted(items, key=str)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


# ---- the operator graph ---------------------------------------------------------------------

def find_cycle(graph: Graph) -> list[str]:
    """Node ids on some cycle of the graph's data edges (empty when it is acyclic)."""
    succ = graph.successors()
    indeg = {n: 0 for n in graph.nodes}
    for outs in succ.values():
        for d in outs:
            if d != "":
                indeg[d] += 1
    queue = deque(n for n, d in indeg.items() if d == 0)
    seen = 0
    while queue:
        n = queue.popleft()
        seen += 1
        for d in succ[n]:
            indeg[d] -= 1
            if indeg[d] == 0:
                queue.append(d)
    if seen == len(indeg):
        return []
    return [n for n, d in indeg.items() if d > 0]


def group_members(graph: Graph) -> dict[Path, set[str]]:
    """Every group path (all prefixes) -> ids of the nodes inside it."""
    members: dict[Path, set[str]] = {}
    for node in graph.nodes.values():
        for i in range(1, len(node.group) + 1):
            members.setdefault(node.group[:i], set()).add(node.id)
    return members


def non_convex_groups(graph: Graph) -> dict[Path, set[str]]:
    """Groups with a data path that leaves them and comes back -> the outside nodes on such
    paths. A module call is convex; two calls merged into one group, or a block with an
    operator left outside it, are not."""
    succ = graph.successors()
    bad: dict[Path, set[str]] = {}
    for path, inside in group_members(graph).items():
        reached: set[str] = set()
        queue = deque(d for n in inside for d in succ[n] if d not in inside)
        while queue:
            n = queue.popleft()
            if n in reached:
                continue
            reached.add(n)
            queue.extend(d for d in succ[n] if d not in inside and d not in reached)
        back = {n for n in reached if any(d in inside for d in succ[n])}
        if back:
            bad[path] = back
    return bad


def check_operator_graph(graph: Graph, feed_forward: bool = True) -> list[str]:
    problems = []
    if feed_forward:
        cyc = find_cycle(graph)
        if cyc:
            problems.append(f"operator graph has a cycle through {_some(cyc)}")
    for path, back in non_convex_groups(graph).items():
        problems.append(f"group {'/'.join(path)} is not one call: data leaves it and comes "
                        f"back through {_some(back)}")
    return problems


# ---- view -> operator graph correspondence --------------------------------------------------

@dataclass
class Correspondence:
    """Which box of the view stands for each operator of the reference graph."""

    box: dict[str, str | None]  # operator id -> view node id (None: not drawn)
    blocks: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    # operator id -> ((run number, block index), ...) for every folded run it lies in
    runs: list[list[Path]] = field(default_factory=list)  # each folded run's block paths
    expanded: set[int] = field(default_factory=set)  # runs drawn open: a "×N" frame


def _siblings(ref: Graph, parent: Path, order: list[str]) -> list[Path]:
    """The child groups of ``parent`` ordered by their first operator (as fold orders them)."""
    first: dict[Path, int] = {}
    k = len(parent)
    for i, nid in enumerate(order):
        g = ref.nodes[nid].group
        if len(g) > k and g[:k] == parent:
            first.setdefault(g[:k + 1], i)
    return sorted(first, key=lambda p: (first[p], p))


def correspondence(ref: Graph, view: Graph) -> Correspondence:
    """Map every operator of ``ref`` (the finest view: annotated, noise hidden if the view
    hides it) to the box of ``view`` that draws it.

    Folded runs are read from the view (a kept block path with ``repeat`` N, on a group or on
    a collapsed box); the run is that block and the next N-1 siblings, as the fold pass chose
    them. An operator of block k > 0 is drawn by its counterpart in block 0 (same position in
    topological order), and by whatever box holds that counterpart.
    """
    order = ref.topological_order()
    pos = {nid: i for i, nid in enumerate(order)}
    # depth 0 wraps the whole model in one group named after it (all view paths get that
    # first component); read the view's paths without it.
    root = (ref.name or "model",)
    ref_tops = {n.group[:1] for n in ref.nodes.values()}
    view_paths = list(view.groups) + [tuple(n.meta["group"]) for n in view.nodes.values()
                                      if n.kind == "group" and n.meta.get("group")]
    wrapped = root not in ref_tops and any(p[:1] == root for p in view_paths)

    def unwrap(path: Path) -> Path:
        return path[1:] if wrapped and path[:1] == root else path

    kept: dict[Path, int] = {}
    for path, grp in view.groups.items():
        if grp.attrs.get("repeat"):
            kept[unwrap(path)] = int(grp.attrs["repeat"])
    for node in view.nodes.values():
        if node.meta.get("repeat") and node.meta.get("group"):
            kept[unwrap(tuple(node.meta["group"]))] = int(node.meta["repeat"])
    members: dict[Path, list[str]] = {}
    for nid in order:
        g = ref.nodes[nid].group
        for i in range(1, len(g) + 1):
            members.setdefault(g[:i], []).append(nid)
    runs: list[list[Path]] = []
    expanded: set[int] = set()
    translate: dict[Path, tuple[int, int]] = {}  # block path -> (run number, block index)
    for path in sorted(kept, key=len):  # outer runs first: inner ones live in kept blocks
        sib = _siblings(ref, path[:-1], order)
        if path not in sib:
            continue
        i = sib.index(path)
        run = sib[i:i + kept[path]]
        for k, p in enumerate(run):
            translate[p] = (len(runs), k)
        if path in view.groups or (wrapped and root + path in view.groups):
            expanded.add(len(runs))
        runs.append(run)

    def counterpart(nid: str) -> tuple[str, tuple[tuple[int, int], ...]]:
        """Follow block k > 0 -> block 0 until the operator is in no removed block."""
        where: list[tuple[int, int]] = []
        for _ in range(64):
            g = ref.nodes[nid].group
            moved = False
            for i in range(1, len(g) + 1):
                hit = translate.get(g[:i])
                if hit is None:
                    continue
                if len(where) < 64 and hit not in where:
                    where.append(hit)
                if hit[1] == 0:
                    continue
                block, first = members[g[:i]], members[runs[hit[0]][0]]
                j = block.index(nid)
                if j >= len(first):
                    return nid, tuple(where)
                nid, moved = first[j], True
                break
            if not moved:
                break
        return nid, tuple(where)

    boxes_by_group: dict[Path, str] = {}
    for node in view.nodes.values():
        # group () is the whole model drawn as one box (depth 0)
        if node.kind == "group" and node.meta.get("group") is not None:
            boxes_by_group[unwrap(tuple(node.meta["group"]))] = node.id
    box: dict[str, str | None] = {}
    blocks: dict[str, tuple[tuple[int, int], ...]] = {}
    for nid in order:
        c, where = counterpart(nid)
        blocks[nid] = where
        if c in view.nodes:
            box[nid] = c
            continue
        g = ref.nodes[c].group
        found = None
        for i in range(len(g) + 1):
            if g[:i] in boxes_by_group:
                found = boxes_by_group[g[:i]]
                break
        box[nid] = found
    del pos
    return Correspondence(box, blocks, runs, expanded)


def _same_run_other_block(a: tuple[tuple[int, int], ...],
                          b: tuple[tuple[int, int], ...]) -> bool:
    ra = dict(a)
    return any(run in ra and ra[run] != k for run, k in b)


def check_view(ref: Graph, view: Graph, feed_forward: bool = True,
               corr: Correspondence | None = None) -> list[str]:
    """The view is a quotient of ``ref``: no operator lost, no edge lost or invented, and no
    cycle in a feed-forward model."""
    problems: list[str] = []
    corr = corr or correspondence(ref, view)
    missing = [n for n, b in corr.box.items() if b is None]
    if missing:
        problems.append(f"operators drawn by no box: {_some(missing)}")
    expected: set[tuple[str, str]] = set()
    for e in ref.edges():
        bu, bv = corr.box.get(e.src), corr.box.get(e.dst)
        if bu is None or bv is None or bu == bv:
            continue
        if _same_run_other_block(corr.blocks[e.src], corr.blocks[e.dst]):
            continue  # block k -> block k+1 of one fold: the repetition itself
        expected.add((bu, bv))
    drawn = {(e.src, e.dst) for e in view.edges() if e.src != e.dst}
    lost, invented = expected - drawn, drawn - expected
    if lost:
        problems.append(f"data edges not drawn: {_some(lost)}")
    if invented:
        problems.append(f"drawn edges that are no data edge: {_some(invented)}")
    if feed_forward:
        cyc = find_cycle(view)
        if cyc:
            problems.append(f"drawing has a cycle through {_some(cyc)}")
    return problems


def check_box_params(ref: Graph, view: Graph, corr: Correspondence | None = None) -> list[str]:
    """Every collapsed box counts the parameters of everything it stands for (every block of
    a folded run; a folded box's total, not one block's). Inside a run drawn open (a frame
    with "×N") a box stands for its part of one block: the frame multiplies."""
    problems: list[str] = []
    corr = corr or correspondence(ref, view)
    held: dict[str, list] = {}
    for nid, b in corr.box.items():
        if any(run in corr.expanded and k for run, k in corr.blocks.get(nid, ())):
            continue
        if b is not None:
            held.setdefault(b, []).extend(ref.nodes[nid].params)
    for b, params in held.items():
        node = view.nodes[b]
        if node.kind != "group":
            continue
        want = param_totals(params)["params"]
        got = node.meta.get("params_total") if node.meta.get("repeat") else \
            node.meta.get("params")
        if got != want:
            problems.append(f"box {b} says {got} parameters, holds {want}")
    return problems


# ---- layout -----------------------------------------------------------------------------------

def check_layout(view: Graph, lay: Any, feed_forward: bool = True) -> list[str]:
    """Every view edge drawn once as a path, no other path; in TB each points down."""
    problems: list[str] = []
    want = {(e.src, e.dst) for e in view.edges() if e.src != e.dst}
    drawn = {(e.src, e.dst) for e in lay.edges}
    if want - drawn:
        problems.append(f"layout lost edges: {_some(want - drawn)}")
    if drawn - want:
        problems.append(f"layout invented edges: {_some(drawn - want)}")
    if lay.direction == "TB" and feed_forward:
        up = []
        for e in lay.edges:
            (_, y0), (_, y1) = e.points[0], e.points[-1]
            src = lay.nodes.get(f"{e.src}::stub::{e.dst}") or lay.nodes.get(e.src)
            dst = lay.nodes.get(e.dst)
            if y1 <= y0 or (src is not None and dst is not None and dst.cy <= src.cy):
                up.append((e.src, e.dst))
        if up:
            problems.append(f"edges pointing up: {_some(up)}")
    return problems


# ---- hide-noise ---------------------------------------------------------------------------------

def check_noise(full: Graph, hidden: Graph) -> list[str]:
    """Hiding noise only splices: every edge of the hidden graph is a path of the full graph
    through removed operators, and no edge between two kept operators is lost."""
    problems = []
    kept = set(hidden.nodes)
    succ = full.successors()
    direct = {(e.src, e.dst) for e in full.edges() if e.src in kept and e.dst in kept}
    drawn = {(e.src, e.dst) for e in hidden.edges()}
    if direct - drawn:
        problems.append(f"hide-noise lost edges: {_some(direct - drawn)}")
    invented = []
    for u, v in drawn - direct:
        queue, seen, ok = deque(succ.get(u, ())), set(), False
        while queue:
            n = queue.popleft()
            if n == v:
                ok = True
                break
            if n in seen or n in kept:
                continue
            seen.add(n)
            queue.extend(succ[n])
        if not ok:
            invented.append((u, v))
    if invented:
        problems.append(f"hide-noise invented edges: {_some(invented)}")
    return problems


def _has_plumbing(view: Graph) -> bool:
    return any(grp.attrs.get("plumbing") for grp in view.groups.values()) or \
        any(n.meta.get("group_op") == "Plumbing" for n in view.nodes.values())


def _with_plumbing(ref: Graph) -> Graph:
    from nnviz.passes.autoview import group_plumbing
    from nnviz.passes.util import copy_graph

    g = copy_graph(ref)
    group_plumbing(g)
    return g


# ---- everything at once ------------------------------------------------------------------------

VIEWS: dict[str, ViewOptions] = {
    "default": ViewOptions(),
    "depth0": ViewOptions(depth=0),
    "depth1": ViewOptions(depth=1),
    "depth2": ViewOptions(depth=2),
    "full": ViewOptions(depth=99, fold=False),
    "full-fold": ViewOptions(depth=99, fold=True),
    "default-nofold": ViewOptions(fold=False),
    "default-noise": ViewOptions(hide_noise=True),
    "depth1-noise": ViewOptions(depth=1, hide_noise=True),
}

# Kinds of invariant, each a test of its own (a bug in one does not hide the others):
FAMILIES = ("structure", "noise", "quotient", "box-params", "totals", "layout")


@dataclass
class Result:
    boxes: dict[str, int] = field(default_factory=dict)  # view name -> box count
    totals: dict[str, tuple[Any, int]] = field(default_factory=dict)  # view -> (meta, prop)
    problems: dict[str, list[str]] = field(default_factory=dict)  # "family:view" -> problems

    def family(self, name: str) -> list[str]:
        return [f"[{k}] {p}" for k, ps in self.problems.items() if k.split(":")[0] == name
                for p in ps]

    @property
    def ok(self) -> bool:
        return not any(self.problems.values())

    def text(self) -> str:
        return "\n".join(f"[{k}] {p}" for k, ps in self.problems.items() for p in ps)


def check_all(graph: Graph, expected_params: int | None, feed_forward: bool = True,
              views: dict[str, ViewOptions] | None = None, layout_views: Iterable[str] = (),
              ) -> Result:
    """Every invariant on ``graph`` (a loader's output) over several views."""
    from nnviz.passes.noise import hide_noise

    res = Result()
    res.problems["structure"] = check_operator_graph(graph, feed_forward)
    ann = annotate(graph)
    noisy = hide_noise(ann)
    res.problems["noise"] = check_noise(ann, noisy)
    tot = []
    if expected_params is not None and ann.meta.get("params") != expected_params:
        tot.append(f"annotated total {ann.meta.get('params')} != framework {expected_params}")
    regrouped: dict[bool, Graph] = {}
    for name, opts in (views or VIEWS).items():
        view = prepare(graph, opts)
        ref = noisy if opts.hide_noise else ann
        if _has_plumbing(view):
            # The automatic view gathers mask/position side computations into new "plumbing"
            # groups: compare with the operator graph grouped the same way, and those groups
            # must be convex like any other (else the box would draw a loop).
            if opts.hide_noise not in regrouped:
                regrouped[opts.hide_noise] = _with_plumbing(ref)
                res.problems[f"quotient:plumbing{'-noise' if opts.hide_noise else ''}"] = [
                    f"plumbing {p}" for p in check_operator_graph(regrouped[opts.hide_noise],
                                                                  feed_forward)
                    if "plumbing" in p]
            ref = regrouped[opts.hide_noise]
        res.boxes[name] = len(view.nodes)
        res.totals[name] = (view.meta.get("params"), view.total_params)
        corr = correspondence(ref, view)
        res.problems[f"quotient:{name}"] = check_view(ref, view, feed_forward, corr)
        # A box's total covers its whole module, also what hide-noise spliced out (a class
        # token read by a Concat is still the embeddings' parameter): count on the graph
        # before noise hiding.
        if opts.hide_noise:
            full = _with_plumbing(ann) if _has_plumbing(view) else ann
            res.problems[f"box-params:{name}"] = check_box_params(full, view)
        else:
            res.problems[f"box-params:{name}"] = check_box_params(ref, view, corr)
        if expected_params is not None:
            for label, value in (("meta['params']", view.meta.get("params")),
                                 ("total_params", view.total_params)):
                if value != expected_params:
                    tot.append(f"{name}: {label} {value} != framework {expected_params}")
        if name in layout_views:
            from nnviz.layout import layout

            res.problems[f"layout:{name}"] = check_layout(view, layout(view), feed_forward)
    res.problems["totals"] = tot
    return res
