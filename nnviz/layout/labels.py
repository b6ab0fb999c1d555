"""What a node box says, and how big that makes it (from the shipped font metrics)."""

from __future__ import annotations

import functools
import re
from itertools import repeat

from nnviz.ir import Dim, Graph, Node, Shape, format_shape
from nnviz.layout.model import LabelLine
from nnviz.symbolic import readable_dim
from nnviz.text import line_height, text_width, truncate
from nnviz.text import metrics as text_metrics
from nnviz.theme import Theme


def human_count(n: int) -> str:
    """1234 -> '1.2K', 25557032 -> '25.6M'."""
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


_GENERATED = re.compile(r"node_[A-Za-z][A-Za-z0-9_]*")


@functools.lru_cache(maxsize=4096)
def _op_name(op: str) -> re.Pattern:
    """The op type, optionally numbered ('Conv', 'Conv_3'): compiled once per op, not
    looked up in re's cache twice per box (50k boxes share a few dozen ops)."""
    return re.compile(re.escape(op) + r"(_\d+)?")


def display_name(node: Node) -> str:
    """The short name worth printing in the box; the group frame already shows the scope.

    '/layer1/block0/conv1/Conv' -> 'conv1' (exporters end scoped names with the op type),
    'encoder.layers.3.linear1' -> 'linear1', 'features.0' -> 'features.0'; '' when the name
    only repeats the op.
    """
    name = node.name.strip()
    if _GENERATED.fullmatch(name) and (node.group or node.meta.get("module")):
        # The dynamo exporter's own counter (node_Conv_292): the module says more, and the
        # frame around the box already says it unless the module was one op (then the box
        # stands for the module and carries its name).
        return str(node.meta.get("module") or "")
    parts = [p for p in name.split("/") if p]
    op_name = _op_name(node.op)
    if len(parts) > 1 and op_name.fullmatch(parts[-1]):
        parts.pop()
    if parts:
        name = parts[-1]
    if "\u2026" in name:  # a fold's range ("h.0 … h.11") is already short: no dotted cut
        return name
    dotted = name.split(".")
    if len(dotted) > 1 and node.group:
        name = ".".join(dotted[-2:]) if dotted[-1].isdigit() else dotted[-1]
    if op_name.fullmatch(name):
        return ""
    return name


SHORT = {"batchnorm": "BN", "batchnorm1d": "BN", "batchnorm2d": "BN", "batchnorm3d": "BN",
         "batchnormalization": "BN", "layernorm": "LN", "layernormalization": "LN",
         "groupnorm": "GN", "groupnormalization": "GN", "instancenorm": "IN",
         "rmsnorm": "RMSNorm", "dropout": "Dropout"}


def short_op(op: str) -> str:
    """A compact op name for a label: "BatchNorm2d" -> "BN", "aten.relu" -> "relu"."""
    base = op.split(".")[1] if op.startswith("aten.") and "." in op[5:] else op
    base = base.removeprefix("aten.")
    return SHORT.get(base.lower().replace("_", ""), base)


GENERIC = frozenset(("Sequential", "ModuleList", "ModuleDict", "Functional", "Model",
                     "Module"))  # container classes that say nothing about the layer
SUMMARY_PARTS = 4  # a bare container's title lists at most this many of its children


