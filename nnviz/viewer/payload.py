"""The viewer page's data on the wire: compact, deflated, base64 in one inert <script> element.

``pack_page`` (nnviz.viewer.page) builds the page data as plain lists and dicts (the "logical"
form, easy to build and to test). A 50k-node model gives about 18 MB of such JSON, which
costs the browser seconds to parse, so ``encode`` ships it as one binary container:

    u32 header length | header JSON | zero padding to 4 bytes | integer columns (LE)

- **Numbers as typed arrays**: every per-node, per-tensor, per-box and per-edge integer column
  (and box/frame coordinates, in tenths of a pixel) is a slice of one buffer, int8, int16 or
  int32 as its values need; the header names each column's [byte offset, length, bytes per
  value] under ``cols``. The page reads them as typed-array views: no JSON number parsing for
  a million numbers.
- **Shared geometry**: views whose boxes, edges and frames are identical (the 48 blocks of a
  transformer; the layout stage already reuses one sub-layout for identical blocks) store
  their geometry once; a later view names the first one (``s``) and keeps only its own box
  refs, edge tensors, lines and frame groups.
- **Interned values**: node meta, node attributes and group attributes are mostly repeats
  ({"params": 0, "flops": 0, ...}): each distinct dict is stored once in ``dicts`` and referred
  to by index. Op names, kinds, shapes and dtypes already travel as string tables.
- **Deflate**: the container is zlib-compressed (deterministic: no timestamps in the zlib
  format) and inflated by the browser's own ``DecompressionStream`` — no library, no network.
  ``compress=False`` keeps it uncompressed (for browsers without DecompressionStream).

``decode`` is the exact inverse (the logical form back), used by tests and tools; the page's
script (templates/viewer.js, ``loadData``/``expand``) does the same in the browser.
"""

from __future__ import annotations

import base64
import json
import struct
import sys
import zlib
from array import array
from typing import Any

from nnviz.errors import NnvizError

ENCODINGS = ("deflate-base64", "base64")
_BOX_GEOM = ("type", "x", "y", "w", "h")
_EDGE_GEOM = ("src", "dst", "count", "delta")
_TENTHS = {"x", "y", "w", "h"}  # coordinates travel as int32 tenths of a pixel
_FRAME_GEOM = ("x", "y", "w", "h", "tx", "tw")  # tx, tw: the title's patch (x and width)


_WIDTHS = ((1, "b", 1 << 7), (2, "h", 1 << 15), (4, "i", 1 << 31))


def _narrowest(col: array) -> tuple[int, str]:
    """Bytes per value and array typecode of the narrowest signed type holding ``col``."""
    lo, hi = (min(col), max(col)) if col else (0, 0)
    return next((w, t) for w, t, lim in _WIDTHS if -lim <= lo and hi < lim)


class _Columns:
    """Named integer columns in one buffer, in a fixed (deterministic) order. Each column is
    stored as int8, int16 or int32, the narrowest that holds its values (most are small
    indices and counts: less to inflate in the page), and starts on a 4-byte boundary."""

    def __init__(self) -> None:
        self.data: dict[str, array] = {}

    def add(self, name: str, values: Any) -> None:
        col = self.data.get(name)
        if col is None:
            col = self.data[name] = array("i")
        col.extend(values)

    def blob(self) -> tuple[dict[str, list[int]], bytes]:
        """({name: [byte offset, length, bytes per value]}, the little-endian bytes)."""
        index, parts, off = {}, [], 0
        for name, col in self.data.items():
            width, code = _narrowest(col)
            out = array(code, col)
            if sys.byteorder == "big":
                out.byteswap()
            data = out.tobytes() + b"\0" * (-len(col) * width % 4)
            index[name] = [off, len(col), width]
            parts.append(data)
            off += len(data)
        return index, b"".join(parts)


def _tenths(values: list) -> list[int]:
    return [round(v * 10) for v in values]


