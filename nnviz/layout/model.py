"""Positioned geometry: the output of every layout engine and the input of every renderer.

Coordinates are px, origin top-left, y down. Boxes are given by their top-left corner and
size. Nothing here knows about frameworks; renderers make no layout decisions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class LabelLine:
    text: str
    style: str = "detail"  # "title" (op, bold), "name", "detail" (shape, params)


@dataclass
class NodeBox:
    id: str
    x: float
    y: float
    w: float
    h: float
    lines: list[LabelLine] = field(default_factory=list)
    shape: str = "box"  # "box", "stub" (auxiliary input reference), style-specific shapes

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


@dataclass
class EdgePath:
    src: str
    dst: str
    tensor: str
    points: list[tuple[float, float]]  # polyline from the source border to the target border
    spline: bool = False  # if True, points are cubic Bezier control points: p0 (c1 c2 p)+
    label: str = ""


@dataclass
class GroupFrame:
    path: tuple[str, ...]
    label: str
    x: float
    y: float
    w: float
    h: float
    # the title on two lines when it is wider than the frame's content; empty: one line,
    # the label
    lines: list[str] = field(default_factory=list)


@dataclass
class Layout:
    width: float
    height: float
    nodes: dict[str, NodeBox] = field(default_factory=dict)
    edges: list[EdgePath] = field(default_factory=list)
    groups: list[GroupFrame] = field(default_factory=list)
    direction: str = "TB"
    engine: str = "layered"
    style: str = "graph"  # "graph", "blocks", "neurons": the renderers dispatch on this
    extras: dict[str, Any] = field(default_factory=dict)  # style-specific geometry, JSON-able

    def to_dict(self) -> dict:
        return {
            "width": self.width, "height": self.height, "direction": self.direction,
            "engine": self.engine, "style": self.style,
            "nodes": {k: asdict(v) for k, v in self.nodes.items()},
            "edges": [asdict(e) for e in self.edges],
            "groups": [asdict(g) for g in self.groups],
            "extras": self.extras,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        nodes = {}
        for k, v in d.get("nodes", {}).items():
            v = dict(v)
            v["lines"] = [LabelLine(**ln) for ln in v.get("lines", [])]
            nodes[k] = NodeBox(**v)
        edges = []
        for e in d.get("edges", []):
            e = dict(e)
            e["points"] = [tuple(p) for p in e["points"]]
            edges.append(EdgePath(**e))
        groups = []
        for g in d.get("groups", []):
            g = dict(g)
            g["path"] = tuple(g["path"])
            groups.append(GroupFrame(**g))
        return cls(width=d["width"], height=d["height"], nodes=nodes, edges=edges, groups=groups,
                   direction=d.get("direction", "TB"), engine=d.get("engine", "layered"),
                   style=d.get("style", "graph"), extras=d.get("extras", {}))
