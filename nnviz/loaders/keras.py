"""Keras loader: .keras zips, legacy .h5 files and live keras.Model objects -> ir.Graph.

Files are read as data: the architecture from the config JSON, weight shapes from HDF5 dataset
headers (h5py; arrays are never read). Neither keras nor TensorFlow is imported for a file, and
nothing from the config is deserialized or executed: Lambda layers and custom classes become
opaque boxes. A live model goes through the same builder, via its serialized config and its
variables' shapes.
"""

from __future__ import annotations

import heapq
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from nnviz.errors import ModelError
from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.kinds import kind_for
from nnviz.loaders import keras_shapes
from nnviz.loaders.canon_attrs import canonicalize
from nnviz.loaders.keras_names import BUILTIN_LAYERS, CODE_LAYERS
from nnviz.loaders.keras_weights import (
    KerasV3Weights,
    LegacyH5Weights,
    LiveWeights,
    WeightSource,
    layer_name,
)

MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
# Wrappers whose config holds one inner layer. TimeDistributed is one box coloured like its
# inner layer; Bidirectional becomes a group (forward, backward, merge).
WRAPPERS = frozenset({"Bidirectional", "TimeDistributed"})
_SKIP_ATTRS = frozenset({"name", "trainable", "dtype", "batch_input_shape", "batch_shape",
                         "sparse", "ragged", "optional", "layer", "layers", "cell",
                         "build_input_shape", "input_dim"})
_SKIP_SUFFIXES = ("_initializer", "_regularizer", "_constraint")


class _BadConfig(Exception):
    """The config JSON does not describe a model the way Keras writes one."""


