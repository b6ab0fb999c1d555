"""Build zoo artifacts (model files per route) once and cache them with their ground truth.

An artifact is one model through one route a user takes:

    torch:  live (the nn.Module), pt2 (torch.export.save), onnx_dynamo
            (torch.onnx.export(..., dynamo=True), the PyTorch 2.x default), onnx_ts (the
            TorchScript exporter, dynamo=False, where it still works)
    keras:  live (the keras.Model), keras (.keras zip), h5 (legacy HDF5)

Files go to ``<cache>/<model>/<route>.<ext>`` next to ``<model>/truth.json``: the framework's
own parameter count (torch ``parameters()``, keras ``count_params()``), buffers, and for ONNX
files the unique initializers' element count. The cache is a per-session temp dir in tests,
or ``$NNVIZ_ZOO_DIR`` (``python -m tests.zoo build``) so built files can be reused; a cache
built from other builder code or other framework versions is rebuilt, not trusted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# model -> (framework, routes that work, routes that fail in the exporter itself with the
# reason). The failing ones are listed so the report says why a cell is empty.
TORCH_ROUTES = ("live", "pt2", "onnx_dynamo", "onnx_ts")
KERAS_ROUTES = ("live", "keras", "h5")
FILES = {"pt2": "model.pt2", "onnx_dynamo": "dynamo.onnx", "onnx_ts": "torchscript.onnx",
         "keras": "model.keras", "h5": "model.h5"}


@dataclass(frozen=True)
class Entry:
    name: str
    framework: str  # "torch" | "keras"
    routes: tuple[str, ...]
    broken: dict[str, str] = field(default_factory=dict)  # route -> why the exporter fails
    feed_forward: bool = True  # no recurrence in the drawn graph: cycles/upward edges are bugs


def _torch(name: str, broken: dict[str, str] | None = None) -> Entry:
    broken = broken or {}
    return Entry(name, "torch", tuple(r for r in TORCH_ROUTES if r not in broken), broken)


ZOO: dict[str, Entry] = {e.name: e for e in [
    _torch("resnet18"),
    _torch("mobilenet_v2"),
    _torch("unet"),
    _torch("causal_encoder"),
    _torch("lstm"),
    _torch("repeated_calls"),
    _torch("gpt2", {"onnx_ts": "aten::diff (transformers' mask code) has no ONNX symbolic"}),
    _torch("bert", {"onnx_ts": "the TorchScript exporter passes use_cache twice to "
                               "BertModel.forward (transformers 5)"}),
    _torch("llama", {"onnx_ts": "aten::diff (transformers' mask code) has no ONNX symbolic"}),
    _torch("vit"),
    _torch("t5", {"onnx_dynamo": "the dynamo exporter fails to decompose T5's FX graph "
                                 "(ConversionError, step 2/3)"}),
    _torch("clip"),
    Entry("keras_resnet50", "keras", KERAS_ROUTES),
    Entry("keras_mobilenet_v2", "keras", KERAS_ROUTES),
    Entry("keras_densenet121", "keras", KERAS_ROUTES),
]}


# Bump when the way artifacts or their ground truth are made changes (the model code and the
# framework versions are part of the fingerprint by themselves).
CACHE_VERSION = 1


def _fingerprint() -> str:
    """Model code + export recipe version + framework versions: a cache from anything else is
    stale."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for f in ("torch_models.py", "keras_models.py"):
        h.update((HERE / f).read_bytes())
    from importlib import metadata

    for dist in ("torch", "transformers", "keras", "onnx", "onnxscript"):
        try:  # metadata, not an import: importing transformers alone takes seconds
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{dist}=-".encode())
    return h.hexdigest()[:16]


@dataclass
class Artifact:
    """One model through one route: ``source`` is what ``nnviz.load`` gets (a path or the live
    model), ``load_options`` the extra options (example input for a live torch module)."""

    name: str
    route: str
    source: Any
    truth: dict
    load_options: dict = field(default_factory=dict)

    @property
    def expected_params(self) -> int:
        return int(self.truth["params"])

    def expected_for(self, graph: Any) -> int:
        """The framework's count, less what the file cannot hold: a dynamo export that
        constant-folded a parameter's lookup for the example's length (GPT-2's ``wpe[:16]``)
        keeps only those rows, and the graph lists each such parameter with the elements it
        counted (``meta["partial_params"]``). Each must be a real parameter of the model and
        hold at most its size; the rest of the total must still be exact."""
        partial = graph.meta.get("partial_params") or {}
        if not partial:
            return self.expected_params
        sizes = self.truth.get("param_sizes") or {}
        wrong = {name: kept for name, kept in partial.items()
                 if self.route != "onnx_dynamo" or name not in sizes or not
                 0 < kept <= sizes[name]}
        if wrong:
            raise AssertionError(f"{self.name} via {self.route}: partial_params {wrong} are no "
                                 f"parameters of the model that the file can hold a part of")
        return self.expected_params - sum(sizes[n] - kept for n, kept in partial.items())

    def load(self) -> Any:
        import nnviz

        return nnviz.load(self.source, **self.load_options)