def group_title(graph: Graph, path: tuple[str, ...], op: str, runs: list | None = None,
                alone: bool = False) -> str:
    """What a group (a collapsed box or a frame) is called: its class, unless the class is
    a bare container ("Sequential"), which says nothing. Then, first that applies:

    - ``alone`` (the caller knows it is the only box of its parent scope): the parent's
      class ("InvertedResidual" for MobileNetV2's ``features.3.conv``);
    - children all of one class: "BasicBlock ×2" (ResNet's ``layer1``);
    - a meaningful attribute name: "mlp", "classifier", "downsample";
    - a bare index ("0", an nn.Sequential child): a summary of what it holds,
      "Conv2d-BN-ReLU6";
    - else the class.

    ``runs`` are its children as ``[op, count]`` runs (nnviz.passes.collapse.child_runs).
    """
    if op not in GENERIC:
        return op
    if alone and len(path) > 1:
        parent = graph.groups.get(path[:-1])
        if parent is not None and parent.op and parent.op not in GENERIC:
            return parent.op
    runs = runs or []
    if len(runs) == 1 and runs[0][0] not in GENERIC:
        # a container of N blocks of one class is named by them, as papers do
        return runs[0][0] + (f" \u00d7{runs[0][1]}" if runs[0][1] > 1 else "")
    name = path[-1] if path else ""
    if name and not name.isdigit() and "\u2026" not in name:
        return name
    parts = [short_op(o) + (f"\u00d7{c}" if c > 1 else "") for o, c in runs]
    if parts:
        more = len(parts) > SUMMARY_PARTS
        return "-".join(parts[:SUMMARY_PARTS]) + ("\u2026" if more else "")
    return op


def box_title(graph: Graph, node: Node, alone: bool = False) -> str:
    """A box's title: the op; for a collapsed group, group_title."""
    path = node.meta.get("group") if node.kind == "group" else None
    if not isinstance(path, list):
        return node.op
    return group_title(graph, tuple(path), node.op, node.meta.get("inner_runs"),
                       alone or bool(node.meta.get("fills_parent")))


_ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "sigmoid": "Sigmoid", "tanh": "Tanh",
                "softmax": "Softmax", "gelu": "GELU", "swish": "SiLU", "silu": "SiLU",
                "elu": "ELU", "selu": "SELU", "leaky_relu": "LeakyReLU",
                "hard_sigmoid": "HardSigmoid", "hard_silu": "HardSiLU",
                "hard_swish": "HardSiLU", "softplus": "Softplus", "softsign": "Softsign",
                "mish": "Mish", "exponential": "Exp", "log_softmax": "LogSoftmax"}


def activation_name(node: Node) -> str:
    """The activation a layer applies itself (Keras ``Conv2D(activation="relu")``), as the
    activation layer would be called ("ReLU"); "" for none or linear."""
    act = node.canon.get("activation")
    if not isinstance(act, str) or not act or act.lower() in ("linear", "none"):
        return ""
    return _ACTIVATIONS.get(act.lower(), act)


def added_modules(node: Node) -> list[str]:
    """Modules whose weights an add holds without being that module: GPT's position
    embedding ``wpe`` looked up from a constant table is folded by the capture into the add
    that joins it, so the add carries ``wpe.weight``; drawn as "+ wpe" (an add of anything
    else, or an op of its own, names nothing)."""
    if node.kind != "elementwise" or not node.op.lower().endswith("add") or not node.params:
        return []
    return list(dict.fromkeys(p.name.rsplit(".", 1)[0] for p in node.params
                              if p.role == "param" and "." in p.name))


class LabelMemo:
    """Per-drawing memo of the parts of box labels that repeat across boxes: the text of an
    output shape (label_shape: symbolic-dim rewriting and a width check per shape), the lines
    a tuple of shape texts packs into, and human-readable parameter counts. Keys carry the
    exact types of the dims (a float 5.0 or a bool would hash like the int 5 but print
    differently), so a hit is only ever the result for an identical input."""

    def __init__(self) -> None:
        self.shapes: dict[tuple, str] = {}
        self.packed: dict[tuple[str, ...], list[str]] = {}
        self.counts: dict[int, str] = {}

    def shape(self, shape: Shape) -> str:
        if type(shape) is not tuple:
            return label_shape(shape)
        key = (shape, tuple(map(type, shape)))
        try:
            text = self.shapes.get(key)
        except TypeError:  # an unhashable dim: measured every time
            return label_shape(shape)
        if text is None:
            text = self.shapes[key] = label_shape(shape)
        return text

    def shape_lines(self, shapes: tuple[str, ...]) -> list[str]:
        hit = self.packed.get(shapes)
        if hit is None:
            hit = self.packed[shapes] = shape_lines(list(shapes))
        return hit

    def count(self, n: int) -> str:
        text = self.counts.get(n)
        if text is None:
            text = self.counts[n] = human_count(n)
        return text


