"""The ``blocks`` paper style (NN-SVG's AlexNet/LeNet, PlotNeuralNet look): 3-D boxes.

Every unit of the paper path (nnviz.layout.paper_path: conv, pool, dense, attention,
collapsed or folded groups, ...) becomes a box sized by its output tensor: height ~ spatial
height (or sequence length), depth (drawn obliquely) ~ spatial width, thickness along the
flow ~ channels (or features). Sizes are proportional to the figure's largest dimension on
a linear, square-root (default) or log scale, clamped so a 7-pixel map stays visible.
Activations and norms ride along and are named in the label; residual and skip connections
are arcs over the boxes (under PlotNeuralNet's ResNet/UNet figures' rule: one main path,
skips above it). Flow is left to right (labels under the boxes) or top to bottom (labels to
the right).

The same engine draws the ``neurons`` style's convolutional front (nnviz.layout.neurons
passes its columns in ``columns``): one sequence, one centre line, one set of arcs.
"""

from __future__ import annotations

import math
from typing import Any

from nnviz.errors import NnvizError
from nnviz.ir import Graph, Node
from nnviz.layout.labels import activation_name, merged_overlay, overlay_lines
from nnviz.layout.model import EdgePath, LabelLine, Layout, NodeBox
from nnviz.layout.paper_path import (
    PaperPath,
    Skip,
    Unit,
    display_names,
    is_concat_join,
    layer_title,
    paper_kind,
    paper_path,
    short_op,
)
from nnviz.layout.ushape import BOTTOM, DOWN, UP, UShape, find_u
from nnviz.text import line_height, text_width, truncate
from nnviz.theme import Theme, paper_settings

PROPORTIONS = ("auto", "sqrt", "linear", "log")
LABEL_WRAP = 96.0  # px: label lines wrap at this width (a box label, not a paragraph)
MAX_LINES = 3  # per label part; a hostile 200-character name ends with an ellipsis
LABEL_GAP = 8.0  # px between the boxes and their labels
MIN_ARROW = 14.0  # px: shortest arrow between two boxes
ARC_GAP = 10.0  # px between the highest box and the first arc
ARC_PITCH = 9.0  # px between nested arcs
SYMBOLIC_SIZE = 16  # how big an unknown or symbolic dim is drawn
# The legend's entries, in this order, named as papers name them; the input is not listed
# (its box says "Input").
LEGEND = {"embedding": "embedding", "conv": "conv", "pool": "pool", "reduce": "reduce",
          "attention": "attention", "recurrent": "recurrent", "linear": "dense",
          "norm": "norm", "activation": "activation", "elementwise": "elementwise",
          "reshape": "reshape", "other": "other"}
SWATCH = 8.0  # px: the legend's colour squares
ROW_GAP = 16.0  # px between two rows of a wrapped figure (the return arrow runs in it)
ROW_RETURN = 12.0  # px: gutter left and right of wrapped rows for the return arrow
CUT_ARC = 40.0  # px: what splitting one skip arc over two rows costs when choosing cuts
JOIN_R = 4.0  # px: radius of the concatenation mark where a skip joins the decoder

Dim = int | str | None


def _settings(theme: Theme) -> dict[str, Any]:
    return paper_settings(theme, "blocks")


def _dims(graph: Graph, node: Node) -> tuple[str, Dim, Dim, Dim]:
    """(what, channels, height, width) of the node's output, batch dim dropped.

    ``what`` is "map" for feature maps (C, H, W), "seq" for sequences (features, length),
    "vector" for flat features, or "unknown".
    """
    from nnviz.passes.util import is_channels_last

    tid = node.outputs[0] if node.outputs else (node.inputs[0] if node.inputs else None)
    tensor = graph.tensors.get(tid) if tid else None
    shape = tensor.shape if tensor is not None else None
    if not shape:
        return "unknown", None, None, None
    # Symbolic dims ("seq") stay as names for the label; sizes treat them as medium.
    dims: list[Dim] = [d if (isinstance(d, int) and d > 0) or (isinstance(d, str) and d)
                       else None for d in shape]
    rest = dims[1:] if len(dims) > 1 else dims
    channels_last = is_channels_last(graph, node)
    if node.kind == "io" and len(rest) == 3 and isinstance(rest[0], int) \
            and isinstance(rest[2], int):
        # An input image: the small dim is the channel axis (3 for RGB), whatever the format.
        channels_last = rest[2] < rest[0]
    if len(rest) >= 3:
        if channels_last:
            h, w, c = rest[-3], rest[-2], rest[-1]
        else:
            c, h, w = rest[0], rest[-2], rest[-1]
        return "map", c, h, w
    if len(rest) == 2:
        if node.kind == "conv" or (node.kind == "pool" and not channels_last):
            c, length = (rest[1], rest[0]) if channels_last else (rest[0], rest[1])
            return "cmap", c, length, 1
        return "seq", rest[-1], rest[0], 1  # a sequence: length x features
    return "vector", rest[0], None, None


def _fmt(*dims: Dim) -> str:
    return "\u00d7".join("?" if d is None else str(d) for d in dims)


def _kernel(graph: Graph, node: Node) -> str:
    """"3×3" (with "/2" for a stride) for convolutions and pools, "" when unknown."""
    from nnviz.passes.util import as_list, kernel_param
    from nnviz.shape_rules import weights_last

    if node.kind not in ("conv", "pool"):
        return ""
    k = node.canon.get("kernel")
    if not isinstance(k, (list, tuple)) and node.kind == "conv":
        w = kernel_param(node)
        if w is not None and w.shape is not None and len(w.shape) >= 3:
            # Keras stores (k..., in, out); ONNX and torch (out, in, k...).
            k = list(w.shape[:-2] if weights_last(graph, node) else w.shape[2:])
    if not isinstance(k, (list, tuple)) or not k or not all(isinstance(v, int) for v in k):
        return ""
    text = "\u00d7".join(str(v) for v in k)
    s = as_list(node.canon.get("stride"), len(k))
    if s and any(v > 1 for v in s):
        text += "/" + (str(s[0]) if len(set(s)) == 1 else "\u00d7".join(map(str, s)))
    return text


def wrap(text: str, size: float, max_width: float, bold: bool = False,
         max_lines: int = MAX_LINES) -> list[str]:
    """Lines of at most ``max_width`` px, broken after ' ', '/', '.', '_', '-' or '×' where
    possible (anywhere otherwise); the last allowed line ends with an ellipsis if cut."""
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines:
        if text_width(rest, size, bold) <= max_width:
            lines.append(rest)
            rest = ""
            break
        # the longest prefix that fits
        n = 1
        lo, hi = 1, len(rest)
        while lo <= hi:
            mid = (lo + hi) // 2
            if text_width(rest[:mid], size, bold) <= max_width:
                n, lo = mid, mid + 1
            else:
                hi = mid - 1
        cut = max((rest.rfind(ch, 0, n) for ch in " /._-\u00d7"), default=-1) + 1
        space = rest.rfind(" ", 0, n) + 1
        if space > n // 3:  # between words first: "AvgPool2d | 2×2/2", not "2× | 2/2"
            cut = space
        if cut <= n // 3:
            # or before a capital inside a word ("Multihead|Attention"), but not where a
            # separator breaks ("Conv2d-BN-|ReLU6", not "Conv2d-BN-Re|LU6")
            cut = max(cut, max((i for i in range(1, n)
                                if rest[i].isupper() and rest[i - 1].islower()), default=0))
        if cut <= n // 3:  # no good break point: run on to the next space if that is short
            space = rest.find(" ", n)
            end = space if space > 0 else len(rest)
            cut = end if text_width(rest[:end], size, bold) <= max_width * 1.35 else n
        if rest[:cut].rstrip().endswith(" +"):  # "Linear | + Tanh", not "Linear + | Tanh"
            cut = len(rest[:cut].rstrip()) - 1
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        lines[-1] = truncate(lines[-1] + rest, size, max_width, bold)
    return [ln for ln in lines if ln] or [text[:0]]


