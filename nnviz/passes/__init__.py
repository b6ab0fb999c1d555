"""Analysis passes: pure functions Graph -> Graph (shapes, params, FLOPs, collapse, fold)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnviz.ir import Graph


@dataclass
class ViewOptions:
    """How much of the graph to draw; shared by the drawing, summary and the viewer."""

    # torchinfo's / torchview's depth: groups N levels down are drawn as boxes (1: the
    # model's direct children; 0: the whole model as one box); None: the automatic view
    # (nnviz.passes.autoview).
    depth: int | None = None
    expand: tuple[str, ...] = ()  # group paths ("encoder/layer.3") always expanded
    collapse: tuple[str, ...] = ()  # group paths always collapsed
    fold: bool | None = None  # fold repeated blocks; None = automatic above a size threshold
    hide_noise: bool = False  # splice out shape-plumbing ops
    dims: dict[str, int] = field(default_factory=dict)  # values for symbolic dims


def annotate(graph: Graph, dims: dict[str, int] | None = None) -> Graph:
    """Structure from names (flat graphs), shapes, parameter roll-ups and FLOPs: the
    analysis every output wants.

    Returns a new graph; the input is never mutated.
    """
    return _annotate(graph, dims)[0]


def _annotate(graph: Graph, dims: dict[str, int] | None, owned: bool = False,
              collect: bool = False) -> tuple[Graph, list[str], tuple[dict, dict] | None]:
    """annotate, the annotated graph's topological order (the view passes reuse it: no pass
    of annotate changes which node feeds which) and, when that order is the node order, the
    groups' first node indices and members in it (fold's _children, collected by the
    counting walk; only with ``collect``: it costs the walk a tenth). ``owned``: the caller
    hands ``graph`` over, so it is annotated in place instead of copied first."""
    from nnviz.passes.counts import count_params_and_flops_inplace
    from nnviz.passes.shapes import infer_shapes_inplace
    from nnviz.passes.structure import infer_structure_inplace
    from nnviz.passes.util import copy_graph, topological_order
    from nnviz.util import paused_gc

    with paused_gc():
        if owned:
            g = graph
            for node in g.nodes.values():  # what copy_graph would normalise
                if type(node.group) is not tuple:
                    node.group = tuple(node.group)
        else:
            g = copy_graph(graph)  # one copy; the analyses then work on it in place
        order = topological_order(g)
        # Flat graphs get groups from their layer names first, so the roll-ups cover them.
        g = infer_structure_inplace(g, order=order)
        g = infer_shapes_inplace(g, order)
        layout = ({}, {}) if collect and order == list(g.nodes) else None
        return count_params_and_flops_inplace(g, dims, layout), order, layout


def view_transforms(graph: Graph, options: ViewOptions, max_boxes: int | None = None,
                    collapse_folded: bool = True) -> Graph:
    """Noise hiding, folding and collapsing of an annotated graph (a new graph).

    With ``options.depth`` None, folded blocks become one box (``collapse_folded``) and groups
    are collapsed to the deepest level that leaves at most ``max_boxes`` boxes.
    """
    return _view_transforms(graph, options, max_boxes, collapse_folded, owned=False)


def _view_transforms(graph: Graph, options: ViewOptions, max_boxes: int | None,
                     collapse_folded: bool, owned: bool,
                     order: list[str] | None = None,
                     layout: tuple[dict, dict] | None = None) -> Graph:
    """view_transforms; ``owned`` says the caller hands ``graph`` over (no one else holds
    it), so the passes may work on it in place instead of copying it first; ``order`` is
    ``topological_order(graph)`` when the caller has it (passed on while the wiring stays),
    ``layout`` the groups' (first index, members) in it (see _annotate)."""
    from nnviz.passes.autoview import choose_closed
    from nnviz.passes.collapse import (
        AUTO_MAX_BOXES,
        auto_depth,
        collapse_groups_inplace,
        parse_path,
    )
    from nnviz.passes.fold import fold_with_order, will_fold
    from nnviz.passes.noise import hide_noise
    from nnviz.passes.util import copy_graph
    from nnviz.util import paused_gc

    with paused_gc():
        g = graph
        if options.hide_noise:
            g, owned, order, layout = hide_noise(g), True, None, None
        # Fold before collapsing: block signatures use the blocks' full inner structure, and
        # a folded block collapsed to one box then carries its "×N".
        if will_fold(g, options.fold):
            if not owned:
                g, owned = copy_graph(g), True
            g, order = fold_with_order(g, options.fold, order=order, layout=layout)
        collapse = tuple(options.collapse)
        depth: int | None = None  # collapse_groups' depth: groups longer than this are boxes
        if options.depth is not None:
            if not owned:
                g, owned = copy_graph(g), True
            if options.depth == 0:
                wrap_in_root_group(g)  # the whole model is the one group at level 1
            depth = max(options.depth - 1, 0)
        elif collapse_folded:
            # The drawing's automatic view (nnviz.passes.autoview): folds, plumbing and plain
            # leaf groups are boxes, the rest opens to the deepest level that fits, and boxes
            # hiding a skip connection open while the drawing still fits a page.
            if not owned:
                g, owned = copy_graph(g), True
            limit = AUTO_MAX_BOXES if max_boxes is None else max_boxes
            closed = choose_closed(g, limit, order=order)
            if closed is None:  # small enough to draw whole; a fold stays its "×N" box
                closed = {p for p, grp in g.groups.items() if grp.attrs.get("repeat")}
            # What the user expands opens whole: nothing below it stays closed by the rule.
            wanted = [parse_path(e) for e in options.expand]
            collapse += tuple(sorted(p for p in closed
                                     if not any(p[:len(e)] == e for e in wanted)))
        else:
            # Tables (summary): the deepest uniform level that fits, folds open under
            # their "×N" header.
            depth = auto_depth(g) if max_boxes is None else auto_depth(g, max_boxes)
        if not owned:
            g = copy_graph(g)  # the result is always a new graph
        if depth is None and not collapse and not options.expand:
            return g
        return collapse_groups_inplace(g, depth, options.expand, collapse)