class Zoo:
    """Builds artifacts on first use and caches them in ``root`` (and in memory)."""

    def __init__(self, root: str | os.PathLike, file_truth: bool = False) -> None:
        """``file_truth``: also count a dynamo ONNX file's own weights (one more export with
        other parameter values; the tests skip it, their truth there is the framework's)."""
        self.root = Path(root)
        self.file_truth = file_truth
        self.root.mkdir(parents=True, exist_ok=True)
        self._models: dict[str, Any] = {}
        self._fp: str | None = None

    @property
    def fingerprint(self) -> str:
        if self._fp is None:
            self._fp = _fingerprint()
        return self._fp

    # ---- the live model (built once per process) ------------------------------------------
    def model(self, name: str) -> Any:
        if name not in self._models:
            entry = ZOO[name]
            if entry.framework == "torch":
                from . import torch_models

                self._models[name] = torch_models.build(name)
            else:
                from . import keras_models

                self._models[name] = (keras_models.build(name), None)
        return self._models[name]

    def _truth_path(self, name: str) -> Path:
        return self.root / name / "truth.json"

    def truth(self, name: str) -> dict:
        path = self._truth_path(name)
        entry = ZOO[name]
        if path.exists():
            data = json.loads(path.read_text())
            if data.get("fingerprint") == self.fingerprint:
                if entry.framework == "torch" and "param_sizes" not in data:
                    data["param_sizes"] = _param_sizes(self.model(name)[0])
                    _write_json(path, data)
                return data
        model, _ = self.model(name)
        if entry.framework == "torch":
            from .torch_models import buffer_count, param_count

            data = {"framework": "torch", "params": param_count(model),
                    "buffers": buffer_count(model), "param_sizes": _param_sizes(model)}
        else:
            data = {"framework": "keras", "params": int(model.count_params())}
        data["fingerprint"] = self.fingerprint
        data["routes"] = {}
        _write_json(path, data)
        return data

    def artifact(self, name: str, route: str) -> Artifact:
        """The artifact, built if the cache does not hold a current one."""
        entry = ZOO[name]
        if route in entry.broken:
            raise ValueError(f"{name}: the {route} route fails in the exporter: "
                             f"{entry.broken[route]}")
        truth = self.truth(name)
        if route == "live":
            model, example = self.model(name)
            opts = {} if entry.framework == "keras" else {"example_input": _as_input(example)}
            return Artifact(name, route, model, truth, opts)
        path = self.root / name / FILES[route]
        info = truth["routes"].get(route)
        if info is None or not path.exists() or (self.file_truth and route.startswith("onnx")
                                                 and "onnx_constants" not in info):
            info = self._export(name, route, path)
            truth = self.truth(name)
            truth["routes"][route] = info
            _write_json(self._truth_path(name), truth)
        # The framework's count is the truth for every route that can know it: live, .pt2,
        # and the dynamo ONNX export (its metadata names every parameter, also the ones it
        # folded, e.g. BatchNorm into Conv). A TorchScript ONNX file has no such record: its
        # truth is the file's own parameter-derived weights.
        routed = dict(truth, **({"params": info["params"]} if route == "onnx_ts" else {}))
        routed["route_info"] = info
        return Artifact(name, route, path, routed)

    def _export(self, name: str, route: str, path: Path) -> dict:
        model, example = self.model(name)
        # Exporters write next to their target (ONNX external data: "<file>.data"): export
        # into a scratch folder and move the finished files, so the cache never holds a
        # half-written artifact.
        part = path.parent / f".{route}.part"
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir(parents=True)
        out = part / path.name
        info: dict = {}
        with _quiet():
            if route in ("keras", "h5"):
                model.save(out)
            else:
                import torch

                args, kwargs = _split(example)
                if route == "pt2":
                    torch.export.save(torch.export.export(model, args, kwargs), out)
                elif route == "onnx_dynamo":
                    torch.onnx.export(model, args, out, kwargs=kwargs, dynamo=True)
                elif route == "onnx_ts":
                    torch.onnx.export(model, args, out, kwargs=kwargs, dynamo=False)
        if route == "onnx_ts" or (route == "onnx_dynamo" and self.file_truth):
            info.update(self._onnx_truth(name, route, out, part))
        elif route.startswith("onnx"):
            info.update(onnx_initializers(out))
        for f in sorted(part.iterdir()):
            os.replace(f, path.parent / f.name)
        part.rmdir()
        return info

    def _perturbed_export(self, name: str, route: str, out: Path) -> None:
        """The same export of the model with other random parameter values (buffers kept)."""
        import copy

        import torch

        from .torch_models import randomize

        model, example = self.model(name)
        other = copy.deepcopy(model)
        randomize(other, 1)
        # BatchNorm statistics are buffers: keep them, so only parameter-derived tensors move.
        for (_, a), (_, b) in zip(model.named_buffers(), other.named_buffers()):
            b.copy_(a)
        args, kwargs = _split(example)
        with _quiet():
            torch.onnx.export(other, args, out, kwargs=kwargs, dynamo=route == "onnx_dynamo")

    def _onnx_truth(self, name: str, route: str, out: Path, part: Path) -> dict:
        """The ONNX file's parameter count by its own content: an initializer is a parameter
        when its value depends on the model's parameters (it changes when they change: weights,
        BatchNorm-folded weights, a folded slice of an embedding); masks, shape values, scalars
        and zero states do not. A tied weight stored twice (say once transposed) counts once.
        """
        other = part / "perturbed" / out.name
        other.parent.mkdir()
        self._perturbed_export(name, route, other)
        mine, theirs = _initializers(out), _initializers(other)
        shutil.rmtree(other.parent)
        if list(mine) != list(theirs):  # exporters number their constants alike; if not, order
            theirs = dict(zip(mine, theirs.values()))
        params: list = []
        constants = 0
        for key, value in mine.items():
            alt = theirs.get(key)
            same = alt is not None and alt.shape == value.shape and (alt == value).all()
            if same or value.dtype.kind not in "fc":
                constants += int(value.size)
                continue
            if not any(_same_values(value, p) for p in params):
                params.append(value)
        return {"params": int(sum(p.size for p in params)), "onnx_constants": constants,
                **onnx_initializers(out)}


