"""Loaders: a model file or live object -> ir.Graph. The only code that imports frameworks.

One table, :data:`LOADERS`, says everything nnviz knows about an input family: its file
extensions, how to recognise its first bytes, how to recognise a live object, and where its
graph reader and weight readers live. ``draw``, ``summary``, ``diff`` (through :func:`load`) and
``stats`` (through :func:`iter_weights`) all dispatch through it, so a family is routed
the same way by every command. Adding a loader: write ``nnviz/loaders/NAME.py`` with
``load_file`` (and ``load_object`` / weight readers if it has them) and add one ``Loader(...)``
line below. The readers are named as ``"module:function"`` strings and imported only when used,
so ``import nnviz`` never imports a framework.
"""

from __future__ import annotations

import importlib
import os
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nnviz.errors import ModelError, NnvizError
from nnviz.ir import CONVENTIONS, Conventions, Graph

if TYPE_CHECKING:  # the readers import numpy; `import nnviz` does not need it
    from nnviz.loaders.weights import WeightTensor


@dataclass(frozen=True)
class Loader:
    """One input family. Its graphs carry ``tag`` (the framework whose conventions they follow)
    in ``meta["framework"]``."""

    name: str
    extensions: tuple[str, ...]   # an extension claimed twice goes to the first that sniffs yes
    load_file: str                                   # "module:function" (path, **options)
    sniff: Callable[[Path, bytes], bool] | None = None   # first 8 bytes -> is it ours?
    accepts: Callable[[Any], bool] | None = None     # a live object -> is it ours?
    load_object: str | None = None                   # "module:function" (obj, **options)
    file_weights: str | None = None                  # "module:function" (path, trust_pickle)
    object_weights: str | None = None                # "module:function" (obj)
    no_weights: str = "holds no weight values nnviz can read"  # said by stats when no reader
    framework: str = ""  # meta["framework"] of its graphs, when not ``name`` (conventions)
    conventions: Conventions = Conventions()  # its spelling of layouts and op defaults
    # Third-party modules its file reader imports lazily: a batch imports them once in the
    # parent before forking its workers (nnviz.batch.preload), not once per worker.
    imports: tuple[str, ...] = ()

    @property
    def tag(self) -> str:
        return self.framework or self.name


