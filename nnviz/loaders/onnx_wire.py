"""Lazy ONNX reading: walk the protobuf wire format of a memory-mapped file and copy out
everything except weight bytes.

``onnx.load`` parses every initializer's ``raw_data`` into memory, so a 5 GB model costs 5 GB
of RAM before a single box is drawn. Here the file is mmapped and walked field by field
(ModelProto -> GraphProto -> NodeProto -> AttributeProto -> TensorProto, subgraphs and
model-local functions recursively). Tensor payloads larger than :data:`KEEP_DATA_BYTES` are
skipped by their length prefix, never touched, and the tensor is marked as external data so
shape inference knows its values are unavailable. The small result is parsed by onnx itself,
so every other field means exactly what onnx says it means.

Small tensors keep their data on purpose: shape arguments (Reshape's ``shape``, Slice's
``starts``...) are tiny int64 initializers that shape inference and the IR need.
"""

from __future__ import annotations

import mmap
import os
import sys
from pathlib import Path
from typing import Any

# Tensor payloads up to this many bytes are kept (shape/axes arguments, scalars).
KEEP_DATA_BYTES = 1024
# Messages smaller than this are copied verbatim without walking: they cannot hold a payload
# bigger than KEEP_DATA_BYTES, and copying is much cheaper than decoding in Python.
_VERBATIM_BYTES = KEEP_DATA_BYTES

# Message "specs": field number -> spec of the sub-message to walk (length-delimited fields
# not listed are copied verbatim; fields mapped to None are dropped).
_TENSOR = "tensor"  # sentinel: strip payload fields
_SPARSE: dict = {}
_GRAPH: dict = {}
_NODE: dict = {}
_ATTRIBUTE: dict = {}
_FUNCTION: dict = {}
_MODEL: dict = {}

_SPARSE.update({1: _TENSOR, 2: _TENSOR})  # SparseTensorProto.values, .indices
_ATTRIBUTE.update({5: _TENSOR, 6: _GRAPH, 10: _TENSOR, 11: _GRAPH, 22: _SPARSE, 23: _SPARSE})
_NODE.update({5: _ATTRIBUTE})  # NodeProto.attribute
_GRAPH.update({1: _NODE, 5: _TENSOR, 15: _SPARSE})  # node, initializer, sparse_initializer
_FUNCTION.update({7: _NODE})  # FunctionProto.node
# ModelProto: graph, functions; training_info (20) is dropped: never drawn, may hold weights.
_MODEL.update({7: _GRAPH, 25: _FUNCTION, 20: None})

# TensorProto payload fields: float_data, int32_data, string_data, int64_data, raw_data,
# double_data, uint64_data.
_PAYLOAD_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11})
_DATA_LOCATION_EXTERNAL = bytes([14 << 3 | 0, 1])  # TensorProto.data_location = EXTERNAL


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _skip(buf, pos: int, end: int, wire: int) -> tuple[int, int, int]:
    """Skip one field's value. Returns (value_start, value_end, next_pos)."""
    if wire == 0:
        start = pos
        _, pos = _varint(buf, pos, end)
        return start, pos, pos
    if wire == 2:
        length, start = _varint(buf, pos, end)
        stop = start + length
        if stop > end:
            raise WireError("length-delimited field runs past the end")
        return start, stop, stop
    if wire == 1:
        stop = pos + 8
    elif wire == 5:
        stop = pos + 4
    else:  # groups (3, 4) do not occur in ONNX; anything else is not protobuf
        raise WireError(f"unsupported wire type {wire}")
    if stop > end:
        raise WireError("fixed-size field runs past the end")
    return pos, stop, stop