def _title(graph: Graph, node: Node, repeat: int = 0, title: str = "") -> str:
    title = title or layer_title(graph, node)
    kernel = _kernel(graph, node)
    if kernel:
        # "Conv 3×3/2", not "Conv2d 3×3/2": the kernel already says how many spatial axes
        # there are, and the bold title is the widest line of most labels, so it sets how
        # far apart the boxes of a column-width figure stand
        rank = kernel.split("/")[0].count("\u00d7") + 1
        if title.lower().endswith(f"{rank}d") and len(title) > 2 and \
                not title[-3].isdigit():
            title = title[:-2]
        title += f" {kernel}"
    # ×N: a folded box, or the only box of a folded group (MobileNetV2's "features/5" holds
    # one collapsed conv stack and a residual add)
    repeat = node.meta.get("repeat") or repeat
    if repeat:
        title += f" \u00d7{repeat}"
    return title


def unit_lines(graph: Graph, unit: Unit, name: str, shape_text: str, theme: Theme,
               fused_in_title: bool = False,
               wrap_width: float | None = None) -> list[LabelLine]:
    """A unit's label: title (op, kernel, ×N), name, fused riders and side inputs, shape;
    lines wrap at ``wrap_width`` px (default: the theme's paper.blocks.label_wrap)."""
    size_t, size_d = float(theme["font"]["title_size"]), float(theme["font"]["size"])
    if wrap_width is None:
        wrap_width = float(_settings(theme).get("label_wrap", LABEL_WRAP))
    # narrower lines get more of them: a compact label holds as much text as a default one
    # before it ends in an ellipsis (the fitting must not cut a name it did not cut before)
    most = max(MAX_LINES, math.ceil(MAX_LINES * LABEL_WRAP / max(wrap_width, 1.0)))
    title = _title(graph, unit.node, unit.repeat, unit.title)
    act = activation_name(unit.node)
    fused = list(unit.fused)
    if act and act not in fused:
        fused.insert(0, act)  # a Keras layer's own activation
    lines = []
    if fused_in_title and fused:
        title += " + " + " + ".join(fused)
        fused = []
    lines += [LabelLine(t, "title") for t in wrap(title, size_t, wrap_width, True, most)]
    if unit.named_by_parent and "/" in name:
        name = name.rsplit("/", 1)[0]
    if unit.title and name.endswith("/" + unit.title):
        name = name[:-len(unit.title) - 1]  # "mlp" over "h.0/mlp": the name says "h.0"
    if name and name != unit.title:
        lines += [LabelLine(t, "name") for t in wrap(name, size_d, wrap_width, max_lines=most)]
    parts = (["pre: " + " + ".join(unit.pre)] if unit.pre else []) + \
        (["+ " + " + ".join(fused)] if fused else [])
    extra = "; ".join(parts)
    if unit.side:
        extra = (extra + " " if extra else "") + " ".join("+ " + s for s in unit.side)
    if extra:
        lines += [LabelLine(t, "detail") for t in wrap(extra, size_d, wrap_width,
                                                       max_lines=most)]
    lines.append(LabelLine(shape_text, "detail"))
    # `--overlay`: the value after the fused riders, the flags of every member
    lines.extend(overlay_lines(unit.node, merged_overlay(graph, unit.members or
                                                         [unit.node.id])))
    return lines


def lines_size(lines: list[LabelLine], theme: Theme) -> tuple[float, float]:
    """(width, height) of a label block, as the scene lays it out."""
    size_t, size_d = float(theme["font"]["title_size"]), float(theme["font"]["size"])
    w = max((text_width(ln.text, size_t if ln.style == "title" else size_d,
                        ln.style == "title") for ln in lines), default=0.0)
    h = sum(line_height(size_t if ln.style == "title" else size_d) for ln in lines)
    return w, h + theme["node"]["line_gap"] * max(0, len(lines) - 1)


def _f(mode: str, n: float) -> float:
    n = max(float(n), 1.0)
    if mode == "linear":
        return n
    if mode == "log":
        return math.log2(n) + 1.0
    return math.sqrt(n)


def _num(d: Dim) -> int:
    return d if isinstance(d, int) else SYMBOLIC_SIZE


class Scaler:
    """px for a dimension: proportional (on the chosen scale) to the figure's largest one of
    the same axis, clamped to [lo, hi].

    ``auto`` is linear (true proportions: VGG's 32 -> 128 channels four times as thick)
    when the figure's sizes on this axis span no more than hi/lo, so nothing is clamped;
    wider spans (ResNet's 224 -> 7 maps) take the square root, which keeps them apart.
    ``decide`` are the sizes that choice looks at (default: ``values``).
    """

    def __init__(self, mode: str, values: list[Dim], lo: float, hi: float,
                 decide: list[Dim] | None = None) -> None:
        if mode == "auto":
            nums = [_num(v) for v in (values if decide is None else decide)]
            nums = [n for n in nums if n > 0]
            linear = bool(nums) and max(nums) <= min(nums) * hi / lo
            mode = "linear" if linear else "sqrt"
        self.mode, self.lo, self.hi = mode, lo, hi
        self.top = max((_f(mode, _num(v)) for v in values), default=1.0)

    def __call__(self, d: Dim) -> float:
        return round(min(self.hi, max(self.lo, self.hi * _f(self.mode, _num(d)) / self.top)), 2)


def block_geometry(graph: Graph, units: list[Unit], cfg: dict[str, Any],
                   proportions: str) -> list[dict[str, Any]]:
    """Per unit: front-face thickness ``t`` (along the flow), height ``h`` (across),
    oblique depth ``d`` and the shape label."""
    if proportions not in PROPORTIONS:
        raise NnvizError(f"unknown proportions '{proportions}'; use one of "
                         f"{', '.join(PROPORTIONS)}")
    dims = [_dims(graph, u.node) for u in units]
    spatial = [d for what, _, hh, ww in dims if what in ("map", "seq", "cmap")
               for d in (hh, ww) if what == "map" or d is hh]
    channels = [c for what, c, _, _ in dims if what in ("map", "seq", "cmap")]
    # an input image's 3 channels say nothing about how the layers' channels grow
    layer_channels = [c for u, (what, c, _, _) in zip(units, dims)
                      if what in ("map", "seq", "cmap") and u.node.kind != "io"]
    vectors = [c for what, c, _, _ in dims if what == "vector"]
    hi = float(cfg["max_height"])
    sp = Scaler(proportions, spatial, float(cfg["min_height"]), hi)
    ch = Scaler(proportions, channels, float(cfg["min_thickness"]), float(cfg["max_thickness"]),
                decide=layer_channels or channels)
    if not layer_channels:
        # only the input is a map (an MLP on 1×28×28 images): its channels have nothing to
        # be proportional to, and the largest-is-thickest rule drew one channel as a cube;
        # it is a plate, as NN-SVG draws an input image
        ch = Scaler(proportions, channels, float(cfg["min_thickness"]),
                    float(cfg["min_thickness"]))
    vec = Scaler(proportions, vectors, float(cfg["min_height"]), hi * 0.8)
    vw = float(cfg["vector_width"])
    out = []
    for what, c, hh, ww in dims:
        if what == "map":
            g = {"t": ch(c), "h": sp(hh), "d": sp(ww), "shape": _fmt(c, hh, ww)}
        elif what == "cmap":  # Conv1d: channels x length
            g = {"t": ch(c), "h": sp(hh), "d": vw, "shape": _fmt(c, hh)}
        elif what == "seq":  # T x d
            g = {"t": ch(c), "h": sp(hh), "d": vw, "shape": _fmt(hh, c)}
        elif what == "vector":
            g = {"t": vw, "h": vec(c), "d": vw, "shape": _fmt(c)}
        else:
            g = {"t": 16.0, "h": 24.0, "d": 16.0, "shape": "?"}
        out.append(g)
    return out