def node_lines(graph: Graph, node: Node, memo: LabelMemo | None = None) -> list[LabelLine]:
    """The label lines of ``node``'s box (before fitting to the box width). ``memo`` (one
    per drawing) shares the measuring of repeated shapes and counts between boxes."""
    return [LabelLine(text, style) for text, style in label_texts(graph, node, memo)]


def label_texts(graph: Graph, node: Node, memo: LabelMemo | None = None
                ) -> list[tuple[str, str]]:
    """node_lines as (text, style) pairs: what LineFitter.fit_texts measures (a pair is its
    own memo key; most lines of a big drawing repeat and need no LabelLine of their own)."""
    meta = node.meta
    badge = f" \u00d7{meta['repeat']}" if meta.get("repeat") else ""
    # meta "fused": activations a runtime fused into the op (TFLite CONV_2D + RELU6); a
    # Keras layer's own activation argument is drawn the same way ("Conv2D + ReLU")
    # (the checks before the helper calls below skip them for the common plain layer: this
    # runs once per box, 50k times on the big drawings)
    fused_meta = meta.get("fused")
    acts = [a for a in fused_meta if isinstance(a, str)] if fused_meta is not None else []
    # the loader's display words for a fused activation win over the canonical name
    own = "" if acts or "activation" not in node.canon else activation_name(node)
    if own and own not in acts:
        acts.append(own)
    fused = "".join(f" + {a}" for a in acts) if acts else ""
    title = box_title(graph, node) if node.kind == "group" else node.op
    lines = [(title + fused + badge, "title")]
    short = display_name(node)
    if short and short != title:  # "classifier" titled by its name says it once
        lines.append((short, "name"))
    added = added_modules(node) if node.params else []
    if added:  # the add's weights are another module's: say which ("+ wpe")
        lines.append((" ".join("+ " + m for m in added), "name"))
    if meta.get("opaque"):  # user code (a Keras Lambda, a custom class): not read, not run
        lines.append(("(opaque)", "detail"))
    shapes = []
    tensors = graph.tensors
    measure = memo.shape if memo is not None else label_shape
    for t in node.outputs:
        tensor = tensors.get(t)
        if tensor is not None and tensor.shape is not None:
            shapes.append(measure(tensor.shape))
    if shapes:
        packed = memo.shape_lines(tuple(shapes)) if memo is not None else shape_lines(shapes)
        lines.extend([(text, "detail") for text in packed])
    if node.kind == "io" and not shapes and node.inputs:
        tensor = tensors.get(node.inputs[0])
        if tensor is not None and tensor.shape is not None:
            lines.append((measure(tensor.shape), "detail"))
    text = params_text(node, memo) if node.params or node.kind == "group" else ""
    if text:
        lines.append((text, "detail"))
    shared = meta.get("shared_params")
    if shared:  # a tied weight: the same numbers on several boxes are counted once
        others = sorted({o for names in shared.values() for o in names})
        lines.append(("shared with " + ", ".join(others), "detail"))
    note = meta.get("note")  # one short loader fact, e.g. the output's quantization
    if isinstance(note, str) and note:
        lines.append((note, "detail"))
    if meta.get("overlay"):
        lines.extend([(ln.text, ln.style) for ln in overlay_lines(node)])
    return lines


