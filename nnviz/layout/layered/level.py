"""One flat sub-problem of the compound layout: the items of one group (or of the top level).

Items are real boxes (nodes, stubs, collapsed or already laid-out child groups). A framed
group also has ports: one in-port per outside source feeding it (on the frame's top border)
and one out-port per inside node feeding the outside (on the bottom border). The phases run
in order on integer-indexed lists, one module each: cycle breaking + layers (level_rank.py)
-> long-edge dummies (dummies.py) -> crossing reduction (ordering.py) -> x coordinates
(position.py) and layer bands (bands.py) -> routing (routing.py); problem.py holds the
input/output contract. Everything here is in "TB space" (flow along +y); the
engine rotates the result for other directions.
"""

from __future__ import annotations

from collections.abc import Callable

from nnviz.layout.layered.bands import place_bands, tall_items_cut
from nnviz.layout.layered.dummies import split_long_edges
from nnviz.layout.layered.level_rank import rank_level
from nnviz.layout.layered.ordering import count_crossings, order_level
from nnviz.layout.layered.position import assign_x
from nnviz.layout.layered.problem import LevelInput, LevelResult
from nnviz.layout.layered.routing import route_level

__all__ = ["LevelInput", "LevelResult", "solve_level"]

# up to this many vertices (boxes and long-edge dummies) a level whose ranking lifted a side
# graph is also solved without the lift, and the better of the two kept
LIFT_CHECK_MAX = 20000


def solve_level(inp: LevelInput, budget_scale: float = 1.0,
                no_span: frozenset[int] = frozenset(),
                phase: Callable[[str], None] | None = None, lift: bool = True) -> LevelResult:
    """Lay out one level; ``phase(name)`` is called as each phase starts (progress).

    ``no_span`` lists tall items to keep in one layer: when a tall item would be cut by an
    edge (bands.tall_items_cut), the level is solved again with it in ``no_span``.
    """
    say = phase or (lambda name: None)
    n = len(inp.widths)
    nbase = n + inp.n_in + inp.n_out
    say("ranking")
    ranked = rank_level(inp, no_span, lift)
    pg = split_long_edges(inp, ranked)
    say("crossing reduction")
    roots = list(range(n, n + inp.n_in)) + [v for v in range(n) if not pg.up[v]]
    has_off = any(so or do for _, _, so, do in inp.edges)
    layers = order_level(pg, roots, ranked.nlayers, has_off, budget_scale)
    say("coordinates")
    is_aux = inp.aux or [False] * n
    nv = pg.nv
    bend = [pg.dummy[v] and v >= nbase for v in range(nv)]  # long-edge dummies only
    free = [v < n and is_aux[v] for v in range(nv)]
    spread = inp.spread or [False] * n
    slide = [v < n and spread[v] for v in range(nv)]  # boxes (not frames, stubs, ports)
    x = assign_x(layers, pg.up, pg.down, pg.up_off, pg.down_off, pg.width, pg.dummy,
                 inp.node_sep, inp.edge_sep, bend, free, slide)
    bad = tall_items_cut(inp, ranked, pg, x)
    if bad:  # lay those items out in one layer instead
        return solve_level(inp, budget_scale, no_span | frozenset(bad), phase, lift)
    geo = place_bands(inp, ranked, pg, layers, x)
    say("routing")
    paths = route_level(inp, pg, geo)
    port_x = [geo.xs[v] for v in range(n, nbase)]
    res = LevelResult(geo.width, geo.height, geo.xs[:n], geo.ys[:n], port_x, paths,
                      title_extra=geo.title_extra)
    if ranked.lifted or not lift:
        pos = [0.0] * nv
        for layer in layers:
            for i, v in enumerate(layer):
                pos[v] = float(i)
        res.crossings = count_crossings(layers, pg.up, pos)
    if ranked.lifted and nv <= LIFT_CHECK_MAX:
        # A lifted side graph shortens the layer it left, but where its long edge passes the
        # graphs below they can stand in a staircase: the level is solved both ways and the
        # one with fewer crossings, then the smaller area, is kept.
        alt = solve_level(inp, budget_scale, no_span, phase, lift=False)
        if (alt.crossings, alt.width * alt.height) < (res.crossings, res.width * res.height):
            return alt
    return res