def join_mark(graph: Graph, skip: Skip, pieces: list[list[Point]], arrow: float,
              pred: dict[str, list[str]]) -> dict[str, Any] | None:
    """Where a skip arrives through a concatenation in the graph (a UNet's torch.cat, ONNX
    Concat, Keras Concatenate): a small ring with "||" on its arrow just before the
    arrowhead, PlotNeuralNet's copy-and-concatenate ball. A residual Add gets none: the
    arc alone reads as a sum. None when the skip is not joined by a concatenation."""
    if not any(is_concat_join(graph, v, pred) for _, v in skip.edges if v in graph.nodes):
        return None
    pts = pieces[-1]

    def back(p: Point, q: Point, d: float) -> tuple[float, float]:  # d px from q towards p
        length = math.dist(p, q) or 1.0
        return (q[0] + (p[0] - q[0]) * d / length, q[1] + (p[1] - q[1]) * d / length)

    clear = arrow + JOIN_R + 1  # the ring's centre from the tip: it ends before the head
    if math.dist(pts[-2], pts[-1]) >= clear + JOIN_R + 1 or len(pts) < 3:
        x, y = back(pts[-2], pts[-1], clear)
    else:  # a short last drop (an arc onto a box top): on the run before its corner, clear
        # of the head's half width (arrow * 0.4, as scene.arrow_items draws it)
        x, y = back(pts[-3], pts[-2], JOIN_R + arrow * 0.4 + 1.5)
    return {"kind": "concat", "x": round(x, 2), "y": round(y, 2), "r": JOIN_R}


def _skip_levels(skips: list[tuple[int, int]]) -> list[int]:
    """Nesting level per skip: an arc goes over every shorter arc it overlaps; arcs that only
    meet at one box take different levels (the lowest free one), so a chain of residual
    arcs alternates between two levels instead of climbing a staircase."""
    order = sorted(range(len(skips)), key=lambda i: (skips[i][1] - skips[i][0], skips[i]))
    levels = [0] * len(skips)
    placed: list[int] = []
    for i in order:
        a, b = skips[i]
        floor, used = 0, set()
        for j in placed:
            c, d = skips[j]
            if a < d and c < b:
                floor = max(floor, levels[j] + 1)
            elif a == d or b == c:
                used.add(levels[j])
        lvl = floor
        while lvl in used:
            lvl += 1
        levels[i] = lvl
        placed.append(i)
    return levels


def sequence_items(graph: Graph, theme: Theme, ppath: PaperPath, horizontal: bool,
                   proportions: str,
                   columns: dict[int, dict[str, Any]] | None = None,
                   wrap_width: float | None = None) -> list[dict[str, Any]]:
    """Per unit, what placing it needs: its extent along the flow (``main``, ``lead``) and
    across it (``cross``, from the centre line), the front face (``fw``, ``fh``, ``dx``,
    ``dy``), its label lines (``wrap_width``: see ``unit_lines``) and their size
    (``label_w``, ``label_h``)."""
    cfg = _settings(theme)
    columns = columns or {}
    ratio = float(cfg["depth_ratio"])
    units = ppath.units
    names = display_names([u.node for u in units])
    geo = block_geometry(graph, units, cfg, proportions)
    items: list[dict[str, Any]] = []
    for i, (unit, name, g) in enumerate(zip(units, names, geo)):
        if i in columns:
            col = columns[i]
            r = col["radius"]
            cross = (min(col["centers_cross"] + col["dots_cross"]) - r,
                     max(col["centers_cross"] + col["dots_cross"]) + r)
            items.append({"kind": "column", "unit": unit, "main": 2 * r, "lead": 0.0,
                          "cross": cross, "lines": col["lines"], "col": col})
            continue
        lines = unit_lines(graph, unit, name, g["shape"], theme, wrap_width=wrap_width)
        dx, dy = g["d"] * ratio, -g["d"] * ratio * 0.8  # oblique projection, up and right
        if horizontal:
            # main extent: thickness + oblique x; across: face height, top face above it
            item = {"main": g["t"] + dx, "lead": 0.0, "cross": (-g["h"] / 2 + dy, g["h"] / 2),
                    "fw": g["t"], "fh": g["h"]}
        else:
            # top to bottom: the face is h wide and t tall; the top face leans into the gap
            item = {"main": g["t"] - dy, "lead": -dy, "cross": (-g["h"] / 2, g["h"] / 2 + dx),
                    "fw": g["h"], "fh": g["t"]}
        item.update({"kind": "block", "unit": unit, "lines": lines, "dx": dx, "dy": dy})
        items.append(item)
    for it in items:
        it["label_w"], it["label_h"] = lines_size(it["lines"], theme)
    return items


Point = tuple[float, float]


def item_box(it: dict[str, Any], at: Any) -> tuple[NodeBox, dict[str, Point]]:
    """The item's bounding box and its anchors (``in``, ``out`` on the centre line, ``arc``
    on the near face: the top (LR) or left (TB)); ``at(m, c)`` is the point at main offset
    ``m`` from the item's start and cross offset ``c`` from its centre line."""
    nid = it["unit"].node.id
    x0, y0 = at(0.0, it["cross"][0])
    x1, y1 = at(it["main"], it["cross"][1])
    box = NodeBox(nid, min(x0, x1), min(y0, y1), round(abs(x1 - x0), 2),
                  round(abs(y1 - y0), 2), it["lines"],
                  shape="block" if it["kind"] == "block" else "neurons")
    return box, {"in": at(0.0, 0.0), "out": at(it["main"], 0.0),
                 "arc": at(it["main"] / 2, it["cross"][0])}


def block_entry(graph: Graph, it: dict[str, Any], at: Any, label: dict[str, Any],
                horizontal: bool) -> dict[str, Any]:
    """What the renderer draws for a box: front face corner and size, oblique offsets,
    kind, rider bands, label position, members (and the overlay, if any)."""
    unit: Unit = it["unit"]
    nid = unit.node.id
    fx, fy = at(0.0, -it["fh"] / 2) if horizontal else at(it["lead"], -it["fw"] / 2)
    entry = {
        "id": nid, "kind": paper_kind(unit.node), "bands": rider_bands(graph, unit),
        "x": fx, "y": fy,
        "w": round(it["fw"], 2), "h": round(it["fh"], 2), "dx": round(it["dx"], 2),
        "dy": round(it["dy"], 2), "label": label, "label_x": label["x"],
        "members": list(unit.members),
    }
    ov = merged_overlay(graph, unit.members or [nid])
    if ov:
        entry["overlay"] = ov
    return entry


def next_start(start_a: float, a: dict[str, Any], b: dict[str, Any], gap: float,
               horizontal: bool) -> float:
    """Where the item ``b`` after item ``a`` (starting at ``start_a``) starts along the flow:
    an arrow of ``gap`` between them, and their labels (centred under them, LR, or beside
    them, TB) apart."""
    start = start_a + a["main"] + gap
    centre_a = start_a + a["main"] / 2
    if horizontal:
        return max(start, centre_a + (a["label_w"] + b["label_w"]) / 2 + 12 - b["main"] / 2)
    return max(start, centre_a + (a["label_h"] + b["label_h"]) / 2 + 8 - b["main"] / 2)