def merged_overlay(graph: Graph, ids: list[str]) -> dict | None:
    """The overlay of a box standing for several layers (a paper-style block with its fused
    ReLU): the value of the last one that has a value (the output the box shows), the flags
    of all of them."""
    ovs = [graph.nodes[i].meta.get("overlay") for i in ids if i in graph.nodes]
    ovs = [o for o in ovs if o]
    if not ovs:
        return None
    valued = [o for o in ovs if o.get("value") is not None]
    out = dict(valued[-1] if valued else ovs[0])
    flags: list[str] = []
    badges: list[str] = []
    for o in ovs:
        flags.extend(f for f in o.get("flags", []) if f not in flags)
        if o.get("badge") and o["badge"] not in badges:
            badges.append(o["badge"])
    out["flags"], out["badge"] = flags, ", ".join(badges)
    return out


def overlay_lines(node: Node, ov: dict | None = None) -> list[LabelLine]:
    """`--overlay`: the box's value ("std 0.53") and its flag badge ("! NaN origin")."""
    ov = ov if ov is not None else node.meta.get("overlay")
    if not ov:
        return []
    out = []
    if ov.get("text"):
        out.append(LabelLine(ov["text"], "name"))
    if ov.get("badge"):
        out.append(LabelLine("! " + ov["badge"], "title"))
    return out


def params_text(node: Node, memo: LabelMemo | None = None) -> str:
    """'params: 1.2M'; a folded box says what one block and what all blocks hold."""
    count = node.meta.get("params") if node.kind == "group" else None
    if not isinstance(count, int):
        count = node.param_count if node.params else 0  # a layer: its own learnable weights
    if not count:
        return ""
    total = node.meta.get("params_total") if node.meta.get("repeat") else None
    if isinstance(total, int) and total != count:
        return f"params: {human_count(count)} each \u00b7 {human_count(total)} total"
    if isinstance(total, int):
        return f"params: {human_count(count)} (shared by all)"
    return f"params: {memo.count(count) if memo is not None else human_count(count)}"


# Output shapes on a box: whole shapes only (a line is never cut inside a shape), packed into
# lines as wide as the default theme's text column; beyond MAX_SHAPES the rest is "+N more"
# (a 3-way split must read as a 3-way split, a 40-way one as a box, not a wall).
MAX_SHAPES = 4
_SHAPE_LINE_WIDTH = 300.0  # default theme: max_width 320 - 2 * padding_x 10
_SHAPE_SIZE = 10.0
_MAX_SHAPE_LINES = 3


def label_shape(shape: Shape) -> str:
    """format_shape with symbolic sizes in their readable form (``height/8``); a shape wider
    than a box gives up its longest symbolic sizes (drawn "\u2026"), never a cut mid-size."""
    if shape is None:
        return format_shape(shape)
    dims: list[Dim] = [readable_dim(d) if isinstance(d, str) else d for d in shape]
    text = format_shape(tuple(dims))
    while text_width(text, _SHAPE_SIZE) > _SHAPE_LINE_WIDTH:
        longest = max(range(len(dims)), key=lambda i: (len(str(dims[i])), -i))
        if not isinstance(dims[longest], str) or dims[longest] == "\u2026":
            break
        dims[longest] = "\u2026"
        text = format_shape(tuple(dims))
    return text


def shape_lines(shapes: list[str]) -> list[str]:
    """Whole shapes packed greedily into at most _MAX_SHAPE_LINES lines; what does not fit
    is counted ("+N more"), never cut."""
    if not shapes:
        return []
    shown = shapes if len(shapes) <= MAX_SHAPES else shapes[:MAX_SHAPES - 1]
    lines: list[list[str]] = []
    placed = 0
    for item in shown:
        if lines and _fits(lines[-1] + [item]):
            lines[-1].append(item)
        elif len(lines) < _MAX_SHAPE_LINES:
            lines.append([item])
        else:
            break
        placed += 1
    hidden = len(shapes) - placed
    while hidden and lines:
        last = lines[-1]
        if _fits(last + [f"+{hidden} more"]) or len(last) == 1:
            last.append(f"+{hidden} more")
            break
        last.pop()  # make room for the count on the last line
        hidden += 1
    return [" ".join(line) for line in lines]


def _fits(items: list[str]) -> bool:
    return text_width(" ".join(items), _SHAPE_SIZE) <= _SHAPE_LINE_WIDTH