def load_file(path: str | os.PathLike, **options: Any) -> Graph:
    """Read a .keras zip or a legacy Keras .h5 file as data."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK"):
        return _load_keras_zip(path)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _load_legacy_h5(path)
    if path.suffix.lower() == ".keras":
        raise ModelError(path, "is not a valid .keras file (it is not a zip archive)")
    raise ModelError(path, "is not a Keras model file (neither a .keras zip nor an HDF5 file)")


def load_object(model: Any, **options: Any) -> Graph:
    """A live keras.Model (any backend) through its serialized config and its variables."""
    import keras  # only a live keras object brings us here, so keras is installed

    try:
        config = keras.saving.serialize_keras_object(model)
    except Exception:  # noqa: BLE001 - a subclassed model without get_config()
        config = {"class_name": type(model).__name__, "config": {"name": model.name},
                  "module": type(model).__module__}
    if not isinstance(config, dict):
        raise ModelError(None, f"keras could not describe the model {model.name!r}")
    meta = {"framework": "keras", "keras_version": keras.__version__,
            "backend": keras.backend.backend(), "format": "live"}
    try:
        return build_graph(config, LiveWeights(model), meta)
    except _BadConfig as exc:
        raise ModelError(None, f"cannot draw the keras model {model.name!r}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelError(None, f"cannot draw the keras model {model.name!r}: its config is "
                               f"malformed ({type(exc).__name__}: {_short(exc)})") from None


def _load_keras_zip(path: Path) -> Graph:
    import h5py

    try:
        zf = zipfile.ZipFile(path)
        names = set(zf.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelError(path, f"is a damaged .keras file (bad zip archive: {exc})") from None
    with zf:
        if "config.json" not in names:
            raise ModelError(path, "is a zip archive without config.json, so not a .keras model")
        try:
            config = json.loads(zf.read("config.json").decode("utf-8"))
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelError(path, f"has a broken config.json ({_short(exc)})") from None
        meta: dict[str, Any] = {"framework": "keras", "format": "keras"}
        if "metadata.json" in names:
            try:
                info = json.loads(zf.read("metadata.json").decode("utf-8"))
                if isinstance(info, dict) and isinstance(info.get("keras_version"), str):
                    meta["keras_version"] = info["keras_version"]
            except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
                pass  # metadata is informative only; the model is still readable
        meta["file"] = str(path)
        if "model.weights.h5" not in names:
            # Sharded or weight-less saves: the architecture is still drawable.
            meta["weights"] = "missing"
            return _build_or_fail(path, config, None, meta)
        try:
            with _open_member(path, zf, "model.weights.h5") as member, \
                    h5py.File(member, "r") as h5:
                return _build_or_fail(path, config, KerasV3Weights(h5), meta)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelError(path, f"has a damaged model.weights.h5 ({_short(exc)})") from None


class _Window(io.RawIOBase):
    """A read-only, seekable view of ``size`` bytes at ``offset`` of a file.

    Keras stores zip members uncompressed; reading the weights file through this window lets
    h5py seek freely (zipfile's own member reader rewinds to the start on every backward
    seek, which made a ResNet50 take seconds) and read only the headers it needs.
    """

    def __init__(self, path: Path, offset: int, size: int):
        super().__init__()
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._offset, self._size, self._pos = offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        self._fh.seek(self._offset + self._pos)
        data = self._fh.read(n)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_member(path: Path, zf: zipfile.ZipFile, name: str) -> Any:
    info = zf.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        return zf.open(name)  # compressed by some other tool: slower, still correct
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {name}")
    name_len = int.from_bytes(header[26:28], "little")
    extra_len = int.from_bytes(header[28:30], "little")
    return _Window(path, info.header_offset + 30 + name_len + extra_len, info.file_size)


def _load_legacy_h5(path: Path) -> Graph:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(path, f"is not a readable HDF5 file ({_short(exc)})") from None
    with h5:
        raw = h5.attrs.get("model_config")
        if raw is None:
            raise ModelError(path, "is an HDF5 file without a Keras model config (a weights-only "
                                   "file or not a Keras model)")
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            config = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(path, f"has a broken model_config attribute ({_short(exc)})") \
                from None
        meta: dict[str, Any] = {"framework": "keras", "format": "h5"}
        for key in ("keras_version", "backend"):
            value = h5.attrs.get(key)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                meta[key] = value
        meta["file"] = str(path)
        weights = h5.get("model_weights")
        return _build_or_fail(path, config, LegacyH5Weights(weights), meta)


def _build_or_fail(path: Path, config: Any, source: WeightSource | None,
                   meta: dict) -> Graph:
    try:
        return build_graph(config, source, meta)
    except _BadConfig as exc:
        raise ModelError(path, f"has a model config nnviz cannot follow ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelError(path, f"has a malformed model config ({type(exc).__name__}: "
                               f"{_short(exc)})") from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160].rstrip(".")


# ---- the builder ------------------------------------------------------------------------------

def build_graph(config: Any, source: WeightSource | None, meta: dict) -> Graph:
    """A serialized Keras model (the dict in config.json) + its weight source -> Graph."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise _BadConfig("the top level is not a serialized Keras model")
    name = layer_name(config, default="model")
    graph = Graph(name=name, meta=dict(meta))
    graph.meta["model_class"] = str(config["class_name"])
    builder = _Builder(graph, source)
    builder.build_top(config)
    return canonicalize(graph, "keras")


def _layers_of(cfg: Any) -> list[dict] | None:
    """The layer list of a Sequential/Functional config (Keras 2.1 wrote a bare list)."""
    if isinstance(cfg, list):
        return cfg
    if isinstance(cfg, dict) and isinstance(cfg.get("layers"), list):
        return cfg["layers"]
    return None


def _is_functional(layer: dict) -> bool:
    cfg = layer.get("config")
    return isinstance(cfg, dict) and isinstance(cfg.get("layers"), list) and \
        "input_layers" in cfg and "output_layers" in cfg


def _is_sequential(layer: dict) -> bool:
    return layer.get("class_name") == "Sequential" and _layers_of(layer.get("config")) is not None