def layout_sequence(graph: Graph, theme: Theme, ppath: PaperPath, direction: str,
                    proportions: str, style: str,
                    columns: dict[int, dict[str, Any]] | None = None,
                    rows: int = 1) -> Layout:
    """Boxes (and, for the neurons style, neuron columns from index ``min(columns)`` on)
    along one centre line, arcs for the skips, labels beside; left to right, a long chain
    wraps into at most ``rows`` rows.

    ``columns[i]`` holds a neuron column's ``centers_cross`` (cross-axis offsets of its
    circles from the centre line), ``dots_cross``, ``radius``, ``lines`` and ``units``.
    """
    cfg = _settings(theme)
    columns = columns or {}
    horizontal = direction in ("LR", "RL")
    margin = float(theme["spacing"]["margin"])
    units = ppath.units
    items = sequence_items(graph, theme, ppath, horizontal, proportions, columns)

    # Main-axis positions: boxes apart by an arrow (or the layer gap between neuron columns),
    # and far enough that neighbouring labels do not collide.
    gap = max(MIN_ARROW, float(cfg["gap"]))
    ncfg = None
    if columns:
        ncfg = paper_settings(theme, "neurons")
    starts = [0.0]
    for a, b in zip(items, items[1:]):
        need = gap
        if a["kind"] == "column" or b["kind"] == "column":
            need = float(ncfg["layer_gap"]) if ncfg else gap  # type: ignore[index]
        starts.append(next_start(starts[-1], a, b, need, horizontal))

    # Arcs: levels above the boxes (LR) or left of them (TB).
    skip_pairs = [(s.src, s.dst) for s in ppath.skips]
    levels = _skip_levels(skip_pairs)
    size_d = float(theme["font"]["size"])
    arc_labels = [wrap(s.label, size_d, 140.0, max_lines=1)[0] if s.label else ""
                  for s in ppath.skips]
    # Folded runs of boxes get a bracket beyond the labels: "×24  h.0 … h.23".
    # One line under a row of boxes; beside a column, a narrow block of lines ("×2" over
    # "layer1.0 …" over "layer1.1") so the bracket does not widen a column-width figure.
    fold_texts = [wrap(f.label, size_d, 200.0, max_lines=1) if horizontal else
                  wrap(f.label, size_d, 64.0, max_lines=3) for f in ppath.folds]

    # Top to bottom, a bracket goes left of the arcs, in the column their labels take
    # anyway, when no arc label sits beside the folded run: a bracket column right of
    # the labels widened a column-width figure by its text (ResNet-18: 60 of 360 px).
    folds_left = not horizontal and bool(ppath.folds) and any(arc_labels) and \
        not _arc_labels_beside(items, starts, ppath, arc_labels, fold_texts, size_d, theme)

    # Rows: a long left-to-right chain wraps like text (at cuts no arc or bracket spans);
    # the arrow from a row's end runs down its right gutter, back along the gap between the
    # rows and in from the left gutter.
    segments = row_segments(items, starts, ppath, rows) if horizontal else \
        [(0, len(items) - 1)]
    wrapped = len(segments) > 1
    gutter = ROW_RETURN if wrapped else 0.0
    row_of = [r for r, (i, j) in enumerate(segments) for _ in range(i, j + 1)]
    geo_rows: list[dict[str, float]] = []
    cursor = margin  # top of the next row (LR)
    width = height = 0.0
    for i, j in segments:
        its = items[i:j + 1]
        lo_cross = min(it["cross"][0] for it in its)
        hi_cross = max(it["cross"][1] for it in its)
        row_skips = [s for s, sk in enumerate(ppath.skips) if sk.src <= j and sk.dst >= i]
        label_room = line_height(size_d) + 2 if any(arc_labels[s] for s in row_skips) else 0.0
        pitch = ARC_PITCH + label_room
        n_levels = max((levels[s] for s in row_skips), default=-1) + 1
        arc_space = (ARC_GAP + label_room + pitch * (n_levels - 1) + 4) if n_levels else 0.0
        row_folds = [f for f, fo in enumerate(ppath.folds) if i <= fo.first and fo.last <= j]
        fold_w = max((text_width(t, size_d) for f in row_folds for t in fold_texts[f]),
                     default=0.0)
        if not row_folds or folds_left:
            fold_room = 0.0
        elif horizontal:
            fold_room = 6 + 4 + line_height(size_d) + 2
        else:
            fold_room = 6 + 4 + fold_w + 4
        label_h = max(it["label_h"] for it in its)
        label_w = max(it["label_w"] for it in its)
        base = starts[i]
        first_lead = max(0.0, (its[0]["label_w" if horizontal else "label_h"]
                               - its[0]["main"]) / 2)
        last = its[-1]
        main_end = starts[j] - base + last["main"] + max(
            0.0, (last["label_w" if horizontal else "label_h"] - last["main"]) / 2)
        origin = margin + gutter + first_lead
        if horizontal:
            arc_label_half = max((text_width(arc_labels[s], size_d) / 2 for s in row_skips),
                                 default=0.0)
            centre = cursor + arc_space - lo_cross
            label_band = centre + hi_cross + LABEL_GAP
            bottom = label_band + label_h + fold_room
            right = origin + main_end + gutter
            width = max(width, right + margin, origin + arc_label_half * 2 + margin)
            cursor = bottom + ROW_GAP
            height = bottom + margin
        else:
            arc_w = max((text_width(arc_labels[s], size_d) for s in row_skips), default=0.0)
            left_text = arc_w + 4 if arc_w else 0.0
            if folds_left:  # the bracket's text ends 14 px left of the farthest arc
                left_text = max(left_text, fold_w + 14)
            centre = margin + arc_space + left_text - lo_cross
            label_band = centre + hi_cross + LABEL_GAP
            bottom = right = 0.0
            width = label_band + label_w + margin + fold_room
            height = origin + main_end + margin
        geo_rows.append({"base": base, "origin": origin, "centre": centre, "lo": lo_cross,
                         "label_band": label_band, "label_h": label_h, "label_w": label_w,
                         "label_room": label_room, "pitch": pitch, "bottom": bottom,
                         "right": right, "levels": n_levels})

    def xy(k: int, m: float, c: float) -> tuple[float, float]:
        """Item ``k``'s point at main offset ``m`` (from its own start) and cross offset
        ``c`` (from the centre line)."""
        row = geo_rows[row_of[k]]
        mm = row["origin"] + starts[k] - row["base"] + m
        cc = row["centre"] + c
        return (round(mm, 2), round(cc, 2)) if horizontal else (round(cc, 2), round(mm, 2))

    nodes: dict[str, NodeBox] = {}
    blocks_x: list[dict[str, Any]] = []
    cols_x: list[dict[str, Any]] = []
    anchors: list[dict[str, tuple[float, float]]] = []  # per item: in/out/arc points
    for k, it in enumerate(items):
        unit: Unit = it["unit"]
        row = geo_rows[row_of[k]]
        nid = unit.node.id

        def at(m: float, c: float, k: int = k) -> tuple[float, float]:
            return xy(k, m, c)

        mid_x, mid_y = at(it["main"] / 2, 0.0)
        if horizontal:
            label = {"x": mid_x, "y": round(row["label_band"], 2), "anchor": "middle"}
        else:
            label = {"x": round(row["label_band"], 2),
                     "y": round(mid_y - it["label_h"] / 2, 2), "anchor": "start"}
        nodes[nid], anchor = item_box(it, at)
        anchors.append(anchor)
        if it["kind"] == "block":
            blocks_x.append(block_entry(graph, it, at, label, horizontal))
        else:
            col = it["col"]
            centers = [at(it["main"] / 2, c) for c in col["centers_cross"]]
            dots = [at(it["main"] / 2, c) for c in col["dots_cross"]]
            cols_x.append({"id": nid, "kind": paper_kind(unit.node), "units": col["units"],
                           "shown": len(centers), "centers": [list(p) for p in centers],
                           "ellipsis": [list(p) for p in dots], "label": label,
                           "radius": col["radius"], "members": list(unit.members)})

    edges: list[EdgePath] = []
    fans: list[list[Any]] = []
    connections: list[list[int]] = []
    col_index = {it["unit"].node.id: k for k, it in enumerate(
        [i for i in items if i["kind"] == "column"])}
    for k, (a, b) in enumerate(zip(items, items[1:])):
        if a["kind"] == "column" and b["kind"] == "column":
            connections.append([col_index[a["unit"].node.id], col_index[b["unit"].node.id]])
            continue
        if b["kind"] == "column":
            # the flattened features feed every unit of the first dense layer
            fans.append([list(anchors[k]["out"]), col_index[b["unit"].node.id]])
            continue
        p, q = anchors[k]["out"], anchors[k + 1]["in"]
        if row_of[k] != row_of[k + 1]:  # the carriage return between two rows
            ra = geo_rows[row_of[k]]
            x_out = round(ra["right"] - gutter / 2, 2)
            x_in = round(margin + gutter / 2, 2)
            lane = round(ra["bottom"] + ROW_GAP / 2, 2)
            pts = [(round(p[0] + 2, 2), p[1]), (x_out, p[1]), (x_out, lane), (x_in, lane),
                   (x_in, q[1]), (round(q[0] - 1, 2), q[1])]
        elif horizontal:
            pts = [(round(p[0] + 2, 2), p[1]), (round(q[0] - 1, 2), q[1])]
        else:
            pts = [(p[0], round(p[1] + 2, 2)), (q[0], round(q[1] - 1, 2))]
        edges.append(EdgePath(a["unit"].node.id, b["unit"].node.id,
                              (a["unit"].node.outputs or [""])[0], pts))

    skips_x: list[dict[str, Any]] = []
    pred, arrow = graph.predecessors(), float(theme["edge"]["arrow_size"])
    for sk, lvl, text in zip(ppath.skips, levels, arc_labels):
        pa, pb = anchors[sk.src]["arc"], anchors[sk.dst]["arc"]
        if horizontal:
            # leave right of centre, land left of it: arcs meeting at one box do not touch;
            # an arc over a row break runs out through the right gutter and back in from
            # the left one at its level in the next row (each piece ends in an arrowhead)
            ra, rb = row_of[sk.src], row_of[sk.dst]
            pieces = []
            for r in range(ra, rb + 1):
                row = geo_rows[r]
                far = round(row["centre"] + row["lo"] - ARC_GAP - row["label_room"]
                            - row["pitch"] * lvl, 2)
                xa = round(pa[0] + 3, 2) if r == ra else round(margin, 2)
                xb = round(pb[0] - 3, 2) if r == rb else round(row["right"], 2)
                pts = [(xa, far), (xb, far)]
                if r == ra:
                    pts.insert(0, (xa, round(pa[1] - 1, 2)))
                if r == rb:
                    pts.append((xb, round(pb[1] - 2, 2)))
                pieces.append(pts)
            head = pieces[0]
            lab = {"x": round((head[1][0] + head[2][0]) / 2, 2), "y": round(head[1][1] - 3, 2),
                   "anchor": "middle"}
        else:
            row = geo_rows[0]
            far = row["centre"] + row["lo"] - ARC_GAP - row["pitch"] * lvl
            ya, yb = pa[1] + 3, pb[1] - 3
            pieces = [[(pa[0] - 1, round(ya, 2)), (round(far, 2), round(ya, 2)),
                       (round(far, 2), round(yb, 2)), (round(pb[0] - 2, 2), round(yb, 2))]]
            lab = {"x": round(far - 3, 2), "y": round((ya + yb) / 2 + 3, 2), "anchor": "end"}
        src, dst = units[sk.src].node, units[sk.dst].node
        for pts in pieces:
            edges.append(EdgePath(src.id, dst.id, "", pts, label=""))
        skips_x.append({"src": src.id, "dst": dst.id, "level": lvl, "members": sk.members,
                        "edges": [list(e) for e in sk.edges], "label": text, "label_pos": lab,
                        "points": [list(p) for p in pieces[0]],
                        "pieces": [[list(p) for p in pts] for pts in pieces]})
        mark = join_mark(graph, sk, pieces, arrow, pred)
        if mark:
            skips_x[-1]["join"] = mark

    folds_x: list[dict[str, Any]] = []
    boxes = list(nodes.values())
    for f, text in zip(ppath.folds, fold_texts):
        a, b = boxes[f.first], boxes[f.last]
        row = geo_rows[row_of[f.first]]
        if horizontal:
            y = row["label_band"] + row["label_h"] + 6
            pts = [(a.x, y - 4), (a.x, y), (b.x + b.w, y), (b.x + b.w, y - 4)]
            lab = {"x": round((a.x + b.x + b.w) / 2, 2), "y": round(y + 3, 2),
                   "anchor": "middle"}
        else:
            block_h = line_height(size_d) * len(text) + \
                float(theme["node"]["line_gap"]) * (len(text) - 1)
            if folds_left:  # left of the farthest arc, ticks towards the boxes
                x = row["centre"] + row["lo"] - ARC_GAP - \
                    row["pitch"] * max(row["levels"] - 1, 0) - 10
                pts = [(x + 4, a.y), (x, a.y), (x, b.y + b.h), (x + 4, b.y + b.h)]
                lab = {"x": round(x - 4, 2), "anchor": "end"}
            else:
                x = row["label_band"] + row["label_w"] + 6
                pts = [(x - 4, a.y), (x, a.y), (x, b.y + b.h), (x - 4, b.y + b.h)]
                lab = {"x": round(x + 4, 2), "anchor": "start"}
            lab["y"] = round((a.y + b.y + b.h - block_h) / 2, 2)
        folds_x.append({"first": a.id, "last": b.id, "label": " ".join(text),
                        "lines": text, "label_pos": lab,
                        "points": [[round(px, 2), round(py, 2)] for px, py in pts]})

    legend = legend_entries(blocks_x + cols_x)
    if legend:
        entries, legend_h, legend_w = place_legend(legend, width - 2 * margin,
                                                   height - margin + 4, margin, size_d)
        width = max(width, legend_w + 2 * margin)
        height += legend_h + 4
    first = geo_rows[0]
    extras: dict[str, Any] = {"blocks": blocks_x, "skips": skips_x, "folds": folds_x,
                              "proportions": proportions,
                              "center": round(first["centre"], 2),
                              "label_band": round(first["label_band"], 2)}
    if legend:
        extras["legend"] = entries
    if horizontal:
        extras["label_top"] = round(first["label_band"], 2)
        extras["center_y"] = round(first["centre"], 2)
        # the first box of each row, for tests and tools (one row: just the first box)
        extras["rows"] = [units[i].node.id for i, _ in segments]
    if cols_x:
        extras.update({"columns": cols_x, "connections": connections, "fans": fans,
                       "radius": cols_x[0]["radius"]})
    return Layout(width=round(width, 2), height=round(height, 2), nodes=nodes, edges=edges,
                  direction=direction, engine=style, style=style, extras=extras)