def font_size(theme: Theme, style: str) -> float:
    return float(theme["font"]["title_size"] if style == "title" else theme["font"]["size"])


def fit_lines(lines: list[LabelLine], theme: Theme) -> list[LabelLine]:
    """Truncate lines that are wider than the theme's max box width."""
    node = theme["node"]
    max_text = node["max_width"] - 2 * node["padding_x"]
    return [LabelLine(truncate(ln.text, font_size(theme, ln.style), max_text, ln.style == "title"),
                      ln.style) for ln in lines]


def box_size(lines: list[LabelLine], theme: Theme) -> tuple[float, float]:
    node = theme["node"]
    width = max((text_width(ln.text, font_size(theme, ln.style), ln.style == "title")
                 for ln in lines), default=0.0)
    height = sum(line_height(font_size(theme, ln.style)) for ln in lines)
    height += node["line_gap"] * max(0, len(lines) - 1)
    w = max(node["min_width"], width + 2 * node["padding_x"])
    h = height + 2 * node["padding_y"]
    return round(w, 2), round(h, 2)


def format_label_text(lines: list[LabelLine]) -> str:
    return "\n".join(ln.text for ln in lines)


class LineFitter:
    """fit_lines + box_size of node boxes, memoised per distinct (text, style) and per
    sequence of line styles: the one text measurer of the layered layout and the HTML
    viewer (at 50k nodes measuring is most of their front; most lines repeat: op names,
    shapes, parameter counts).

    A line is measured with the same arithmetic as text.text_width (sum of advance units *
    size / units-per-em) through a per-character table, about 3x faster on unique names;
    a line too wide for a box goes through fit_lines itself.
    """

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        faces = text_metrics()
        self.faces = {}
        for bold in (False, True):
            face = faces["bold" if bold else "regular"]
            self.faces[bold] = ({chr(k): v for k, v in face["widths"].items()},
                                face["default"], face["units_per_em"])
        node_t = theme["node"]
        self.max_text = node_t["max_width"] - 2 * node_t["padding_x"]
        self.min_w, self.pad_x = node_t["min_width"], 2 * node_t["padding_x"]
        self.sizes = {style: font_size(theme, style) for style in ("title", "name", "detail")}
        self.lines: dict[tuple[str, str], tuple[LabelLine, float]] = {}
        self.heights: dict[tuple[str, ...], float] = {}

    def measure(self, ln: LabelLine) -> tuple[LabelLine, float]:
        """(fitted line, box width for it alone), not memoised."""
        bold = ln.style == "title"
        cw, default, upem = self.faces[bold]
        size = self.sizes.get(ln.style)
        if size is None:
            size = font_size(self.theme, ln.style)
        width = sum(map(cw.get, ln.text, repeat(default))) * size / upem
        if width > self.max_text:
            fitted = fit_lines([ln], self.theme)[0]
            return fitted, box_size([fitted], self.theme)[0]
        return ln, round(max(self.min_w, width + self.pad_x), 2)

    def fit(self, lines: list[LabelLine]) -> tuple[list[LabelLine], float, float]:
        """(fit_lines(lines), box_size's width and height of them)."""
        return self.fit_texts([(ln.text, ln.style) for ln in lines])

    def fit_texts(self, lines: list[tuple[str, str]]) -> tuple[list[LabelLine], float, float]:
        """fit() of lines given as (text, style) pairs (label_texts)."""
        memo = self.lines
        fitted = []
        w = 0.0
        for key in lines:
            hit = memo.get(key)
            if hit is None:
                hit = memo[key] = self.measure(LabelLine(*key))
            fitted.append(hit[0])
            if hit[1] > w:
                w = hit[1]
        styles = tuple([ln.style for ln in fitted])
        h = self.heights.get(styles)
        if h is None:
            h = self.heights[styles] = box_size(fitted, self.theme)[1]
        return fitted, w, h