def _is_custom(layer: dict) -> bool:
    """A class keras itself does not ship: a registered custom object or a user class."""
    cls = str(layer.get("class_name", ""))
    registered = layer.get("registered_name")
    if ">" in cls or (isinstance(registered, str) and ">" in registered):
        return True  # "package>Name": registered with keras.saving.register_keras_serializable
    module = layer.get("module")
    if isinstance(module, str) and not module.startswith("keras"):
        return True
    return cls not in BUILTIN_LAYERS


def _dtype_name(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            return inner["name"]
    return None


def _refs(value: Any, out: list[tuple[str, int, int, Any]]) -> None:
    """Every tensor reference in a call's args/kwargs, in order.

    Keras 3 writes {"class_name": "__keras_tensor__", "config": {"keras_history": [...]}};
    Keras 2 writes ["layer", node_index, tensor_index, {kwargs}].
    """
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            conf = value.get("config", {})
            hist = conf.get("keras_history")
            if isinstance(hist, list) and len(hist) >= 3:
                out.append((str(hist[0]), int(hist[1]), int(hist[2]), conf))
            return
        for v in value.values():
            _refs(v, out)
    elif isinstance(value, (list, tuple)):
        if len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) \
                and isinstance(value[2], int):
            out.append((value[0], value[1], value[2], None))
            _refs(value[3:], out)  # tf.keras puts tensor kwargs (y=other) in the 4th item
            return
        for v in value:
            _refs(v, out)


def _call_refs(inbound: Any) -> list[tuple[str, int, int, Any]]:
    refs: list[tuple[str, int, int, Any]] = []
    if isinstance(inbound, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        _refs(inbound.get("args", []), refs)
        _refs(inbound.get("kwargs", {}), refs)
    else:  # Keras 2: [[name, node, tensor, kwargs], ...]
        _refs(inbound, refs)
    return refs


def _io_refs(value: Any) -> list[tuple[str, int, int]]:
    """input_layers / output_layers: one triple, a list of triples, or a dict of them."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    refs = []
    for item in value or []:
        if isinstance(item, dict):
            refs.extend(_io_refs(item))
        elif isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            refs.append((item[0], int(item[1]), int(item[2])))
        elif isinstance(item, list):
            refs.extend(_io_refs(item))
    return refs


def _merge_shapes(stored: tuple, inferred: tuple | None) -> tuple:
    """What keras recorded wins; its unknown dims are filled from our inference.

    A nested model built on Input((None, None, C)) records (None, None, None, C) inside, but
    called on a 32x32 image its layers' shapes are known; inference from the call fills them.
    """
    if inferred is None or len(inferred) != len(stored):
        return stored
    return tuple(i if s is None else s for s, i in zip(stored, inferred, strict=True))


def _attrs(cls: str, cfg: dict) -> dict[str, Any]:
    """The config values worth showing: plain scalars and lists, no initializers etc."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in _SKIP_ATTRS or key.endswith(_SKIP_SUFFIXES) or value is None:
            continue
        if key == "activation" and value == "linear":
            continue
        if _plain(value):
            out[key] = list(value) if isinstance(value, tuple) else value
    if cls in WRAPPERS and isinstance(cfg.get("layer"), dict):
        inner = cfg["layer"]
        out["layer"] = str(inner.get("class_name"))
        for key, value in _attrs(str(inner.get("class_name")), inner.get("config", {})).items():
            out.setdefault(key, value)
    return out


def _plain(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)):
        return not isinstance(value, str) or len(value) <= 80
    if isinstance(value, (list, tuple)):
        return len(value) <= 16 and all(_plain(v) for v in value)
    return False