def _strip(buf, start: int, end: int, spec, where: dict | None = None) -> bytes:
    """Copy the message in buf[start:end], recursing per ``spec`` and dropping payloads
    (``where``: see :func:`read_stripped`)."""
    if spec is _TENSOR:
        return _strip_tensor(buf, start, end, where)
    parts: list[bytes] = []
    pos = start
    copy_from = start  # runs of fields copied verbatim are sliced in one go
    while pos < end:
        field_start = pos
        # one-byte keys and lengths inline (_varint and _skip do the rest): a 50k-node
        # graph is 130k fields walked here, nearly all of them small
        key = buf[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 2 and pos < end and buf[pos] < 0x80:
            vstart = pos + 1
            vend = pos = vstart + buf[pos]
            if vend > end:
                raise WireError("length-delimited field runs past the end")
        else:
            vstart, vend, pos = _skip(buf, pos, end, wire)
        if number not in spec:
            continue
        sub = spec[number]
        if wire != 2:
            continue  # a wrong wire type for a message field: let onnx judge the copy
        if sub is not None and vend - vstart < _VERBATIM_BYTES:
            continue
        if copy_from < field_start:
            parts.append(bytes(buf[copy_from:field_start]))
        copy_from = pos
        if sub is None:
            continue  # dropped field
        body = _strip(buf, vstart, vend, sub, where)
        parts.append(_encode_varint(key))
        parts.append(_encode_varint(len(body)))
        parts.append(body)
    if pos != end:
        raise WireError("message runs past its end")
    if copy_from < end:
        parts.append(bytes(buf[copy_from:end]))
    return b"".join(parts)


_RAW_DATA, _NAME = 9, 8  # TensorProto fields


def _strip_tensor(buf, start: int, end: int, where: dict | None = None) -> bytes:
    parts: list[bytes] = []
    pos = start
    copy_from = start
    payload = 0
    spans: list[tuple[int, int]] = []
    raw: tuple[int, int] | None = None
    name = None
    while pos < end:
        field_start = pos
        key, pos = _varint(buf, pos, end)
        number = key >> 3
        vstart, vend, pos = _skip(buf, pos, end, key & 7)
        if number in _PAYLOAD_FIELDS:
            payload += pos - field_start
            spans.append((field_start, pos))
            if number == _RAW_DATA and key & 7 == 2:
                raw = (vstart, vend)
        elif number == _NAME and key & 7 == 2 and where is not None:
            name = bytes(buf[vstart:vend])
    if pos != end:
        raise WireError("tensor runs past its end")
    if payload <= KEEP_DATA_BYTES:
        return bytes(buf[start:end])
    if where is not None and raw is not None and name is not None and len(spans) == 1:
        where.setdefault(name.decode("utf-8", "replace"), raw)
    for s, e in spans:
        if copy_from < s:
            parts.append(bytes(buf[copy_from:s]))
        copy_from = e
    if copy_from < end:
        parts.append(bytes(buf[copy_from:end]))
    parts.append(_DATA_LOCATION_EXTERNAL)  # last occurrence wins in protobuf
    return b"".join(parts)


def read_stripped(path: str | os.PathLike, where: dict | None = None) -> bytes:
    """The ModelProto in ``path`` without large tensor payloads, read through mmap.

    ``where``, when given, is filled with tensor name -> (start, end) byte span in the file
    of each stripped ``raw_data`` payload, so a caller can read a few values of a weight
    (:func:`read_span`) without loading any."""
    with open(Path(path), "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise WireError("empty file")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return _strip(mm, 0, size, _MODEL, where)


def read_span(path: str | os.PathLike, spans: list[tuple[int, int]]) -> list[bytes]:
    """The bytes at each (start, end) of ``path`` (a handful of weight values)."""
    out = []
    with open(Path(path), "rb") as fh:
        for start, end in spans:
            fh.seek(start)
            out.append(fh.read(end - start))
    return out


_PROTO: Any = None


def onnx_proto() -> Any:
    """A module with onnx's protobuf classes (``ModelProto``...): ``onnx`` itself when it is
    imported, else onnx's generated ``onnx_ml_pb2`` run on its own. ``import onnx`` also
    imports numpy and onnx's helpers, a quarter second of a 50k-node load; the generated file
    needs protobuf only. Its classes are onnx's: protobuf keeps one class per message type
    in its default pool, which a later ``import onnx`` fills with the same file."""
    global _PROTO
    onnx = sys.modules.get("onnx")
    if onnx is not None and hasattr(onnx, "ModelProto"):
        return onnx
    if _PROTO is None:
        import importlib.util

        try:
            found = importlib.util.find_spec("onnx")
            origin = found.origin if found is not None else None
            spec = importlib.util.spec_from_file_location(
                "onnx.onnx_ml_pb2", Path(origin).with_name("onnx_ml_pb2.py")) \
                if origin else None
            if spec is None or spec.loader is None:
                raise ImportError("onnx_ml_pb2 not found")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _PROTO = module
        except Exception:  # another onnx layout: the package itself
            import onnx

            _PROTO = onnx
    return _PROTO
