"""The framework-free IR: the one contract between loaders, passes, layout and renderers.

Plain dataclasses, JSON round-trip, no framework imports. Edges are derived from tensors:
the node producing a tensor -> every node consuming it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Conventions:
    """How a family's graphs spell what the IR leaves to the framework: declared once per
    loader (``nnviz.loaders.LOADERS``) and read by the passes and layouts as
    ``graph.conventions``, so no code outside ``loaders/`` tests a framework name. A node's
    own canonical attribute (``Node.canon``: ``data_layout``, ``weight_layout``,
    ``batch_first``) still wins.
    """

    data_layout: str = "channels_first"  # or "channels_last" (Keras): where channels sit
    weight_layout: str = "out_in_spatial"  # or "spatial_in_out" (Keras kernels (k..., in, out))
    batch_first: bool | None = None  # True: sequence inputs are (batch, seq, features)
    flatten_start_dim: int | None = None  # a bare Flatten keeps dims before this (torch: 1)
    transpose_reverses: bool = True  # a Transpose without perm reverses the axes (ONNX)


# framework tag -> its Conventions: filled from the loader table when nnviz.loaders is
# imported (the IR knows no framework).
CONVENTIONS: dict[str, Conventions] = {}
_DEFAULT_CONVENTIONS = Conventions()

# Rich-display hooks, keyed by format ("svg"): filled in by nnviz.api when nnviz is imported.
REPR_HOOKS: dict[str, Callable[[Graph], str]] = {}

Dim = int | str | None
Shape = tuple[Dim, ...] | None

DTYPE_BYTES: dict[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "float8": 1,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint64": 8, "uint32": 4, "uint16": 2,
    "uint8": 1, "bool": 1, "complex64": 8, "complex128": 16, "int4": 1, "uint4": 1,
}


def shape_numel(shape: Shape) -> int | None:
    """Number of elements of a fully known shape, else None."""
    if shape is None:
        return None
    n = 1
    for d in shape:
        if not isinstance(d, int) or d < 0:
            return None
        n *= d
    return n


def format_shape(shape: Shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _shape_to_json(shape: Shape) -> list | None:
    return None if shape is None else list(shape)


def _shape_from_json(value: Any) -> Shape:
    return None if value is None else tuple(value)


# What a Param is, by each framework's own counting convention (README "Parameter counts"):
#   "param"    a learnable weight: counted in every total (PyTorch ``parameters()``, Keras
#              weights incl. non-trainable ones, ONNX weight initializers);
#   "buffer"   PyTorch state that is not a parameter (BatchNorm running stats, masks):
#              listed and summed separately, never in the parameter total;
#   "constant" a value baked into the graph (ONNX masks, zero states, RoPE tables, scalars):
#              shown in the details, counted nowhere.
PARAM_ROLES: tuple[str, ...] = ("param", "buffer", "constant")


@dataclass
class Param:
    """A weight of a node. Counts come from the shape, never from the bytes."""

    name: str
    shape: Shape
    dtype: str | None = None
    trainable: bool = True
    role: str = "param"

    @property
    def count(self) -> int | None:
        return shape_numel(self.shape)

    @property
    def nbytes(self) -> int | None:
        n = self.count
        size = DTYPE_BYTES.get(self.dtype or "")
        return None if n is None or size is None else n * size

    def to_dict(self) -> dict:
        d = {"name": self.name, "shape": _shape_to_json(self.shape), "dtype": self.dtype,
             "trainable": self.trainable}
        if self.role != "param":  # the common case stays as it was in the JSON
            d["role"] = self.role
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Param:
        return cls(d["name"], _shape_from_json(d.get("shape")), d.get("dtype"),
                   d.get("trainable", True), d.get("role", "param"))


@dataclass
class Tensor:
    id: str
    shape: Shape = None
    dtype: str | None = None
    is_param: bool = False

    def to_dict(self) -> dict:
        return {"id": self.id, "shape": _shape_to_json(self.shape), "dtype": self.dtype,
                "is_param": self.is_param}

    @classmethod
    def from_dict(cls, d: dict) -> Tensor:
        return cls(d["id"], _shape_from_json(d.get("shape")), d.get("dtype"),
                   d.get("is_param", False))


@dataclass
class Node:
    """One operator / layer.

    ``op`` is the framework's own type (``Conv``, ``Dense``, ``aten.linear``); ``kind`` is one
    of :data:`nnviz.kinds.KINDS`. ``group`` is the path in the scope tree. ``attrs`` are the
    framework's own attributes, as the file spells them (shown in the details); ``canon`` the
    same facts under one spelling for every framework (:mod:`nnviz.canon`: kernel, stride,
    padding, ...), set by the loader and the only attributes passes and layouts read.
    ``meta`` holds analysis results (``flops``, ``macs``, ``repeat``, ``opaque``,
    ``collapsed_nodes`` ...), all JSON-able.
    """

    id: str
    op: str
    kind: str = "other"
    name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    group: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    canon: dict[str, Any] = field(default_factory=dict)

    @property
    def param_count(self) -> int:
        """Learnable parameters of this node (buffers and constants are not counted)."""
        return sum(p.count or 0 for p in self.params if p.role == "param")

    def to_dict(self) -> dict:
        d = {"id": self.id, "op": self.op, "kind": self.kind, "name": self.name,
             "attrs": self.attrs, "inputs": list(self.inputs), "outputs": list(self.outputs),
             "params": [p.to_dict() for p in self.params], "group": list(self.group),
             "meta": self.meta}
        if self.canon:  # a node without canonical attributes stays as it was in the JSON
            d["canon"] = self.canon
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Node:
        return cls(id=d["id"], op=d["op"], kind=d.get("kind", "other"), name=d.get("name", ""),
                   attrs=d.get("attrs", {}), inputs=list(d.get("inputs", [])),
                   outputs=list(d.get("outputs", [])),
                   params=[Param.from_dict(p) for p in d.get("params", [])],
                   group=tuple(d.get("group", ())), meta=d.get("meta", {}),
                   canon=d.get("canon", {}))


@dataclass
class Group:
    """A node of the scope tree: a module, a name scope, a nested model, a subgraph."""

    path: tuple[str, ...]
    label: str = ""
    op: str = ""  # e.g. the module class ("TransformerEncoderLayer"), "If.then_branch"
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"path": list(self.path), "label": self.label, "op": self.op, "attrs": self.attrs}

    @classmethod
    def from_dict(cls, d: dict) -> Group:
        return cls(tuple(d["path"]), d.get("label", ""), d.get("op", ""), d.get("attrs", {}))


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    tensor: str


@dataclass
class Graph:
    name: str = "model"
    nodes: dict[str, Node] = field(default_factory=dict)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    groups: dict[tuple[str, ...], Group] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    # base -> next suffix to try in unique_node_id: probing from 1 each time was quadratic
    # (a hostile file with 250k unnamed Relu nodes took hours to load).
    _id_suffix: dict[str, int] = field(default_factory=dict, init=False, repr=False,
                                       compare=False)

    # ---- building -------------------------------------------------------------------------
    def add_node(self, node: Node) -> Node:
        if node.id in self.nodes:
            raise ValueError(f"duplicate node id {node.id!r}")
        self.nodes[node.id] = node
        return node

    def add_tensor(self, tensor: Tensor) -> Tensor:
        self.tensors.setdefault(tensor.id, tensor)
        return self.tensors[tensor.id]

    def unique_node_id(self, base: str) -> str:
        """A node id derived from ``base`` that is not taken yet."""
        base = base or "node"
        if base not in self.nodes:
            return base
        i = self._id_suffix.get(base, 1)
        while f"{base}_{i}" in self.nodes:
            i += 1
        self._id_suffix[base] = i + 1
        return f"{base}_{i}"

    def ensure_group(self, path: tuple[str, ...], op: str = "") -> None:
        """Create the group at ``path`` and all its ancestors if missing."""
        for i in range(1, len(path) + 1):
            p = tuple(path[:i])
            if p not in self.groups:
                self.groups[p] = Group(p, label=p[-1], op=op if i == len(path) else "")

    # ---- derived structure ----------------------------------------------------------------
    def producers(self) -> dict[str, str]:
        """tensor id -> id of the node producing it."""
        out: dict[str, str] = {}
        for node in self.nodes.values():
            for t in node.outputs:
                out.setdefault(t, node.id)
        return out

    def consumers(self) -> dict[str, list[str]]:
        """tensor id -> ids of the nodes consuming it (in node order, no repeats)."""
        out: dict[str, list[str]] = {}
        for node in self.nodes.values():
            seen = set()
            for t in node.inputs:
                if t in seen:
                    continue
                seen.add(t)
                out.setdefault(t, []).append(node.id)
        return out

    def edges(self) -> list[Edge]:
        """Producer -> consumer edges, one per (tensor, consumer), deterministic order."""
        prod = self.producers()
        result: list[Edge] = []
        for node in self.nodes.values():
            seen = set()
            for t in node.inputs:
                src = prod.get(t)
                if src is None or t in seen:
                    continue
                seen.add(t)
                result.append(Edge(src, node.id, t))
        return result

    def successors(self) -> dict[str, list[str]]:
        succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for e in self.edges():
            if e.dst not in succ[e.src]:
                succ[e.src].append(e.dst)
        return succ

    def predecessors(self) -> dict[str, list[str]]:
        pred: dict[str, list[str]] = {n: [] for n in self.nodes}
        for e in self.edges():
            if e.src not in pred[e.dst]:
                pred[e.dst].append(e.src)
        return pred

    def topological_order(self) -> list[str]:
        """Node ids in a topological order (Kahn, ties by insertion order).

        Nodes on cycles (bad files) are appended at the end in insertion order, so this
        never fails.
        """
        index = {nid: i for i, nid in enumerate(self.nodes)}
        succ = self.successors()
        indeg = {n: 0 for n in self.nodes}
        for outs in succ.values():
            for d in outs:
                indeg[d] += 1
        import heapq

        heap = [index[n] for n, d in indeg.items() if d == 0]
        heapq.heapify(heap)
        ids = list(self.nodes)
        order: list[str] = []
        while heap:
            n = ids[heapq.heappop(heap)]
            order.append(n)
            for d in succ[n]:
                indeg[d] -= 1
                if indeg[d] == 0:
                    heapq.heappush(heap, index[d])
        if len(order) < len(ids):
            placed = set(order)
            order.extend(n for n in ids if n not in placed)
        return order

    def iter_group_nodes(self, prefix: tuple[str, ...]) -> Iterator[Node]:
        k = len(prefix)
        for node in self.nodes.values():
            if node.group[:k] == prefix:
                yield node

    @property
    def total_params(self) -> int:
        """The model's parameters, each weight counted once even when several nodes share it.

        Once the graph is annotated (``meta["params"]``, see nnviz.passes.params) that total
        is the answer: the view passes fold, collapse and hide nodes, but the model does not
        change with the view, so neither does its total.
        """
        annotated = self.meta.get("params")
        if isinstance(annotated, int) and not isinstance(annotated, bool):
            return annotated
        seen: set[str] = set()
        total = 0
        for node in self.nodes.values():
            for p in node.params:
                if p.name in seen or p.role != "param":
                    continue
                seen.add(p.name)
                total += p.count or 0
        return total

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "nodes": [n.to_dict() for n in self.nodes.values()],
            "tensors": [t.to_dict() for t in self.tensors.values()],
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "groups": [g.to_dict() for g in self.groups.values()],
            "meta": self.meta,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=_json_default)

    @classmethod
    def from_dict(cls, d: dict) -> Graph:
        g = cls(name=d.get("name", "model"), meta=d.get("meta", {}))
        for nd in d.get("nodes", []):
            g.add_node(Node.from_dict(nd))
        for td in d.get("tensors", []):
            g.add_tensor(Tensor.from_dict(td))
        g.inputs = list(d.get("inputs", []))
        g.outputs = list(d.get("outputs", []))
        for gd in d.get("groups", []):
            grp = Group.from_dict(gd)
            g.groups[grp.path] = grp
        return g

    @classmethod
    def from_json(cls, text: str) -> Graph:
        return cls.from_dict(json.loads(text))

    def copy(self) -> Graph:
        return Graph.from_dict(json.loads(self.to_json()))

    @property
    def conventions(self) -> Conventions:
        """The conventions of the family this graph came from (by ``meta["framework"]``; a
        graph saved as nnviz JSON keeps its family's tag); the defaults for an unknown tag."""
        tag = str(self.meta.get("framework", "")).lower()
        return CONVENTIONS.get(tag, _DEFAULT_CONVENTIONS)

    # ---- Jupyter ----------------------------------------------------------------------------
    def _repr_svg_(self) -> str | None:
        # The drawing is made by the API, a stage far above the IR: it registers itself here
        # (REPR_HOOKS["svg"]) on import, so the IR imports nothing of the stages above it.
        hook = REPR_HOOKS.get("svg")
        return hook(self) if hook is not None else None

    def __repr__(self) -> str:
        return (f"Graph(name={self.name!r}, nodes={len(self.nodes)}, tensors={len(self.tensors)}, "
                f"params={self.total_params})")


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