class _Builder:
    def __init__(self, graph: Graph, source: WeightSource | None):
        self.g = graph
        self.source = source
        self.param_names: dict[int, str] = {}  # live variable id -> first Param.name

    # ---- entry -------------------------------------------------------------------------------
    def build_top(self, config: dict) -> None:
        handle = self.source.root() if self.source else None
        if _is_functional(config):
            outs = self.functional(config, (), None, (), handle)
        elif _is_sequential(config):
            outs = self.sequential(config, (), None, (), handle)
        else:
            outs = self.opaque_model(config, handle)
        self.g.outputs = list(outs)
        producers = self.g.producers()
        for i, tid in enumerate(outs):
            base = "output" if len(outs) == 1 else f"output_{i}"
            nid = self.g.unique_node_id(base)
            # Named like keras's model.output_names: after the layer producing the output.
            src = self.g.nodes.get(producers.get(tid, ""))
            self.g.add_node(Node(nid, "Output", "io", name=src.name if src else base,
                                 inputs=[tid]))

    def input_node(self, name: str, cfg: dict, scope: tuple[str, ...]) -> str:
        shape = keras_shapes.as_shape(cfg.get("batch_shape", cfg.get("batch_input_shape")))
        if shape is None and isinstance(cfg.get("input_shape"), list):
            inner = keras_shapes.as_shape(cfg["input_shape"])
            shape = None if inner is None else (None, *inner)
        nid = self.g.unique_node_id("/".join((*scope, name)))
        tid = f"{nid}:0"
        self.g.add_tensor(Tensor(tid, shape, _dtype_name(cfg.get("dtype")) or "float32"))
        self.g.add_node(Node(nid, "Input", "io", name=name, outputs=[tid], group=scope,
                             attrs={"shape": list(shape)} if shape is not None else {}))
        self.g.inputs.append(tid)
        return tid

    # ---- containers ----------------------------------------------------------------------------
    def functional(self, model: dict, scope: tuple[str, ...], bound: list[str] | None,
                   path: tuple[str, ...], handle: Any) -> list[str]:
        cfg = model["config"]
        layers: list[dict] = cfg["layers"]
        by_name = {layer_name(layer): i for i, layer in enumerate(layers)}
        frozen = cfg.get("trainable") is False
        # (layer, node index, tensor index) -> tensor id in this model instance.
        tmap: dict[tuple[str, int, int], str] = {}
        stored: dict[tuple[str, int, int], tuple[Any, Any]] = {}
        calls: list[tuple[int, int, list]] = []
        # (layer, node index) -> every tensor index some consumer or output uses.
        used: dict[tuple[str, int], set[int]] = {}
        for name, node, t in _io_refs(cfg.get("output_layers")):
            used.setdefault((name, node), set()).add(t)
        for i, layer in enumerate(layers):
            for n, inbound in enumerate(layer.get("inbound_nodes") or []):
                refs = _call_refs(inbound)
                for name, node, t, conf in refs:
                    used.setdefault((name, node), set()).add(t)
                    if isinstance(conf, dict):
                        shape = keras_shapes.as_shape(conf.get("shape"))
                        stored.setdefault((name, node, t), (shape, conf.get("dtype")))
                calls.append((i, n, refs))
        inputs = _io_refs(cfg.get("input_layers"))
        if bound is None:
            for name, node, t in inputs:
                if name not in by_name:
                    raise _BadConfig(f"input layer {name!r} is not among the layers")
                lcfg = layers[by_name[name]].get("config", {})
                tmap[(name, node, t)] = self.input_node(name, lcfg, scope)
        else:
            for (name, node, t), tid in zip(inputs, bound, strict=False):
                tmap[(name, node, t)] = tid
        for layer in layers:
            if layer.get("class_name") == "InputLayer":
                key = (layer_name(layer), 0, 0)
                if key not in tmap:  # an input layer not listed in input_layers
                    tmap[key] = self.input_node(layer_name(layer), layer.get("config", {}), scope)
        handles: dict[int, Any] = {}
        # Kahn's algorithm over layer calls: a call runs once every tensor it reads exists.
        # Ties go to config order, so a config already in topological order (what keras
        # writes) is processed as written, and a scrambled one still costs O(n log n).
        missing = [0] * len(calls)
        waiters: dict[tuple[str, int, int], list[int]] = {}
        ready: list[int] = []
        for c, (_, _, refs) in enumerate(calls):
            keys = {(r[0], r[1], r[2]) for r in refs} - tmap.keys()
            missing[c] = len(keys)
            for key in keys:
                waiters.setdefault(key, []).append(c)
            if not keys:
                ready.append(c)
        heapq.heapify(ready)
        done = 0
        while ready:
            c = heapq.heappop(ready)
            i, n, refs = calls[c]
            done += 1
            layer = layers[i]
            if i not in handles:
                handles[i] = self.source.child(handle, layers, i, False) if self.source else None
            ins = [tmap[(r[0], r[1], r[2])] for r in refs]
            outs = self.call(layer, scope, ins, path, n, handles[i], frozen)
            lname = layer_name(layer)
            for t, tid in enumerate(outs):
                tmap[(lname, n, t)] = tid
            for t in sorted(used.get((lname, n), ())):
                if (lname, n, t) not in tmap:
                    tmap[(lname, n, t)] = self._extra_output(lname, t, outs)
            for t in sorted(set(range(len(outs))) | used.get((lname, n), set())):
                shape, dtype = stored.get((lname, n, t), (None, None))
                tensor = self.g.tensors.get(tmap[(lname, n, t)])
                if tensor is not None:
                    if shape is not None:
                        tensor.shape = _merge_shapes(shape, tensor.shape)
                    if tensor.dtype is None and isinstance(dtype, str):
                        tensor.dtype = dtype
                for waiter in waiters.pop((lname, n, t), ()):
                    missing[waiter] -= 1
                    if missing[waiter] == 0:
                        heapq.heappush(ready, waiter)
        if done < len(calls):
            c = next(c for c in range(len(calls)) if missing[c] > 0)
            i, _, refs = calls[c]
            name, node, t, _ = next(r for r in refs if (r[0], r[1], r[2]) not in tmap)
            raise _BadConfig(f"layer {layer_name(layers[i])!r} consumes {name}[{node}][{t}], "
                             "which no layer produces")
        outs = []
        for name, node, t in _io_refs(cfg.get("output_layers")):
            if (name, node, t) not in tmap:
                raise _BadConfig(f"model output {name}[{node}][{t}] is never produced")
            outs.append(tmap[(name, node, t)])
        return outs

    def _extra_output(self, lname: str, t: int, outs: list[str]) -> str:
        """Output ``t`` of a layer whose config let us infer fewer outputs than are used
        (a custom layer returning two tensors): grow its node's output list."""
        producer = self.g.producers().get(outs[0]) if outs else None
        if producer is None:
            raise _BadConfig(f"output {t} of layer {lname!r} is used but never produced")
        node = self.g.nodes[producer]
        while len(node.outputs) <= t:
            tid = f"{producer}:{len(node.outputs)}"
            node.outputs.append(tid)
            self.g.add_tensor(Tensor(tid))
        return node.outputs[t]

    def sequential(self, model: dict, scope: tuple[str, ...], bound: list[str] | None,
                   path: tuple[str, ...], handle: Any) -> list[str]:
        cfg = model["config"]
        layers = _layers_of(cfg) or []
        frozen = isinstance(cfg, dict) and cfg.get("trainable") is False
        current: str | None = bound[0] if bound else None
        body = [(i, layer) for i, layer in enumerate(layers)
                if layer.get("class_name") != "InputLayer"]
        if current is None:
            first_input = next((layer for layer in layers
                                if layer.get("class_name") == "InputLayer"), None)
            if first_input is not None:
                current = self.input_node(layer_name(first_input),
                                          first_input.get("config", {}), scope)
            else:
                icfg: dict[str, Any] = {}
                build = model.get("build_config") or {}
                shape = (cfg.get("build_input_shape") if isinstance(cfg, dict) else None) \
                    or build.get("input_shape")
                if shape is None and body:
                    lcfg = body[0][1].get("config", {})
                    shape = lcfg.get("batch_input_shape") or lcfg.get("batch_shape")
                    if shape is None:
                        shape = (body[0][1].get("build_config") or {}).get("input_shape")
                    icfg["dtype"] = lcfg.get("dtype")
                icfg["batch_shape"] = shape
                current = self.input_node("input", icfg, scope)
        for i, layer in body:
            h = self.source.child(handle, layers, i, True) if self.source else None
            tensor = self.g.tensors.get(current)
            if tensor is not None and tensor.shape is None:
                # Sequential configs store each layer's build input shape: our input's shape.
                build = layer.get("build_config") or {}
                tensor.shape = keras_shapes.as_shape(build.get("input_shape"))
            outs = self.call(layer, scope, [current], path, 0, h, frozen)
            if not outs:
                break
            current = outs[0]
        return [current]

    def opaque_model(self, model: dict, handle: Any) -> list[str]:
        """A subclassed model: its forward pass is code, so draw it as one opaque box."""
        build = model.get("build_config") or {}
        shapes = build.get("input_shape")
        if isinstance(shapes, list) and shapes and isinstance(shapes[0], list):
            ins = [self.input_node(f"input_{k}", {"batch_shape": s}, ())
                   for k, s in enumerate(shapes)]
        else:
            ins = [self.input_node("input", {"batch_shape": shapes}, ())]
        cls = str(model.get("class_name", ""))
        # A bare builtin layer (a live keras.layers.Dense) is drawn as itself.
        opaque = _is_custom(model) or cls in CODE_LAYERS or cls in MODEL_CLASSES
        return self.layer_node(model, (), ins, (), 0, handle, False, opaque=opaque)

    # ---- one layer call ----------------------------------------------------------------------
    def call(self, layer: dict, scope: tuple[str, ...], ins: list[str], path: tuple[str, ...],
             n: int, handle: Any, frozen: bool) -> list[str]:
        name = layer_name(layer)
        if layer.get("class_name") == "InputLayer":
            return ins[:1]
        if _is_functional(layer) or _is_sequential(layer):
            group = name if n == 0 else f"{name}#{n + 1}"
            sub_scope = (*scope, group)
            self.g.ensure_group(sub_scope, op=str(layer.get("class_name")))
            self.g.groups[sub_scope].label = name if n == 0 else f"{name} #{n + 1}"
            inner = layer
            if frozen and isinstance(layer.get("config"), dict):
                inner = {**layer, "config": {**layer["config"], "trainable": False}}
            if _is_functional(layer):
                return self.functional(inner, sub_scope, ins, (*path, name), handle)
            return self.sequential(inner, sub_scope, ins, (*path, name), handle)
        cfg = layer.get("config")
        if layer.get("class_name") == "Bidirectional" and isinstance(cfg, dict) \
                and isinstance(cfg.get("layer"), dict):
            return self.bidirectional(layer, scope, ins, path, n, handle, frozen)
        return self.layer_node(layer, scope, ins, path, n, handle, frozen)

    def bidirectional(self, layer: dict, scope: tuple[str, ...], ins: list[str],
                      path: tuple[str, ...], n: int, handle: Any, frozen: bool) -> list[str]:
        """A Bidirectional wrapper is a group: forward and backward RNN, then the merge.

        The two directions are separate layers with their own weights (the config holds the
        forward one; keras names the other backward_<name>), so each gets its own box.
        """
        cfg = layer["config"]
        name = layer_name(layer)
        group = name if n == 0 else f"{name}#{n + 1}"
        sub_scope = (*scope, group)
        self.g.ensure_group(sub_scope, op="Bidirectional")
        self.g.groups[sub_scope].label = name if n == 0 else f"{name} #{n + 1}"
        frozen = frozen or cfg.get("trainable") is False
        fwd = cfg["layer"]
        fwd_name = layer_name(fwd)
        if not fwd_name.startswith("forward_"):  # Keras 2 stores the wrapped layer's own name
            fwd_name = f"forward_{fwd_name}"
            fwd = {**fwd, "name": fwd_name, "config": {**fwd.get("config", {}),
                                                       "name": fwd_name}}
        bwd = cfg.get("backward_layer")
        if not isinstance(bwd, dict):
            base = fwd_name[len("forward_"):] if fwd_name.startswith("forward_") else fwd_name
            bwd = {**fwd, "config": {**fwd.get("config", {}), "name": f"backward_{base}",
                                     "go_backwards": not fwd.get("config", {}).get(
                                         "go_backwards", False)}}
        bwd_name = layer_name(bwd)
        params = self.params(handle, "Bidirectional", cfg, name, path, frozen)
        # Split the wrapper's weights by direction: .keras files say forward_layer/...,
        # .h5 files and live variables say forward_<name>/...
        prefix = "/".join((*path, name)) + "/"
        fwd_params, bwd_params = [], []
        for p in params:
            rel = p.name[len(prefix):] if p.name.startswith(prefix) else p.name
            (bwd_params if rel.startswith(("backward", bwd_name)) else fwd_params).append(p)
        outs = []
        for inner, inner_params in ((fwd, fwd_params), (bwd, bwd_params)):
            outs.append(self.layer_node(inner, sub_scope, ins[:1], path, 0, None, frozen))
            self.g.nodes[outs[-1][0].rsplit(":", 1)[0]].params = inner_params
        mode = cfg.get("merge_mode", "concat")
        if mode is None:  # no merge: the two sequences are the layer's two outputs
            return [outs[0][0], outs[1][0], *outs[0][1:], *outs[1][1:]]
        op = {"concat": "Concatenate", "sum": "Add", "mul": "Multiply",
              "ave": "Average"}.get(str(mode), "Concatenate")
        merged = self.layer_node({"class_name": op, "config": {"name": "merge", "axis": -1}},
                                 sub_scope, [outs[0][0], outs[1][0]], path, 0, None, frozen)
        return [merged[0], *outs[0][1:], *outs[1][1:]]

    def layer_node(self, layer: dict, scope: tuple[str, ...], ins: list[str],
                   path: tuple[str, ...], n: int, handle: Any, frozen: bool,
                   opaque: bool = False) -> list[str]:
        cls = str(layer.get("class_name", "Layer")).rsplit(">", 1)[-1]
        cfg = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name = layer_name(layer)
        base = "/".join((*scope, name)) + ("" if n == 0 else f"#{n + 1}")
        nid = self.g.unique_node_id(base)
        opaque = opaque or cls in CODE_LAYERS or _is_custom(layer)
        kind = "other" if opaque and cls in CODE_LAYERS else kind_for(cls)
        if cls in WRAPPERS and isinstance(cfg.get("layer"), dict):
            kind = kind_for(str(cfg["layer"].get("class_name", cls)))
            if cls == "Bidirectional":
                kind = "recurrent"
        node = Node(nid, cls, kind, name=name, attrs=_attrs(cls, cfg), inputs=list(ins),
                    group=scope)
        if opaque:
            node.meta["opaque"] = True
        frozen = frozen or cfg.get("trainable") is False
        node.params = self.params(handle, cls, cfg, name, path, frozen)
        in_shapes = [self.g.tensors[t].shape if t in self.g.tensors else None for t in ins]
        shapes = None if opaque else keras_shapes.infer(cls, cfg, in_shapes)
        count = max(len(shapes), 1) if shapes else 1
        for k in range(count):
            tid = f"{nid}:{k}"
            shape = shapes[k] if shapes and k < len(shapes) else None
            self.g.add_tensor(Tensor(tid, shape, None))
            node.outputs.append(tid)
        self.g.add_node(node)
        return list(node.outputs)

    def params(self, handle: Any, cls: str, cfg: dict, name: str, path: tuple[str, ...],
               frozen: bool) -> list[Param]:
        if self.source is None or handle is None:
            return []
        out = []
        for w in self.source.weights(handle, cls, cfg, name):
            # Named by the layer's place in the model (not the call), so every call of a
            # shared layer or of a nested model carries the same names and counts once.
            pname = "/".join((*path, name, w.rel))
            if w.identity is not None:
                pname = self.param_names.setdefault(w.identity, pname)
            out.append(Param(pname, w.shape, w.dtype, w.trainable and not frozen))
        return out
