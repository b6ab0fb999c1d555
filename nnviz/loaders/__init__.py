"""Loaders: a model file or live object -> ir.Graph. The only code that imports frameworks."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nnviz.errors import ModelError, NnvizError
from nnviz.ir import Graph

# extension -> loader module (each has load_file(path, **options) -> Graph)
EXTENSIONS = {
    ".onnx": "onnx",
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
    ".pt2": "torch",
    ".pt": "torch",
    ".pth": "torch",
    ".ptl": "torchscript",
    ".tflite": "tflite",
    ".json": "json",
}


def _sniff(path: Path) -> str | None:
    """Guess the format from the first bytes when the extension says nothing."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "keras"
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            names = zipfile.ZipFile(path).namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        if "config.json" in names:
            return "keras"
        from nnviz.loaders.torchscript import is_torchscript

        return "torchscript" if is_torchscript(names) else "torch"
    if head[4:8] == b"TFL3":  # the flatbuffer file identifier of TFLite models
        return "tflite"
    if head[:1] == b"{":
        return "json"
    if head[:1] == b"\x08":  # protobuf field 1 (ir_version), varint: an ONNX ModelProto
        return "onnx"
    return None


def loader_for(path: Path) -> str:
    kind = EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        kind = _sniff(path)
    elif kind == "torch" and path.suffix.lower() != ".pt2":
        # torch.jit.save archives are .pt/.pth too: they are read as data, not by torch.load
        from nnviz.loaders.torchscript import sniff

        if sniff(path):
            kind = "torchscript"
    if kind is None:
        raise ModelError(path, "is not a model file nnviz can read (expected .onnx, .keras, .h5, "
                               ".pt2, TorchScript .pt, .tflite or an nnviz .json graph)")
    return kind


def load_file(path: str | os.PathLike, **options: Any) -> Graph:
    path = Path(path)
    if not path.exists():
        raise ModelError(path, "file not found")
    if path.is_dir():
        raise ModelError(path, "is a directory, not a model file")
    try:
        if path.stat().st_size == 0:
            raise ModelError(path, "is empty (0 bytes)")
    except OSError as exc:
        raise ModelError(path, f"cannot be read ({exc.strerror})") from None
    kind = loader_for(path)
    if kind == "onnx":
        from nnviz.loaders.onnx import load_file as impl
    elif kind == "keras":
        from nnviz.loaders.keras import load_file as impl
    elif kind == "torch":
        from nnviz.loaders.torch import load_file as impl
    elif kind == "torchscript":
        from nnviz.loaders.torchscript import load_file as impl
    elif kind == "tflite":
        from nnviz.loaders.tflite import load_file as impl
    else:
        return _load_json(path)
    try:
        return impl(path, **options)
    except (NnvizError, MemoryError, KeyboardInterrupt):
        raise
    except RecursionError:
        raise ModelError(path, "is nested too deeply to read (damaged or hostile file?)") from None
    except Exception as exc:
        # A damaged file can break a loader in ways no check anticipated (e.g. protobuf strings
        # that are not UTF-8): still one sentence naming the file; --debug shows the cause.
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise ModelError(path, f"could not be read; it looks damaged or uses something nnviz "
                               f"does not support ({type(exc).__name__}"
                               f"{': ' + first if first else ''})") from exc


def _load_json(path: Path) -> Graph:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(path, f"is not valid JSON ({exc})") from None
    if isinstance(data, dict) and ("schema" in data or "layout" in data):
        raise ModelError(path, "is a laid-out drawing (nnviz's JSON output), not a model; draw "
                               "the model file it came from, or save a graph with Graph.to_json")
    try:
        if not isinstance(data, dict):
            raise TypeError("top level is not an object")
        return Graph.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(path, f"is not a valid nnviz graph JSON ({type(exc).__name__}: "
                               f"{exc})") from None


def load(source: Any, **options: Any) -> Graph:
    """A path, an import spec ``package.module:factory``, or a live model object -> Graph."""
    if isinstance(source, Graph):
        return source
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if ":" in text and not Path(text).exists() and _looks_like_spec(text):
            from nnviz.loaders.torch import load_spec

            return load_spec(text, **options)
        return load_file(text, **options)
    module = type(source).__module__ or ""
    mro = " ".join(f"{c.__module__}.{c.__name__}" for c in type(source).__mro__)
    # Keras first: with the torch backend every keras Layer is also a torch.nn.Module.
    if any((c.__module__ or "").startswith("keras.") for c in type(source).__mro__):
        from nnviz.loaders.keras import load_object

        return load_object(source, **options)
    if "torch.nn" in mro or "torch.export" in mro or module.startswith("torch"):
        from nnviz.loaders.torch import load_object

        return load_object(source, **options)
    if "onnx" in module:
        from nnviz.loaders.onnx import load_model_proto

        return load_model_proto(source, **options)
    raise ModelError(None, f"cannot draw an object of type {type(source).__name__}; pass a model "
                           "file path, an ONNX ModelProto, a keras.Model or a torch nn.Module")


def _looks_like_spec(text: str) -> bool:
    mod, _, attr = text.partition(":")
    return bool(mod) and bool(attr) and all(p.isidentifier() for p in mod.split(".")) and \
        attr.replace(".", "").isidentifier()