def _param_sizes(model: Any) -> dict[str, int]:
    """Each parameter's element count by its name (a tied one under its first name)."""
    return {name: int(p.numel()) for name, p in model.named_parameters()}


def _same_values(a: Any, b: Any) -> bool:
    if a.size != b.size:
        return False
    if a.shape == b.shape and (a == b).all():
        return True
    return a.ndim == 2 and a.T.shape == b.shape and (a.T == b).all()


def _initializers(path: Path) -> dict:
    """name -> numpy value of every initializer (subgraphs included) of an ONNX file."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path), load_external_data=True)
    out: dict = {}

    def walk(graph: Any) -> None:
        for init in graph.initializer:
            out.setdefault(init.name, numpy_helper.to_array(init))
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                for a in node.attribute:
                    if a.name == "value":  # a tensor baked into the graph as a node
                        out.setdefault(node.output[0], numpy_helper.to_array(a.t))
            for a in node.attribute:
                if a.HasField("g"):
                    walk(a.g)
                for sub in a.graphs:
                    walk(sub)

    walk(proto.graph)
    return out


def onnx_initializers(path: Path) -> dict:
    """Unique initializers of an ONNX file by name: how many and how many elements (the raw
    upper bound of what a file can hold as weights; masks and scalars included)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    seen: dict[str, int] = {}

    def walk(graph: Any) -> None:
        for init in graph.initializer:
            n = 1
            for d in init.dims:
                n *= d
            seen.setdefault(init.name, n)
        for node in graph.node:
            for a in node.attribute:
                if a.HasField("g"):
                    walk(a.g)
                for sub in a.graphs:
                    walk(sub)

    walk(proto.graph)
    return {"onnx_initializers": len(seen), "onnx_initializer_elements": sum(seen.values())}


def _split(example: Any) -> tuple[tuple, dict]:
    if isinstance(example, dict):
        return (), dict(example)
    return tuple(example), {}


def _as_input(example: Any) -> Any:
    if isinstance(example, dict):
        return dict(example)
    return tuple(example) if len(example) != 1 else example[0]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


@contextlib.contextmanager
def _quiet():
    """Exporters print pages of progress and warnings; the tests want their own output."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        yield


def default_root() -> Path | None:
    value = os.environ.get("NNVIZ_ZOO_DIR")
    return Path(value) if value else None