# A U holds two arms side by side (TB) or five rows (LR) where a chain has one line, so
# its spacing is tighter than the chain's: that is what keeps its text large in print.
U_GAP = 28.0  # px between the two arms (the skip arrows cross it)
U_ROW_GAP = 12.0  # px between two rows, left to right (a return arrow runs in it)
U_LABEL_GAP = 6.0  # px between a box and its label
U_ARC_GAP = 8.0  # px from a row's boxes up to its skip arc, left to right
U_JOG = 8.0  # px more between the encoder and the centred bottleneck (the arrow jogs across)


def _u_sizes(graph: Graph, units: list[Unit]) -> list[tuple[int, int] | None]:
    """Each unit's output (H, W) when it is a feature map of known size, else None."""
    out: list[tuple[int, int] | None] = []
    for u in units:
        what, _, h, w = _dims(graph, u.node)
        out.append((h, w) if what == "map" and isinstance(h, int) and isinstance(w, int)
                   else None)
    return out


def layout_u(graph: Graph, theme: Theme, ppath: PaperPath, shape: UShape, direction: str,
             proportions: str, style: str) -> Layout:
    """An encoder-decoder as a U (nnviz.layout.ushape): the encoder down the left arm, the
    bottleneck at the bottom, the decoder back up the right arm, and each skip a short
    horizontal arrow across the U between the stages of equal resolution.

    Top to bottom (Ronneberger et al.'s arms, PlotNeuralNet's U-shaped UNet turned
    upright): each arm is one column of flat boxes, labels outside the U, every skip one
    straight arrow from its encoder box to the decoder box it feeds, at the same height.
    Left to right: each resolution is one row, the encoder's rows on the left read like
    text, a step down to the bottleneck's row at the bottom between the arms, and the
    decoder's rows on the right climb back up; each skip is a short arc over its row from
    the encoder to the decoder."""
    cfg = _settings(theme)
    horizontal = direction in ("LR", "RL")
    margin = float(theme["spacing"]["margin"])
    size_d = float(theme["font"]["size"])
    gap = max(MIN_ARROW, float(cfg["gap"]))
    units = ppath.units
    items = sequence_items(graph, theme, ppath, horizontal, proportions)
    n = len(items)
    left = [i for i in range(n) if shape.arm[i] != UP]  # the encoder and the bottleneck
    right = [i for i in range(n) if shape.arm[i] == UP]
    pairs = shape.pairs
    by_src = {sk.src: sk for sk in ppath.skips}
    arc_labels = [wrap(by_src[a].label, size_d, 140.0, max_lines=1)[0]
                  if by_src[a].label else "" for a, _ in pairs]
    label_room = line_height(size_d) + 2 if any(arc_labels) else 0.0
    arm_gap = max(U_GAP, max((text_width(t, size_d) for t in arc_labels), default=0.0) + 16)
    start = [0.0] * n  # along the flow axis of each item (y for TB, x for LR)
    centre = [0.0] * n  # its centre line across the flow
    edges: list[EdgePath] = []

    def edge(a: int, b: int, pts: list[Point]) -> None:
        edges.append(EdgePath(units[a].node.id, units[b].node.id,
                              (units[a].node.outputs or [""])[0],
                              [(round(x, 2), round(y, 2)) for x, y in pts]))

    if not horizontal:
        # Face centre (where skips meet a box) from the item's start; how far apart two
        # neighbours in a column must be (boxes an arrow apart, labels not touching).
        off = [it["lead"] + it["fh"] / 2 for it in items]

        def dist(up: int, low: int) -> float:
            a, b = items[up], items[low]
            # the step from the encoder into the centred bottleneck jogs across: room for it
            jog = U_JOG if shape.arm[up] == DOWN and shape.arm[low] == BOTTOM else 0.0
            return max(a["main"] - off[up] + gap + off[low] + jog,
                       (a["label_h"] + b["label_h"]) / 2 + 8 + off[low] - b["main"] / 2
                       - off[up] + a["main"] / 2)

        # Columns top to bottom: the encoder in flow order, the decoder against it.
        cols = [left, right[::-1]]
        anchors = [[cols[0].index(a) for a, _ in pairs], [cols[1].index(b) for _, b in pairs]]
        cum = []
        for col in cols:
            c = [0.0]
            for up, low in zip(col, col[1:]):
                c.append(c[-1] + dist(up, low))
            cum.append(c)
        # face-centre height of each skip pair: both arms' stretches fit between them
        ys = [max(cum[0][anchors[0][0]], cum[1][anchors[1][0]])]
        for k in range(1, len(pairs)):
            ys.append(ys[-1] + max(cum[c][anchors[c][k]] - cum[c][anchors[c][k - 1]]
                                   for c in (0, 1)))
        # the bottom: the bottleneck reaches below the decoder's first box, whose arrow
        # comes in from below
        first_up = cols[1][-1]
        low_r = cum[1][-1] - cum[1][anchors[1][-1]]
        need = low_r - off[first_up] + items[first_up]["main"] + gap
        low_l = cum[0][-1] - cum[0][anchors[0][-1]]
        fc = [0.0] * n
        for c, col in enumerate(cols):
            ac, cc = anchors[c], cum[c]
            for pos, i in enumerate(col):
                if pos <= ac[0]:
                    fc[i] = ys[0] - (cc[ac[0]] - cc[pos])
                elif pos >= ac[-1]:
                    stretch = max(1.0, need / low_l) if c == 0 and low_l > 0 else 1.0
                    fc[i] = ys[-1] + (cc[pos] - cc[ac[-1]]) * stretch
                else:
                    k = next(k for k in range(1, len(ac)) if pos <= ac[k])
                    span = cc[ac[k]] - cc[ac[k - 1]]
                    frac = (cc[pos] - cc[ac[k - 1]]) / span if span else 0.0
                    fc[i] = ys[k - 1] + frac * (ys[k] - ys[k - 1])
        top = min(min(fc[i] - off[i], fc[i] - off[i] + items[i]["main"] / 2
                      - items[i]["label_h"] / 2) for i in range(n))
        fc = [y - top + margin for y in fc]
        ys = [y - top + margin for y in ys]
        for i in range(n):
            start[i] = fc[i] - off[i]
        lo = [min(items[i]["cross"][0] for i in col) for col in (left, right)]
        hi = [max(items[i]["cross"][1] for i in col) for col in (left, right)]
        lw = [max(items[i]["label_w"] for i in col) for col in (left, right)]
        xl = margin + lw[0] + U_LABEL_GAP - lo[0]
        xr = xl + hi[0] + arm_gap - lo[1]
        # The bottleneck sits centred at the bottom between the arms (Ronneberger et al.'s
        # U), below every encoder box and label; no closer to the decoder arm than the gap
        # its boxes keep to the encoder's, since the decoder's lowest box may be beside it.
        mids = [i for i in left if shape.arm[i] == BOTTOM]
        hi_b = max(items[i]["cross"][1] for i in mids)
        beside = [items[j]["cross"][0] for j in right
                  if any(start[j] < start[i] + items[i]["main"]
                         and start[i] < start[j] + items[j]["main"] for i in mids)]
        xc = max(xl, min([(xl + xr) / 2] + [xr + c - gap - hi_b for c in beside]))
        for i in left:
            centre[i] = xc if shape.arm[i] == BOTTOM else xl
        for i in right:
            centre[i] = xr
        width = xr + hi[1] + U_LABEL_GAP + lw[1] + margin
        height = max(max(start[i] + items[i]["main"], start[i] + items[i]["main"] / 2
                         + items[i]["label_h"] / 2) for i in range(n)) + margin

        def label_of(i: int) -> dict[str, Any]:
            mid = start[i] + items[i]["main"] / 2 - items[i]["label_h"] / 2
            if shape.arm[i] == UP:
                return {"x": round(xr + hi[1] + U_LABEL_GAP, 2), "y": round(mid, 2),
                        "anchor": "start"}
            # the encoder's in one column; the bottleneck's left of its own boxes
            x = xl + lo[0] if shape.arm[i] == DOWN else centre[i] + items[i]["cross"][0]
            return {"x": round(x - U_LABEL_GAP, 2), "y": round(mid, 2), "anchor": "end"}

        for a, b in zip(range(n), range(1, n)):
            ca, cb = centre[a], centre[b]
            if shape.arm[b] != UP and ca != cb:  # down into the bottleneck: a jog across
                y0, y1 = start[a] + items[a]["main"] + 2, start[b] - 1
                ym = y1 - max(gap - 2, (y1 - y0) / 2)  # the last drop carries the head
                edge(a, b, [(ca, y0), (ca, ym), (cb, ym), (cb, y1)])
            elif shape.arm[b] != UP:  # down the left arm (or the bottleneck's column)
                edge(a, b, [(ca, start[a] + items[a]["main"] + 2), (cb, start[b] - 1)])
            elif shape.arm[a] != UP:  # the bottom of the U: across, then up
                edge(a, b, [(ca + items[a]["fw"] / 2, fc[a]), (xr, fc[a]),
                            (xr, start[b] + items[b]["main"] + 1)])
            else:  # up the right arm
                edge(a, b, [(xr, start[a] - 2), (xr, start[b] + items[b]["main"] + 1)])
        skip_pts = [[(xl + items[a]["fw"] / 2, ys[k]), (xr - items[b]["fw"] / 2 - 1, ys[k])]
                    for k, (a, b) in enumerate(pairs)]
        # an arc's label centred on what shows of it: from the side face to the arrowhead
        label_x = [(xl + items[a]["cross"][1] + xr - items[b]["fw"] / 2) / 2 for a, b in pairs]
    else:
        gutter = ROW_RETURN - 4  # a return arrow runs 6 px left of the rows
        rows_l: dict[int, list[int]] = {}
        rows_r: dict[int, list[int]] = {}
        for i in range(n):
            (rows_r if shape.arm[i] == UP else rows_l).setdefault(shape.level[i], []).append(i)

        def overhang(i: int) -> float:
            return max(0.0, (items[i]["label_w"] - items[i]["main"]) / 2)

        def lay_run(run: list[int], x0: float) -> float:  # -> the run's right edge
            start[run[0]] = x0 + overhang(run[0])
            for a, b in zip(run, run[1:]):
                start[b] = next_start(start[a], items[a], items[b], gap, True)
            return start[run[-1]] + items[run[-1]]["main"] + overhang(run[-1])

        xl = margin + gutter
        bottom = len(pairs)  # the bottleneck's row: the bottom of the U, between the arms
        right_l = max(lay_run(run, xl) for lvl, run in rows_l.items() if lvl != bottom)
        xr = right_l + arm_gap
        right_r = max(lay_run(run, xr) for run in rows_r.values())
        # it starts right of the encoder (a step down from its last row) and ends under the
        # decoder (a return up into its first row)
        right_b = lay_run(rows_l[bottom], right_l + arm_gap / 2 + 8)
        width = max(right_r, right_b) + gutter + margin
        levels = sorted(rows_l)
        cursor = margin
        row_c: dict[int, float] = {}
        row_bottom: dict[int, float] = {}
        band: dict[int, float] = {}
        arc_y: dict[int, float] = {}
        for lvl in levels:
            members = rows_l[lvl] + rows_r.get(lvl, [])
            lo = min(items[i]["cross"][0] for i in members)
            hi = max(items[i]["cross"][1] for i in members)
            space = U_ARC_GAP + label_room + 4 if lvl < len(pairs) else 0.0
            row_c[lvl] = cursor + space - lo
            arc_y[lvl] = row_c[lvl] + lo - U_ARC_GAP
            band[lvl] = row_c[lvl] + hi + U_LABEL_GAP
            row_bottom[lvl] = band[lvl] + max(items[i]["label_h"] for i in members)
            cursor = row_bottom[lvl] + U_ROW_GAP
        height = cursor - U_ROW_GAP + margin
        for i in range(n):
            centre[i] = row_c[shape.level[i]]

        def label_of(i: int) -> dict[str, Any]:
            return {"x": round(start[i] + items[i]["main"] / 2, 2),
                    "y": round(band[shape.level[i]], 2), "anchor": "middle"}

        def reach(i: int) -> tuple[float, float]:  # x extent of the box and its label
            mid = start[i] + items[i]["main"] / 2
            return (min(start[i], mid - items[i]["label_w"] / 2),
                    max(start[i] + items[i]["main"], mid + items[i]["label_w"] / 2))

        for a, b in zip(range(n), range(1, n)):
            ca, cb = centre[a], centre[b]
            pa, pb = start[a] + items[a]["main"] + 2, start[b] - 1
            if ca == cb:
                edge(a, b, [(pa, ca), (pb, cb)])
            elif reach(b)[0] >= right_l + 12 and reach(a)[1] <= right_l:
                # from the encoder's last row down into the bottleneck's: a step
                xv = right_l + arm_gap / 2
                edge(a, b, [(pa, ca), (xv, ca), (xv, cb), (pb, cb)])
            else:  # back to the start of the next row, through the gap between the rows
                lane = row_bottom[min(shape.level[a], shape.level[b])] + U_ROW_GAP / 2
                x_out, x_in = reach(a)[1] + 6, reach(b)[0] - 6
                edge(a, b, [(pa, ca), (x_out, ca), (x_out, lane), (x_in, lane), (x_in, cb),
                            (pb, cb)])
        skip_pts = []
        for k, (a, b) in enumerate(pairs):
            xa = start[a] + items[a]["main"] / 2 + 3
            xb = start[b] + items[b]["main"] / 2 - 3
            ya = centre[a] + items[a]["cross"][0] - 1
            yb = centre[b] + items[b]["cross"][0] - 2
            skip_pts.append([(xa, ya), (xa, arc_y[k]), (xb, arc_y[k]), (xb, yb)])
        label_x = [(p[0][0] + p[-1][0]) / 2 for p in skip_pts]

    nodes: dict[str, NodeBox] = {}
    blocks_x: list[dict[str, Any]] = []
    for k, it in enumerate(items):
        def at(m: float, c: float, k: int = k) -> tuple[float, float]:
            mm, cc = start[k] + m, centre[k] + c
            return (round(mm, 2), round(cc, 2)) if horizontal else (round(cc, 2), round(mm, 2))

        label = label_of(k)
        nodes[it["unit"].node.id], _ = item_box(it, at)
        blocks_x.append(block_entry(graph, it, at, label, horizontal))
        if not horizontal and shape.arm[k] == UP:
            blocks_x[-1]["upward"] = True  # rider bands: the input end is the bottom
    skips_x: list[dict[str, Any]] = []
    pred, arrow = graph.predecessors(), float(theme["edge"]["arrow_size"])
    for k, ((a, b), pts, text) in enumerate(zip(pairs, skip_pts, arc_labels)):
        sk = by_src[a]
        pts = [(round(x, 2), round(y, 2)) for x, y in pts]
        src, dst = units[a].node, units[b].node
        edges.append(EdgePath(src.id, dst.id, "", pts, label=""))
        mid = (label_x[k], min(p[1] for p in pts))
        # level: as for arcs over a chain, the outer skip is the higher one (row 0 on top)
        skips_x.append({"src": src.id, "dst": dst.id, "level": len(pairs) - 1 - k,
                        "members": sk.members,
                        "edges": [list(e) for e in sk.edges], "label": text,
                        "label_pos": {"x": round(mid[0], 2), "y": round(mid[1] - 3, 2),
                                      "anchor": "middle"},
                        "points": [list(p) for p in pts], "pieces": [[list(p) for p in pts]]})
        mark = join_mark(graph, sk, [pts], arrow, pred)
        if mark:
            skips_x[-1]["join"] = mark
    legend = legend_entries(blocks_x)
    extras: dict[str, Any] = {"blocks": blocks_x, "skips": skips_x, "folds": [],
                              "proportions": proportions,
                              "ushape": {"level": {units[i].node.id: shape.level[i]
                                                   for i in range(n)},
                                         "arm": {units[i].node.id: shape.arm[i]
                                                 for i in range(n)}}}
    if legend:
        entries, legend_h, legend_w = place_legend(legend, width - 2 * margin,
                                                   height - margin + 4, margin, size_d)
        width = max(width, legend_w + 2 * margin)
        height += legend_h + 4
        extras["legend"] = entries
    return Layout(width=round(width, 2), height=round(height, 2), nodes=nodes, edges=edges,
                  direction=direction, engine=style, style=style, extras=extras)


