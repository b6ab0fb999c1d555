"""The contract of one flat sub-problem (a "level"): what the engine hands to the phases,
and what it gets back. Every phase module reads a :class:`LevelInput`; ``level.solve_level``
runs them in order and returns a :class:`LevelResult`. All in TB space (flow along +y).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

Point = tuple[float, float]


@dataclass
class LevelInput:
    widths: list[float]  # per item
    heights: list[float]
    n_in: int = 0  # in-ports, vertex ids n .. n+n_in-1
    n_out: int = 0  # out-ports, vertex ids n+n_in .. n+n_in+n_out-1
    # (src vertex, dst vertex, attach offset at src, attach offset at dst)
    edges: list[tuple[int, int, float, float]] = field(default_factory=list)
    spread: list[bool] = field(default_factory=list)  # per item: a node (spread incoming edges)
    # per item: a laid-out group (tall items span several layers; group -> group edges align
    # the boxes' centres so a chain of blocks is one column instead of a staircase)
    is_group: list[bool] = field(default_factory=list)
    # per item: which distinct child layout it is (-1 for nodes); two equal classes joined by
    # an edge are repeated blocks, stacked centre on centre
    item_class: list[int] = field(default_factory=list)
    # per item: a reference stub of a high fan-out source (aux.py); placed last, in leftover
    # space right above its consumer, so it never pushes the trunk sideways
    aux: list[bool] = field(default_factory=list)
    framed: bool = False
    pad: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # top, right, bottom, left
    min_size: tuple[float, float] = (0.0, 0.0)
    node_sep: float = 24.0
    rank_sep: float = 36.0
    edge_sep: float = 10.0
    # the gap below a layer whose edges all run straight down (0: always rank_sep)
    rank_sep_straight: float = 0.0
    # a framed level's title: its patch width and the border it sits on in TB space ("top",
    # "bottom", or "" where no port edge can reach it); bands.py keeps a spot of the title
    # band free of the port edges that pass through it
    title_w: float = 0.0
    title_side: str = ""

    def signature(self) -> tuple:
        """Hashable identity: two levels with equal signatures get identical layouts."""
        # (C-level maps and list comprehensions: a 50k-node drawing has 5k levels)
        return (tuple(map(round, self.widths, repeat(2))),
                tuple(map(round, self.heights, repeat(2))),
                self.n_in, self.n_out,
                tuple([(s, d, round(a, 2), round(b, 2)) for s, d, a, b in self.edges]),
                tuple(self.spread), tuple(self.is_group), tuple(self.item_class),
                tuple(self.aux),
                self.framed, self.pad,
                self.min_size, self.rank_sep_straight, self.title_w, self.title_side)


@dataclass
class LevelResult:
    width: float
    height: float
    cx: list[float]  # item centres, relative to the level's top-left corner
    cy: list[float]
    port_x: list[float]  # in-ports then out-ports, relative to the left border
    paths: list[list[Point]]  # one polyline per input edge, from its source to its target
    crossings: int = 0
    title_extra: float = 0.0  # width + height the frame's title added (engine: two lines?)
