"""Analysis passes: pure functions Graph -> Graph (shapes, params, FLOPs, collapse, fold)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nnviz.ir import Graph


@dataclass
class ViewOptions:
    """How much of the graph to draw; shared by the drawing, summary and the viewer."""

    depth: int | None = None  # groups deeper than this are drawn as one box
    expand: tuple[str, ...] = ()  # group paths ("encoder/layer.3") always expanded
    collapse: tuple[str, ...] = ()  # group paths always collapsed
    fold: bool | None = None  # fold repeated blocks; None = automatic above a size threshold
    hide_noise: bool = False  # splice out shape-plumbing ops
    dims: dict[str, int] = field(default_factory=dict)  # values for symbolic dims


def annotate(graph: Graph, dims: dict[str, int] | None = None) -> Graph:
    """Shapes, parameter roll-ups and FLOPs: the analysis every output wants.

    Returns a new graph; the input is never mutated.
    """
    from nnviz.passes.flops import count_flops_inplace
    from nnviz.passes.params import count_params_inplace
    from nnviz.passes.shapes import infer_shapes_inplace
    from nnviz.passes.util import copy_graph
    from nnviz.util import paused_gc

    with paused_gc():
        g = copy_graph(graph)  # one copy; the three analyses then work on it in place
        return count_flops_inplace(count_params_inplace(infer_shapes_inplace(g)), dims)


def view_transforms(graph: Graph, options: ViewOptions, max_boxes: int | None = None,
                    collapse_folded: bool = True) -> Graph:
    """Noise hiding, folding and collapsing of an annotated graph (a new graph).

    With ``options.depth`` None, folded blocks become one box (``collapse_folded``) and groups
    are collapsed to the deepest level that leaves at most ``max_boxes`` boxes.
    """
    return _view_transforms(graph, options, max_boxes, collapse_folded, owned=False)


def _view_transforms(graph: Graph, options: ViewOptions, max_boxes: int | None,
                     collapse_folded: bool, owned: bool) -> Graph:
    """view_transforms; ``owned`` says the caller hands ``graph`` over (no one else holds
    it), so the passes may work on it in place instead of copying it first."""
    from nnviz.passes.collapse import auto_depth, collapse_groups_inplace
    from nnviz.passes.fold import fold_repeats_inplace, will_fold
    from nnviz.passes.noise import hide_noise
    from nnviz.passes.util import copy_graph
    from nnviz.util import paused_gc

    with paused_gc():
        g = graph
        if options.hide_noise:
            g, owned = hide_noise(g), True
        # Fold before collapsing: block signatures use the blocks' full inner structure, and
        # a folded block collapsed to one box then carries its "×N".
        if will_fold(g, options.fold):
            if not owned:
                g, owned = copy_graph(g), True
            g = fold_repeats_inplace(g, options.fold)
        depth = options.depth
        collapse = tuple(options.collapse)
        if depth is None:
            # At default settings a folded block is one "×N" box (expand it with --expand
            # PATH or --depth); whatever is still too big is collapsed to the deepest level
            # that fits.
            if collapse_folded:
                collapse += tuple("/".join(p) for p, grp in g.groups.items()
                                  if grp.attrs.get("repeat"))
            if collapse:
                if not owned:
                    g, owned = copy_graph(g), True
                g = collapse_groups_inplace(g, None, options.expand, collapse)
            depth = auto_depth(g) if max_boxes is None else auto_depth(g, max_boxes)
        if not owned:
            g = copy_graph(g)  # the result is always a new graph
        if depth is None and not collapse and not options.expand:
            return g
        return collapse_groups_inplace(g, depth, options.expand, collapse)


def prepare(graph: Graph, options: ViewOptions | None = None) -> Graph:
    """annotate + the view transforms (noise hiding, fold, collapse) for drawing."""
    options = options or ViewOptions()
    # annotate's result is a fresh graph nobody else holds: the view passes may reuse it.
    return _view_transforms(annotate(graph, options.dims), options, None, True, owned=True)