def _arc_labels_beside(items: list[dict[str, Any]], starts: list[float], ppath: PaperPath,
                       arc_labels: list[str], fold_texts: list[list[str]], size: float,
                       theme: Theme) -> bool:
    """Top to bottom: does an arc label sit beside a folded run's bracket (its text
    included), along the flow? Then the bracket cannot share the arc labels' column."""
    lh = line_height(size)
    spans = []
    for f, text in zip(ppath.folds, fold_texts):
        lo = starts[f.first]
        hi = starts[f.last] + items[f.last]["main"]
        block_h = lh * len(text) + float(theme["node"]["line_gap"]) * (len(text) - 1)
        mid = (lo + hi) / 2
        spans.append((min(lo, mid - block_h / 2) - lh, max(hi, mid + block_h / 2) + lh))
    for sk, text in zip(ppath.skips, arc_labels):
        if not text:
            continue
        a = starts[sk.src] + items[sk.src]["main"] / 2 + 3
        b = starts[sk.dst] + items[sk.dst]["main"] / 2 - 3
        y = (a + b) / 2 + 3  # the label's baseline, as placed below
        if any(lo <= y and y - size <= hi for lo, hi in spans):
            return True
    return False


def rider_bands(graph: Graph, unit: Unit) -> dict[str, list[str]]:
    """Kinds of the norms and activations a box carries, as bands on its faces (as in
    PlotNeuralNet's Conv+ReLU boxes): "pre" ones at its input end, the others at its output
    end, in flow order."""
    pre: list[str] = []
    post: list[str] = []
    for m in unit.members[1:]:
        node = graph.nodes.get(m)
        if node is None or node.kind not in ("norm", "activation"):
            continue
        side = pre if short_op(node.op) in unit.pre else post
        if not side or side[-1] != node.kind:
            side.append(node.kind)
    if activation_name(unit.node) and (not post or post[-1] != "activation"):
        post.append("activation")  # a Keras layer's own activation
    return {"pre": pre, "post": post}