def resolve(ref: str) -> Callable[..., Any]:
    """``"package.module:function"`` -> the function, importing the module now."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# ---- recognisers: cheap, no framework import ------------------------------------------------
def _mro_modules(obj: Any) -> list[str]:
    return [c.__module__ or "" for c in type(obj).__mro__]


def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        # a damaged central directory also raises UnicodeDecodeError (a member name that is
        # not UTF-8) or ValueError: not a zip we can read, the loader then says why
        return None


def _is_keras_file(path: Path, head: bytes) -> bool:
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return True
    return head.startswith(b"PK\x03\x04") and "config.json" in (_zip_names(path) or ())


def _is_keras_object(obj: Any) -> bool:
    return any(m.startswith("keras.") for m in _mro_modules(obj))


def _is_torchscript_file(path: Path, head: bytes) -> bool:
    if not head.startswith(b"PK\x03\x04"):
        return False
    from nnviz.loaders.torchscript import is_torchscript  # no torch import

    return is_torchscript(_zip_names(path) or [])


def _is_torch_file(path: Path, head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and _zip_names(path) is not None


def _is_torch_object(obj: Any) -> bool:
    mro = " ".join(f"{c.__module__}.{c.__name__}" for c in type(obj).__mro__)
    return "torch.nn" in mro or "torch.export" in mro or \
        (type(obj).__module__ or "").startswith("torch")


def _is_tflite_file(path: Path, head: bytes) -> bool:
    return head[4:8] == b"TFL3"  # the flatbuffer file identifier of the TFLite schema


def _is_onnx_file(path: Path, head: bytes) -> bool:
    return head[:1] == b"\x08"  # protobuf field 1 (ir_version), varint: an ONNX ModelProto


def _is_onnx_object(obj: Any) -> bool:
    return "onnx" in (type(obj).__module__ or "")


_KERAS = Conventions(data_layout="channels_last", weight_layout="spatial_in_out",
                     batch_first=True, transpose_reverses=False)
_TORCH = Conventions(flatten_start_dim=1)
# TFLite tensors are NHWC; kernels (out, kh, kw, in) are neither of the weight layouts, so
# the TFLite loader gives each convolution's kernel and channels itself (canon_attrs).
_TFLITE = Conventions(data_layout="channels_last")


# ---- the table: order is precedence, for sniffing and for live objects ----------------------
# Keras before torch: with the torch backend every keras Layer is also a torch.nn.Module, and a
# .keras zip is also a zip.
LOADERS: tuple[Loader, ...] = (
    Loader("keras", (".keras", ".h5", ".hdf5"), "nnviz.loaders.keras:load_file",
           _is_keras_file, _is_keras_object, "nnviz.loaders.keras:load_object",
           "nnviz.loaders.weights:keras_file", "nnviz.loaders.weights:keras_object",
           conventions=_KERAS, imports=("h5py",)),
    # torch.jit.save archives are .pt/.pth too: read as data, not by torch.load
    Loader("torchscript", (".ptl", ".pt", ".pth"), "nnviz.loaders.torchscript:load_file",
           _is_torchscript_file, file_weights="nnviz.loaders.torchscript:iter_weights",
           framework="torch", conventions=_TORCH),
    Loader("torch", (".pt2", ".pt", ".pth"), "nnviz.loaders.torch:load_file",
           _is_torch_file, _is_torch_object, "nnviz.loaders.torch:load_object",
           "nnviz.loaders.weights:torch_file", "nnviz.loaders.weights:torch_object",
           conventions=_TORCH),
    Loader("tflite", (".tflite",), "nnviz.loaders.tflite:load_file", _is_tflite_file,
           file_weights="nnviz.loaders.tflite:iter_weights", conventions=_TFLITE,
           imports=("tflite",)),
    Loader("onnx", (".onnx",), "nnviz.loaders.onnx:load_file",
           _is_onnx_file, _is_onnx_object, "nnviz.loaders.onnx:load_model_proto",
           "nnviz.loaders.weights:onnx_file", "nnviz.loaders.weights:onnx_object",
           imports=("onnx",)),
    Loader("json", (".json",), "nnviz.loaders.graph_json:load_file",
           lambda path, head: head[:1] == b"{",
           no_weights="is an nnviz graph JSON; it holds shapes but no weight values"),
)
BY_NAME: dict[str, Loader] = {spec.name: spec for spec in LOADERS}
for _spec in reversed(LOADERS):  # Graph.conventions reads them; the first entry of a tag wins
    CONVENTIONS[_spec.tag] = _spec.conventions
# extension -> the loaders claiming it, in table order
EXTENSIONS: dict[str, tuple[Loader, ...]] = {}
for _spec in LOADERS:
    for _ext in _spec.extensions:
        EXTENSIONS[_ext] = (*EXTENSIONS.get(_ext, ()), _spec)


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(8)


def loader_for(path: Path) -> Loader:
    """The loader for a file: by extension (the first claimant whose recogniser agrees, else
    the last claimant), else the first loader whose recogniser knows its first bytes."""
    claimants = EXTENSIONS.get(path.suffix.lower(), ())
    if len(claimants) == 1:
        return claimants[0]
    head = _head(path)
    if claimants:
        for spec in claimants[:-1]:
            if spec.sniff is not None and spec.sniff(path, head):
                return spec
        return claimants[-1]
    for spec in LOADERS:
        if spec.sniff is not None and spec.sniff(path, head):
            return spec
    raise ModelError(path, "is not a model file nnviz can read (expected .onnx, .keras, .h5, "
                           ".pt2, TorchScript .pt, .tflite or an nnviz .json graph)")


def loader_for_object(obj: Any) -> Loader | None:
    """The loader whose live-type test accepts ``obj`` (first in table order), if any."""
    for spec in LOADERS:
        if spec.accepts is not None and spec.accepts(obj):
            return spec
    return None


def check_file(path: Path) -> None:
    """Refuse, in one sentence, a path that is not a readable regular file."""
    if not path.exists():
        raise ModelError(path, "file not found")
    if path.is_dir():
        raise ModelError(path, "is a directory, not a model file")


def load_file(path: str | os.PathLike, **options: Any) -> Graph:
    path = Path(path)
    check_file(path)
    try:
        if path.stat().st_size == 0:
            raise ModelError(path, "is empty (0 bytes)")
    except OSError as exc:
        raise ModelError(path, f"cannot be read ({exc.strerror})") from None
    spec = loader_for(path)
    impl = resolve(spec.load_file)
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
    spec = loader_for_object(source)
    if spec is None or spec.load_object is None:
        raise ModelError(None, f"cannot draw an object of type {type(source).__name__}; pass a "
                               "model file path, an ONNX ModelProto, a keras.Model or a torch "
                               "nn.Module")
    return resolve(spec.load_object)(source, **options)


def iter_weights(source: Any, trust_pickle: bool = False,
                 **_: Any) -> Iterator[WeightTensor]:
    """Weight tensors of a model file or live model object, one at a time.

    Routed by :data:`LOADERS`, exactly as drawing routes it; the readers live in
    :mod:`nnviz.loaders.weights` (or beside their loader) and yield ``WeightTensor``.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_file(path)
        spec = loader_for(path)
        if spec.file_weights is None:
            raise ModelError(path, spec.no_weights)
        yield from resolve(spec.file_weights)(path, trust_pickle=trust_pickle)
        return
    found = loader_for_object(source)
    if found is None or found.object_weights is None:
        raise ModelError(None, f"cannot read weights from an object of type "
                               f"{type(source).__name__}")
    yield from resolve(found.object_weights)(source)


def _looks_like_spec(text: str) -> bool:
    mod, _, attr = text.partition(":")
    return bool(mod) and bool(attr) and all(p.isidentifier() for p in mod.split(".")) and \
        attr.replace(".", "").isidentifier()
