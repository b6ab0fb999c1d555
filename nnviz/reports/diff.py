"""`nnviz diff OLD NEW`: added, removed and changed layers, and the parameter delta.

Layers are matched by name first (exports of the same code keep their names), then the
leftovers are aligned by their op sequence (difflib), so a renamed-but-same layer counts as
changed or equal instead of removed + added. A matched layer is "changed" when its op, output
shapes or parameter shapes differ. ``-o diff.svg`` draws the NEW model with added and changed
layers outlined (node.meta["diff"]).
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass, field
from typing import Any

from nnviz.ir import Graph, Node, format_shape
from nnviz.reports.writer import Column, csv_text, json_text, markdown_table, md_escape, rich_table

REPORT_EXTENSIONS = {".json": "json", ".md": "markdown", ".markdown": "markdown",
                     ".txt": "table", ".csv": "csv"}


@dataclass
class Change:
    status: str  # "added" | "removed" | "changed"
    name: str
    old_op: str = ""
    new_op: str = ""
    old_shape: str = ""
    new_shape: str = ""
    old_params: int = 0
    new_params: int = 0
    details: list[str] = field(default_factory=list)
    new_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "name": self.name, "old_op": self.old_op,
                "new_op": self.new_op, "old_shape": self.old_shape, "new_shape": self.new_shape,
                "old_params": self.old_params, "new_params": self.new_params,
                "details": list(self.details)}


@dataclass
class DiffResult:
    old_name: str
    new_name: str
    changes: list[Change]
    old_params: int
    new_params: int
    unchanged: int

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.old_params != self.new_params

    def counts(self) -> dict[str, int]:
        out = {"added": 0, "removed": 0, "changed": 0}
        for c in self.changes:
            out[c.status] += 1
        out["unchanged"] = self.unchanged
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old_name, "new": self.new_name, "counts": self.counts(),
                "params": {"old": self.old_params, "new": self.new_params,
                           "delta": self.new_params - self.old_params},
                "changes": [c.to_dict() for c in self.changes]}


def _layers(g: Graph) -> list[Node]:
    """Comparable layers in topological order: everything but graph inputs/outputs."""
    return [g.nodes[nid] for nid in g.topological_order() if g.nodes[nid].kind != "io"]


def _key(n: Node) -> str:
    return n.name or n.id


def _shapes(g: Graph, n: Node) -> str:
    return " ".join(format_shape(g.tensors[t].shape if t in g.tensors else None)
                    for t in n.outputs)


def _param_sig(n: Node) -> list[tuple]:
    return [(None if p.shape is None else tuple(p.shape)) for p in n.params]


def compare(old: Graph, new: Graph) -> DiffResult:
    """Structural diff of two (annotated or raw) graphs."""
    a_layers, b_layers = _layers(old), _layers(new)
    b_by_name: dict[str, Node] = {}
    for n in b_layers:
        b_by_name.setdefault(_key(n), n)
    pairs: list[tuple[Node, Node]] = []
    matched_a: set[str] = set()
    matched_b: set[str] = set()
    for n in a_layers:
        m = b_by_name.get(_key(n))
        if m is not None and m.id not in matched_b:
            pairs.append((n, m))
            matched_a.add(n.id)
            matched_b.add(m.id)
    rest_a = [n for n in a_layers if n.id not in matched_a]
    rest_b = [n for n in b_layers if n.id not in matched_b]
    sm = difflib.SequenceMatcher(a=[n.op for n in rest_a], b=[n.op for n in rest_b],
                                 autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for x, y in zip(rest_a[i1:i2], rest_b[j1:j2]):
                pairs.append((x, y))
                matched_a.add(x.id)
                matched_b.add(y.id)
    changes: list[Change] = []
    unchanged = 0
    changed_by_new: dict[str, Change] = {}
    for x, y in pairs:
        details = []
        if x.op != y.op:
            details.append(f"op {x.op} -> {y.op}")
        sx, sy = _shapes(old, x), _shapes(new, y)
        if sx != sy:
            details.append(f"shape {sx} -> {sy}")
        if _param_sig(x) != _param_sig(y):
            details.append(f"params {x.param_count:,} -> {y.param_count:,}")
        if _key(x) != _key(y):
            details.append(f"renamed {_key(x)} -> {_key(y)}")
        if details and not (len(details) == 1 and details[0].startswith("renamed")):
            c = Change("changed", _key(y), x.op, y.op, sx, sy, x.param_count, y.param_count,
                       details, y.id)
            changed_by_new[y.id] = c
        else:
            unchanged += 1
    for y in b_layers:
        if y.id in changed_by_new:
            changes.append(changed_by_new[y.id])
        elif y.id not in matched_b:
            changes.append(Change("added", _key(y), "", y.op, "", _shapes(new, y), 0,
                                  y.param_count, [], y.id))
    for x in a_layers:
        if x.id not in matched_a:
            changes.append(Change("removed", _key(x), x.op, "", _shapes(old, x), "",
                                  x.param_count, 0))
    return DiffResult(old.name, new.name, changes, old.total_params, new.total_params,
                      unchanged)


def mark_new_graph(new: Graph, result: DiffResult) -> Graph:
    """A copy of the new graph with node.meta["diff"] = "added"/"changed"."""
    g = new.copy()
    for c in result.changes:
        if c.new_id and c.new_id in g.nodes:
            g.nodes[c.new_id].meta["diff"] = c.status
    return g


# ---- reports ----------------------------------------------------------------------------
def _delta(n: int) -> str:
    return f"{'+' if n >= 0 else '-'}{abs(n):,}"


def _headline(r: DiffResult) -> str:
    c = r.counts()
    return (f"{c['added']} added, {c['removed']} removed, {c['changed']} changed, "
            f"{c['unchanged']} unchanged layers; params {r.old_params:,} -> {r.new_params:,} "
            f"({_delta(r.new_params - r.old_params)})")


COLUMNS = (Column("Status"), Column("Layer"), Column("Op"), Column("Output shape"),
           Column("Params", "right"))


def render_markdown(r: DiffResult) -> str:
    out = [f"**{md_escape(r.old_name)} \u2192 {md_escape(r.new_name)}**: "
           f"{md_escape(_headline(r))}", ""]
    if r.changes:
        rows = []
        for c in r.changes:
            op = c.new_op or c.old_op if c.old_op == c.new_op or not c.old_op or not c.new_op \
                else f"{c.old_op} \u2192 {c.new_op}"
            shape = c.new_shape or c.old_shape if c.old_shape == c.new_shape or \
                not c.old_shape or not c.new_shape else f"{c.old_shape} \u2192 {c.new_shape}"
            params = f"{c.old_params:,} \u2192 {c.new_params:,}" if c.status == "changed" \
                else f"{(c.new_params or c.old_params):,}"
            rows.append([c.status, c.name, op, shape, params])
        out += markdown_table(COLUMNS, rows)
    else:
        out.append("No structural differences.")
    return "\n".join(out) + "\n"


def render_table(r: DiffResult, file: Any = None) -> str:
    from rich.console import Console

    colors = {"added": "green", "removed": "red", "changed": "yellow"}
    table = rich_table(COLUMNS, title=f"{r.old_name} \u2192 {r.new_name}")
    for c in r.changes:
        op = c.new_op if c.old_op in ("", c.new_op) else (
            c.old_op if not c.new_op else f"{c.old_op} \u2192 {c.new_op}")
        shape = c.new_shape if c.old_shape in ("", c.new_shape) else (
            c.old_shape if not c.new_shape else f"{c.old_shape} \u2192 {c.new_shape}")
        params = f"{c.old_params:,} \u2192 {c.new_params:,}" if c.status == "changed" \
            else f"{(c.new_params or c.old_params):,}"
        table.add_row(c.status, c.name, op, shape, params, style=colors[c.status])
    buf = io.StringIO()
    tty = file is not None and hasattr(file, "isatty") and file.isatty()
    console = Console(file=file if file is not None else buf, width=None if tty else 140,
                      highlight=False, color_system="auto" if tty else None)
    if r.changes:
        console.print(table)
    console.print(_headline(r), markup=False, highlight=False)
    return buf.getvalue()


def render_report(r: DiffResult, fmt: str) -> str:
    if fmt == "json":
        return json_text(r.to_dict())
    if fmt == "markdown":
        return render_markdown(r)
    if fmt == "csv":
        return csv_text(["status", "name", "old_op", "new_op", "old_shape", "new_shape",
                         "old_params", "new_params"],
                        [[c.status, c.name, c.old_op, c.new_op, c.old_shape, c.new_shape,
                          c.old_params, c.new_params] for c in r.changes])
    return render_table(r)