def wrap_in_root_group(g: Graph) -> None:
    """Put every operator (not the inputs/outputs) in one group named after the model, so
    depth 0 draws the model as one box carrying the model's totals."""
    from nnviz.ir import Group

    root = (g.name or "model",)
    for node in g.nodes.values():
        if node.kind != "io":
            node.group = root + tuple(node.group)
    groups = {root: Group(root, label=root[0], op=root[0],
                          attrs={k: v for k, v in g.meta.items() if k in _ROLLUPS})}
    for path, grp in g.groups.items():
        groups[root + path] = Group(root + path, grp.label, grp.op, grp.attrs)
    g.groups = groups


# The annotated roll-ups a group carries (passes.params and passes.flops).
_ROLLUPS = ("params", "trainable_params", "non_trainable_params", "param_bytes", "buffers",
            "flops", "macs", "flops_unknown")


def prepare(graph: Graph, options: ViewOptions | None = None, *, owned: bool = False) -> Graph:
    """annotate + the view transforms (noise hiding, fold, collapse) for drawing.

    ``owned``: the caller hands ``graph`` over (nothing reads it afterwards, as when it was
    just loaded for this drawing): the passes then work on it in place, which saves copying
    every node (a quarter of a second at 50k nodes). Otherwise ``graph`` is never mutated.
    """
    from nnviz.util import paused_gc

    options = options or ViewOptions()
    # One pause for both stages: the collector, turned back on, first scans every object
    # allocated while it was off; by the end of the view passes most of annotate's copy (a
    # folded stack's nodes) is freed already, so that scan is short.
    with paused_gc():
        # annotate's result is a fresh graph nobody else holds: the view passes may reuse it.
        annotated, order, layout = _annotate(graph, options.dims, owned, collect=True)
        return _view_transforms(annotated, options, None, True, owned=True, order=order,
                                layout=layout)
