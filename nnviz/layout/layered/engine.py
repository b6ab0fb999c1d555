"""The layered engine: compound (group-by-group) Sugiyama layout of an nnviz Graph.

Groups are laid out bottom-up (DESIGN.md "Hierarchy first"): every framed group is one flat
sub-problem (``level.solve_level``) whose items are its own nodes and its already laid-out
child groups; edges crossing a frame pass through ports on its top/bottom border. Identical
sub-problems (the 48 blocks of a transformer) are solved once and reused. High-fan-out
auxiliary inputs become stubs (``aux``). The result is computed in TB space and rotated at
the end for LR/BT/RL, then edges are smoothed into splines.

The phases, one module each: box sizes (boxes.py) -> level tree and edges cut at frame
borders (tree.py) -> every level solved bottom-up (this module, with level.py running the
per-level phases) -> absolute placement, rotation and routing into a Layout (place.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from nnviz.ir import Graph
from nnviz.layout.labels import GENERIC, group_title
from nnviz.layout.layered.boxes import Key, measure_nodes, measure_stubs
from nnviz.layout.layered.level import LevelInput, LevelResult, solve_level
from nnviz.layout.layered.place import assemble
from nnviz.layout.layered.progress import LayoutProgress
from nnviz.layout.layered.tree import LevelTree, build_tree, cut_edges
from nnviz.layout.model import Layout
from nnviz.passes.collapse import child_runs
from nnviz.text import line_height, split_title, text_width
from nnviz.theme import Theme


def group_label(graph: Graph, path: tuple[str, ...], parent_len: int,
                runs: Callable[[tuple[str, ...]], list]) -> str:
    parts = []
    for i in range(parent_len + 1, len(path) + 1):
        g = graph.groups.get(path[:i])
        parts.append(g.label if g is not None and g.label else path[i - 1])
    label = "/".join(parts)
    g = graph.groups.get(path)
    if g is None or not g.op:
        return label
    # a bare container says what it holds instead of "(Sequential)", or nothing when its
    # name already says what it is ("features"), as a collapsed box's title does
    title = group_title(graph, path, g.op, runs(path) if g.op in GENERIC else None)
    if title != path[-1] and title not in label:
        label = f"{label} ({title})"
    return label


def frame_runs(graph: Graph, paths: list[tuple[str, ...]]
               ) -> Callable[[tuple[str, ...]], list]:
    """The children runs (passes.collapse.child_runs) of the framed groups whose class is a
    bare container, read in one pass over the nodes and only when there is such a frame."""
    wanted = {p for p in paths if (g := graph.groups.get(p)) is not None and g.op in GENERIC}
    inside: dict[tuple[str, ...], list] = {p: [] for p in wanted}
    if wanted:
        for node in graph.nodes.values():
            for k in range(1, len(node.group) + 1):
                bucket = inside.get(node.group[:k])
                if bucket is not None:
                    bucket.append(node)
    return lambda p: child_runs(graph.groups, p, inside.get(p, []))


def layout_layered(graph: Graph, theme: Theme, direction: str = "TB",
                   aux: bool = True) -> Layout:
    """Lay out ``graph`` top-down (or LR/BT/RL) with groups as frames."""
    progress = LayoutProgress(len(graph.nodes) + 1)
    try:
        direction = direction.upper()
        lines, size = measure_nodes(graph, theme)
        tree = build_tree(graph)
        pieces, stub_of = cut_edges(graph, tree, aux)
        measure_stubs(graph, stub_of, theme, lines, size)
        runs = frame_runs(graph, [p for p in tree.levels if p])
        labels = {p: group_label(graph, p, len(tree.parent[p]), runs) for p in tree.levels
                  if p}
        title_lines = solve_levels(tree, size, labels, theme, direction, progress)
        progress.phase("placing and routing")
        lay = assemble(tree, pieces, stub_of, lines, size, labels, theme, direction)
        for fr in lay.groups:
            fr.lines = list(title_lines.get(fr.path, ()))
        return lay
    finally:
        progress.close()


def _frame_title(title: list[str], direction: str, band: float, gpad: float,
                 label_size: float) -> tuple[tuple[float, float, float, float],
                                             tuple[float, float], float, str]:
    """(padding, minimum size, title patch width, title side) of a level whose frame is
    titled ``title`` (its lines; none for the unframed top level), in TB space."""
    if not title:
        return (0.0, 0.0, 0.0, 0.0), (0.0, 0.0), 0.0, ""
    # the title's patch (render/scene.py: widest line + 4, 6 px in from the frame's side)
    title_w = max(text_width(t, label_size) for t in title) + 4
    label_w = title_w + 12
    if direction == "TB":
        return (band, gpad, gpad, gpad), (label_w, 0.0), title_w, "top"
    if direction == "BT":
        return (gpad, gpad, band, gpad), (label_w, 0.0), title_w, "bottom"
    # LR / RL: TB-space left is the final top (no port edge runs there)
    return (gpad, gpad, gpad, band), (0.0, label_w), title_w, ""


def _solve_cached(inp: LevelInput, cache: dict[tuple, LevelResult], serial: dict[int, int],
                  progress: LayoutProgress | None) -> LevelResult:
    """``solve_level(inp)``, once per distinct input (the 48 blocks of a transformer)."""
    sig = inp.signature()
    res = cache.get(sig)
    if res is None:
        res = solve_level(inp, phase=progress.phase if progress is not None else None)
        cache[sig] = res
        serial[id(res)] = len(serial)
    return res


def solve_levels(tree: LevelTree, size: dict[Key, tuple[float, float]],
                 labels: dict[tuple[str, ...], str], theme: Theme, direction: str,
                 progress: LayoutProgress) -> dict[tuple[str, ...], list[str]]:
    """Solve every level bottom-up (children before parents), reusing identical ones:
    sets ``Level.result`` in TB space. Returns the frames whose title is drawn on two lines
    (path -> the lines)."""
    levels, group_first = tree.levels, tree.first
    horizontal = direction in ("LR", "RL")
    sp = theme["spacing"]
    gt = theme["group"]
    label_size = float(gt["label_size"])
    band = round(line_height(label_size) + 4 + 6, 2)
    band2 = round(2 * line_height(label_size) + 4 + 6, 2)  # a title on two lines
    title_lines: dict[tuple[str, ...], list[str]] = {}
    gpad = float(gt["padding"])
    cache: dict[tuple, LevelResult] = {}
    serial: dict[int, int] = {}  # id(result) -> creation number (deterministic class id)
    order = sorted(levels, key=lambda p: (-len(p), group_first.get(p, -1)))
    titled: dict[str | None, tuple] = {}  # title -> _frame_title of it
    done = 0
    for p in order:
        lv = levels[p]
        # sorted() is stable: ties keep item order, as a (key, index) key would
        perm = sorted(range(len(lv.items)), key=lv.order_key.__getitem__)
        lv.items = [lv.items[i] for i in perm]
        lv.index = {k: i for i, k in enumerate(lv.items)}
        n = len(lv.items)
        widths, heights, spread = [], [], []
        is_group, item_class, is_stub = [], [], []
        for k in lv.items:
            if k[0] == "g":
                r = levels[k[1]].result
                assert r is not None
                w, h = r.width, r.height  # already TB space
                item_class.append(serial[id(r)])
            else:
                w, h = size[k]
                if horizontal:
                    w, h = h, w
                item_class.append(-1)
            widths.append(w)
            heights.append(h)
            spread.append(k[0] == "n")
            is_group.append(k[0] == "g")
            is_stub.append(k[0] == "s")
        n_in = len(lv.in_ports)
        ledges = []
        for src, dst in lv.edge_refs:
            if src[0] == "port":
                s, so = n + lv.in_ports[src[1]], 0.0
            else:
                s = lv.index[src[1]]
                so = 0.0
                if src[2] is not None:
                    cr = levels[src[1][1]]
                    assert cr.result is not None
                    so = cr.result.port_x[len(cr.in_ports) + cr.out_ports[src[2]]] - widths[s] / 2
            if dst[0] == "port":
                d, do = n + n_in + lv.out_ports[dst[1]], 0.0
            else:
                d = lv.index[dst[1]]
                do = 0.0
                if dst[2] is not None:
                    cr = levels[dst[1][1]]
                    assert cr.result is not None
                    do = cr.result.port_x[cr.in_ports[dst[2]]] - widths[d] / 2
            ledges.append((s, d, so, do))
        # one measuring per distinct title (1,666 blocks' "attn" and "mlp" frames)
        label = labels[p] if p else None
        framing = titled.get(label)
        if framing is None:
            framing = titled[label] = _frame_title([label] if label is not None else [],
                                                   direction, band, gpad, label_size)
        pad, mins, title_w, title_side = framing
        inp = LevelInput(widths, heights, n_in, len(lv.out_ports), ledges, spread, is_group,
                         item_class, is_stub, bool(p),
                         pad, mins, float(sp["node_sep"]), float(sp["rank_sep"]),
                         float(sp["edge_sep"]),
                         rank_sep_straight=float(sp.get("rank_sep_straight", 0.0)),
                         title_w=title_w, title_side=title_side)
        res = _solve_cached(inp, cache, serial, progress if n > 2000 else None)
        if p and res.title_extra > 0:
            # The title is wider than the content: on two lines it costs one line of height
            # instead of that width; kept when that makes the frame smaller.
            two = split_title(labels[p], label_size)
            if len(two) == 2:
                pad, mins, title_w, title_side = _frame_title(two, direction, band2, gpad,
                                                              label_size)
                res2 = _solve_cached(replace(inp, pad=pad, min_size=mins, title_w=title_w),
                                     cache, serial, progress if n > 2000 else None)
                if res2.width * res2.height < res.width * res.height:
                    res = res2
                    title_lines[p] = two
        lv.result = res
        done += n
        progress.update(done, f"{len(levels)} groups")
    return title_lines
