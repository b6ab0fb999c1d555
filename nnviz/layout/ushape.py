"""Finding the U of an encoder-decoder (a UNet) in a paper path, from the graph alone.

A UNet's skips pair an encoder stage with the decoder stage of the same spatial size, and
they nest: the outermost skip joins the full-resolution stages, each inner one the next
coarser pair, and the innermost surrounds the bottleneck. Drawn along one line (wrapped
into rows) those nested arcs become parallel lines spanning the whole figure; drawn as a U
(the encoder down one arm, the bottleneck at the bottom, the decoder back up the other
arm) each skip is a short horizontal arrow across the U, as in Ronneberger et al.'s figure
and PlotNeuralNet's U-shaped UNet.

The structure is read from the units' output sizes and the skips, never from the model's
name: two or more skips, strictly nested, each leaving a unit whose output has the same
spatial size (H, W) as the unit it lands on, sizes shrinking inwards, and units between the
innermost pair smaller than it (the bottleneck). Anything else is not a U (None).
"""

from __future__ import annotations

from dataclasses import dataclass

from nnviz.layout.paper_path import PaperPath

DOWN, BOTTOM, UP = "down", "bottom", "up"


@dataclass
class UShape:
    level: list[int]  # per unit: 0 = full resolution ... len(pairs) = the bottleneck
    arm: list[str]  # per unit: DOWN (encoder), BOTTOM (bottleneck) or UP (decoder)
    pairs: list[tuple[int, int]]  # per level, outermost first: (skip source, skip target)


def find_u(ppath: PaperPath, sizes: list[tuple[int, int] | None]) -> UShape | None:
    """The U of ``ppath`` (``sizes``: each unit's output (H, W), None when it is not a
    feature map), or None when its skips do not pair encoder and decoder stages."""
    n = len(ppath.units)
    skips = sorted(ppath.skips, key=lambda s: s.src)
    if len(skips) < 2 or ppath.folds or any(s is None for s in sizes):
        return None
    hw: list[tuple[int, int]] = [s for s in sizes if s is not None]

    def area(i: int) -> int:
        return hw[i][0] * hw[i][1]

    for outer, inner in zip(skips, skips[1:]):
        if not outer.src < inner.src < inner.dst < outer.dst:
            return None  # chained (ResNet) or crossing skips: no U
        if not area(inner.src) < area(outer.src):
            return None  # each inner pair is coarser
    if any(hw[s.src] != hw[s.dst] for s in skips):
        return None  # a skip joins stages of equal spatial size
    m = len(skips)
    level = [0] * n
    arm = [DOWN] * n
    lo = 0
    for k, s in enumerate(skips):
        for i in range(lo, s.src + 1):
            level[i] = k
        lo = s.src + 1
    inner = skips[-1]
    bottom = []
    for i in range(inner.src + 1, inner.dst):
        if area(i) >= area(inner.src):
            break
        bottom.append(i)
    if not bottom:
        return None  # nothing coarser between the innermost pair: no bottleneck
    for i in bottom:
        level[i], arm[i] = m, BOTTOM
    for j in range(bottom[-1] + 1, n):
        arm[j] = UP
        # the deepest pair whose target is not before j; a unit before that target still
        # at the coarser size (a conv before the up-sampling) stays one level down
        k = max((k for k, s in enumerate(skips) if s.dst >= j), default=0)
        if j < skips[k].dst and area(j) < area(skips[k].src):
            k += 1
        level[j] = k
    for a in range(n - 1):
        step = level[a + 1] - level[a]
        if abs(step) > 1 or (step < 0 and arm[a + 1] != UP) or (step > 0 and arm[a] == UP):
            return None  # jumps a level, or climbs before the bottom: not one U
    return UShape(level, arm, [(s.src, s.dst) for s in skips])