def legend_entries(drawn: list[dict[str, Any]]) -> list[str]:
    """The kinds the figure shows (boxes, bands, neuron columns), in LEGEND order; none when
    everything is one kind (colour then says nothing the labels do not)."""
    kinds = {d["kind"] for d in drawn}
    for d in drawn:
        bands = d.get("bands") or {}
        kinds.update(bands.get("pre", []), bands.get("post", []))
    shown = [k for k in LEGEND if k in kinds]
    if "group" in kinds and "other" not in shown:
        shown.append("other")
    return shown if len(shown) >= 2 else []


def place_legend(kinds: list[str], room: float, top: float, left: float,
                 size: float) -> tuple[list[dict[str, Any]], float, float]:
    """Legend entries (swatch + name) in lines no wider than ``room`` below ``top``:
    (entries with their swatch and text positions, height added, widest line)."""
    lh = line_height(size)
    step = max(lh, SWATCH) + 3
    out: list[dict[str, Any]] = []
    x, y, widest = 0.0, 0.0, 0.0
    for kind in kinds:
        w = SWATCH + 4 + text_width(LEGEND[kind], size)
        if x > 0 and x + w > room:
            x, y = 0.0, y + step
        sy = top + y + (step - SWATCH) / 2
        out.append({"kind": kind, "label": LEGEND[kind],
                    "swatch": [round(left + x, 2), round(sy, 2), SWATCH, SWATCH],
                    "text": {"x": round(left + x + SWATCH + 4, 2),
                             "y": round(sy + SWATCH / 2 + size * 0.36, 2), "anchor": "start"}})
        widest = max(widest, x + w)
        x += w + 12
    return out, y + step + 2, widest