def _untenths(values: list[int]) -> list[float | int]:
    return [v // 10 if v % 10 == 0 else v / 10 for v in values]


class Interner:
    """Strings -> small ints in first-seen order, so the output is deterministic; None -> -1.

    The one string table of the page data: op names, kinds, shapes and dtypes
    (``viewer.page``) and box text lines (``compact``: "Input", "params: 7.1M" repeat)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, s: str | None) -> int:
        if s is None:
            return -1
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.items)
            self.items.append(s)
        return i


class _Dicts:
    """Distinct small dicts (node meta / attrs, group attrs) -> index; 0 (empty) -> -1."""

    def __init__(self) -> None:
        self._keys = Interner()  # a dict's JSON spelling is its identity
        self.items: list[dict] = []

    def __call__(self, d: Any) -> int:
        if not d:
            return -1
        i = self._keys(json.dumps(d, ensure_ascii=False, separators=(",", ":"),
                                  allow_nan=False, default=str))
        if i == len(self.items):
            self.items.append(d)
        return i


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _records(rows: list[dict], prefix: str, cols: _Columns, dicts: _Dicts) -> dict:
    """A list of same-keyed dicts (the groups) as columns: integer columns where every value
    fits int32, the ``attrs`` dicts interned, JSON lists otherwise. Keys this encoder does
    not know (new per-group statistics) travel too, in the same order."""
    keys = list(rows[0]) if rows else []
    if any(list(r) != keys for r in rows):
        return {"rows": rows}
    out: dict[str, Any] = {"n": len(rows), "keys": keys, "cols": [], "json": {}}
    for k in keys:
        vals = [r[k] for r in rows]
        if k == "attrs":
            vals = [dicts(v) for v in vals]
            out["dict"] = k
        if all(_is_int(v) and -2 ** 31 <= v < 2 ** 31 for v in vals):
            cols.add(prefix + k, vals)
            out["cols"].append(k)
        else:
            out["json"][k] = vals
    return out


def _unrecords(table: dict, col: Any, dict_at: Any, prefix: str) -> list[dict]:
    if "rows" in table:
        return table["rows"]
    values = {k: col(prefix + k) for k in table["cols"]}
    values.update(table["json"])
    if "dict" in table:
        values[table["dict"]] = [dict_at(i) for i in values[table["dict"]]]
    return [{k: values[k][i] for k in table["keys"]} for i in range(table["n"])]


def compact(data: dict) -> tuple[dict, bytes]:
    """The logical page data -> (header, column bytes)."""
    cols = _Columns()
    dicts = _Dicts()
    head = {k: v for k, v in data.items() if k not in ("tensors", "nodes", "groups", "views")}

    t = data["tensors"]
    for k in ("shape", "dtype", "producer"):
        cols.add("t." + k, t[k])
    head["tensors"] = {"id": t["id"]}

    n = data["nodes"]
    for k in ("op", "kind", "group", "scope"):
        cols.add("n." + k, n[k])
    for k in ("inputs", "outputs"):  # ragged lists: a count per node, then all of them
        cols.add(f"n.{k}.n", [len(x) for x in n[k]])
        cols.add(f"n.{k}", [v for x in n[k] for v in x])
    cols.add("n.meta", [dicts(m) for m in n["meta"]])
    cols.add("n.attrs", [dicts(a) for a in n["attrs"]])
    head["nodes"] = {
        "name": n["name"],
        # ids equal to the name (most) are null: only the others travel, as [index, id]
        "ids": [[i, x] for i, x in enumerate(n["id"]) if x is not None]}
    # parameters [name, shape, dtype, count]: a count per node, then columns and the names
    params = [q for p in n["params"] if p for q in p]
    cols.add("n.params.n", [len(p) if p else 0 for p in n["params"]])
    cols.add("p.shape", [q[1] for q in params])
    cols.add("p.dtype", [q[2] for q in params])
    counts = [q[3] for q in params]
    if all(c is None or (_is_int(c) and 0 <= c < 2 ** 31) for c in counts):
        cols.add("p.count", [-1 if c is None else c for c in counts])
    else:  # a tensor of 2**31 elements or more: counts as JSON numbers
        head["nodes"]["pcount"] = counts
    head["nodes"]["pname"] = [q[0] for q in params]
    for k, v in n.items():  # fields this encoder does not know travel as they are
        if k not in ("op", "kind", "group", "scope", "inputs", "outputs", "meta", "attrs",
                     "name", "params", "id"):
            head["nodes"][k] = v

    head["groups"] = _records(data["groups"], "g.", cols, dicts)

    views, owners = [], {}
    texts = Interner()
    for vi, v in enumerate(data["views"]):
        box, edge, frame = v["box"], v["edge"], v["frame"]
        geom = (tuple(tuple(box[k]) for k in _BOX_GEOM) + tuple(tuple(edge[k]) for k in _EDGE_GEOM)
                + (tuple(edge["spline"]),)
                + tuple(tuple(frame[k]) for k in (*_FRAME_GEOM, "label")))
        out: dict[str, Any] = {"g": v["group"], "w": v["w"], "h": v["h"],
                               "nb": len(box["type"]), "ne": len(edge["src"])}
        src = owners.get(geom)
        if src is None:
            owners[geom] = vi
            for k in _BOX_GEOM:
                cols.add("b." + k, _tenths(box[k]) if k in _TENTHS else box[k])
            for k in _EDGE_GEOM:
                cols.add("e." + k, edge[k])
            for k in _FRAME_GEOM:
                cols.add("f." + k, _tenths(frame[k]))
            if edge["spline"]:
                out["sp"] = edge["spline"]
            if frame["label"]:
                out["fl"] = frame["label"]
        else:
            out["s"] = src
        cols.add("b.ref", box["ref"])
        cols.add("e.tensor", edge["tensor"])
        if v["lines"]:  # {box index: [[text, style], ...]} -> columns over one string table
            out["nl"] = len(v["lines"])
            for b, lines in v["lines"].items():
                cols.add("l.box", [int(b)])
                cols.add("l.n", [len(lines)])
                cols.add("l.text", [texts(t) for t, _ in lines])
                cols.add("l.style", [st for _, st in lines])
        if frame["group"]:
            out["fg"] = frame["group"]
        views.append(out)
    head["views"] = views
    head["texts"] = texts.items
    head["dicts"] = dicts.items
    index, blob = cols.blob()
    head["cols"] = index
    return head, blob


def encode(data: dict, compress: bool = True) -> tuple[str, str]:
    """(encoding name, ASCII text for the page's data element)."""
    head, blob = compact(data)
    # ASCII: a lone surrogate in a model's name (possible in the IR) survives as its escape
    text = json.dumps(head, ensure_ascii=True, separators=(",", ":"), allow_nan=False,
                      default=str).encode("ascii")
    pad = b"\0" * (-(4 + len(text)) % 4)
    raw = struct.pack("<I", len(text)) + text + pad + blob
    if compress:
        # level 6: 1% bigger than 9 on the 50k-node page, in half the time
        return "deflate-base64", base64.b64encode(zlib.compress(raw, 6)).decode("ascii")
    return "base64", base64.b64encode(raw).decode("ascii")


# ---- the inverse (tests, tools) ----------------------------------------------------------------

def decode(text: str, encoding: str = "deflate-base64") -> dict:
    """The logical page data back from ``encode``'s text."""
    if encoding not in ENCODINGS:
        raise NnvizError(f"unknown viewer data encoding {encoding!r}")
    raw = base64.b64decode(text)
    if encoding == "deflate-base64":
        raw = zlib.decompress(raw)
    (size,) = struct.unpack_from("<I", raw)
    head = json.loads(raw[4:4 + size].decode("utf-8"))
    start = 4 + size + (-(4 + size) % 4)
    cursor: dict[str, int] = {}
    cols = head.pop("cols")
    columns: dict[str, array] = {}
    for name, (off, length, width) in cols.items():
        columns[name] = array({1: "b", 2: "h", 4: "i"}[width])
        columns[name].frombytes(raw[start + off:start + off + length * width])
        if sys.byteorder == "big":
            columns[name].byteswap()

    def col(name: str, count: int | None = None) -> list[int]:
        """The next ``count`` values of a column (all of it when count is None)."""
        if name not in cols:  # (no value of this kind in the page)
            return []
        at = cursor.get(name, 0)
        count = len(columns[name]) - at if count is None else count
        cursor[name] = at + count
        return columns[name][at:at + count].tolist()

    dicts = head.pop("dicts")
    texts = head.pop("texts")

    def dict_at(i: int) -> Any:
        return dicts[i] if i >= 0 else 0

    def ragged(name: str) -> list[list[int]]:
        flat, out, at = col(name), [], 0
        for c in col(name + ".n"):
            out.append(flat[at:at + c])
            at += c
        return out

    data = {k: v for k, v in head.items() if k not in ("tensors", "nodes", "groups", "views")}
    data["tensors"] = {"id": head["tensors"]["id"], "shape": col("t.shape"),
                       "dtype": col("t.dtype"), "producer": col("t.producer")}
    hn = head["nodes"]
    n_id: list[Any] = [None] * len(hn["name"])
    for i, x in hn["ids"]:
        n_id[i] = x
    counts = hn.get("pcount") or [None if c < 0 else c for c in col("p.count")]
    flat = [list(q) for q in zip(hn["pname"], col("p.shape"), col("p.dtype"), counts)]
    params: list[Any] = []
    at = 0
    for c in col("n.params.n"):
        params.append(flat[at:at + c] or 0)
        at += c
    nodes = {"id": n_id, "name": hn["name"], "op": col("n.op"), "kind": col("n.kind"),
             "group": col("n.group"), "scope": col("n.scope"), "inputs": ragged("n.inputs"),
             "outputs": ragged("n.outputs"), "params": params,
             "attrs": [dict_at(i) for i in col("n.attrs")],
             "meta": [dict_at(i) for i in col("n.meta")]}
    nodes.update({k: v for k, v in hn.items()
                  if k not in nodes and k not in ("ids", "pname", "pcount")})
    data["nodes"] = nodes
    data["groups"] = _unrecords(head["groups"], col, dict_at, "g.")
    views: list[dict] = []
    for v in head["views"]:
        nb, ne = v["nb"], v["ne"]
        if "s" in v:
            src = views[v["s"]]
            box = {k: src["box"][k] for k in _BOX_GEOM}
            edge = {k: src["edge"][k] for k in (*_EDGE_GEOM, "spline")}
            frame = {k: src["frame"][k] for k in ("label", *_FRAME_GEOM)}
        else:
            box = {k: (_untenths(col("b." + k, nb)) if k in _TENTHS else col("b." + k, nb))
                   for k in _BOX_GEOM}
            edge = {k: col("e." + k, ne) for k in ("src", "dst", "count")}
            edge["delta"] = col("e.delta", 2 * sum(edge["count"]))
            edge["spline"] = v.get("sp", [])
            labels = v.get("fl", [])
            frame = {"label": labels, **{k: _untenths(col("f." + k, len(labels)))
                                         for k in _FRAME_GEOM}}
        box = {"type": box["type"], "ref": col("b.ref", nb),
               **{k: box[k] for k in ("x", "y", "w", "h")}}
        edge = {"src": edge["src"], "dst": edge["dst"], "tensor": col("e.tensor", ne),
                "count": edge["count"], "delta": edge["delta"], "spline": edge["spline"]}
        frame = {"group": v.get("fg", []), "label": frame["label"],
                 **{k: frame[k] for k in _FRAME_GEOM}}
        lines = {}
        for b, c in zip(col("l.box", v.get("nl", 0)), col("l.n", v.get("nl", 0))):
            lines[str(b)] = [[texts[t], st] for t, st in zip(col("l.text", c), col("l.style", c))]
        views.append({"group": v["g"], "w": v["w"], "h": v["h"], "box": box,
                      "lines": lines, "frame": frame, "edge": edge})
    data["views"] = views
    return data


def read_page(page: str) -> dict:
    """The logical page data of a viewer page (its text)."""
    import re

    m = re.search(r'<script type="application/nnviz" id="nnviz-data" '
                  r'data-encoding="([a-z0-9-]+)">([A-Za-z0-9+/=]*)</script>', page)
    if m is None:
        raise NnvizError("not an nnviz viewer page (no data element)")
    return decode(m.group(2), m.group(1))


def full_names(data: dict) -> tuple[list[str], list[str]]:
    """Node names and tensor ids of the logical page data, spelled out as the page does:
    names come front-coded ([shared prefix length, rest]), exporter-style tensor ids as
    [suffix] of their producer's name (nnviz.viewer.page)."""
    names, prev = [], ""
    for x in data["nodes"]["name"]:
        prev = x if isinstance(x, str) else prev[:x[0]] + x[1]
        names.append(prev)
    tensors = [x if isinstance(x, str) else names[p] + x[0]
               for x, p in zip(data["tensors"]["id"], data["tensors"]["producer"])]
    return names, tensors