def row_segments(items: list[dict[str, Any]], starts: list[float], ppath: PaperPath,
                 rows: int) -> list[tuple[int, int]]:
    """(first, last) item index of each row: at most ``rows`` rows, cut only between two
    boxes that no fold bracket or neuron fan spans, as even as the cuts allow (the widest
    row as narrow as it can be); a cut that splits skip arcs costs CUT_ARC px of width
    per arc, so cuts between residual blocks win over cuts through nested UNet skips."""
    n = len(items)
    if rows <= 1 or n < 2:
        return [(0, n - 1)]

    def free(k: int) -> bool:  # may a row end after item k-1?
        return items[k - 1]["kind"] == "block" and items[k]["kind"] == "block" and \
            not any(f.first < k <= f.last for f in ppath.folds)

    def crossing(k: int) -> int:  # arcs a cut before item k splits in two
        return sum(1 for s in ppath.skips if s.src < k <= s.dst)

    def overhang(it: dict[str, Any]) -> float:
        return max(0.0, (it["label_w"] - it["main"]) / 2)

    def extent(i: int, j: int) -> float:  # width of a row holding items i..j
        return starts[j] + items[j]["main"] + overhang(items[j]) - starts[i] + \
            overhang(items[i])

    heads = [0] + [k for k in range(1, n) if free(k)]  # where a row may start
    m_rows = min(rows, len(heads))
    # best[m][a]: the narrowest widest row when items heads[a].. go into m rows
    inf = float("inf")
    best = [[inf] * len(heads) for _ in range(m_rows + 1)]
    nxt = [[-1] * len(heads) for _ in range(m_rows + 1)]
    for a in range(len(heads)):
        best[1][a] = extent(heads[a], n - 1)
    for m in range(2, m_rows + 1):
        for a in range(len(heads)):
            for b in range(a + 1, len(heads)):
                v = max(extent(heads[a], heads[b] - 1) + CUT_ARC * crossing(heads[b]),
                        best[m - 1][b])
                if v < best[m][a] - 1e-6:
                    best[m][a], nxt[m][a] = v, b
    m = min(range(1, m_rows + 1), key=lambda r: (best[r][0], r))
    out, a = [], 0
    while m > 1 and nxt[m][a] >= 0:
        b = nxt[m][a]
        out.append((heads[a], heads[b] - 1))
        a, m = b, m - 1
    out.append((heads[a], n - 1))
    return out


def block_nodes(graph: Graph) -> list[Node]:
    """The layers drawn as boxes, in data-flow order along the main path."""
    return [u.node for u in paper_path(graph, "blocks").units]


def layout_blocks(graph: Graph, theme: Theme, direction: str = "LR",
                  proportions: str | None = None, rows: int | None = None) -> Layout:
    """3-D boxes left to right (LR/RL, wrapped into at most ``rows`` rows) or top to bottom
    (TB/BT); RL and BT draw as LR and TB (the papers this style imitates read forwards)."""
    cfg = _settings(theme)
    mode = proportions or str(cfg.get("proportions", "auto"))
    ppath = paper_path(graph, "blocks")
    flow = "LR" if direction in ("LR", "RL") else "TB"
    if rows is None:  # an explicit row count asks for the chain, U or not
        shape = find_u(ppath, _u_sizes(graph, ppath.units))
        if shape is not None:
            return layout_u(graph, theme, ppath, shape, flow, mode, "blocks")
    return layout_sequence(graph, theme, ppath, flow, mode, "blocks", rows=rows or 1)


__all__ = ["layout_blocks", "layout_sequence", "block_nodes", "PROPORTIONS", "wrap",
           "unit_lines", "truncate"]
