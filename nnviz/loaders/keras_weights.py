"""Where a Keras layer's weights come from: a .keras weights file, a legacy .h5, or a live model.

All three answer the same two questions for the graph builder: "which stored object belongs to
this layer of the config?" (``child``) and "what weights does it hold?" (``weights``). Shapes
are read from HDF5 dataset headers; no array is ever read.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

# Weights Keras creates with trainable=False, by the variable's own name.
NON_TRAINABLE_NAMES = frozenset({"moving_mean", "moving_variance"})
# Layers all of whose weights are statistics, never trained (adapt() fills them).
STATISTICS_LAYERS = frozenset({"Normalization"})
MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
_BN_NAME = re.compile(r"^(batch_normalization|sync_batch_normalization|bn)(_\d+)?$")


def _index_key(key: str) -> tuple:
    """vars/0, vars/1, ..., vars/10 in numeric order; other names after, alphabetically."""
    return (not key.isdigit(), int(key) if key.isdigit() else 0, key)


@dataclass
class RawWeight:
    rel: str  # name relative to its layer: "kernel", "cell/kernel", "0"
    shape: tuple[int, ...]
    dtype: str | None
    trainable: bool
    identity: int | None = None  # live variables: id(), so a shared variable is named once


def to_snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case: the names .keras files give stored layers."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return name


def own_variable_names(cls: str, cfg: dict, n: int) -> list[tuple[str, bool]]:
    """Names and trainability of a layer's own variables in Keras's creation order.

    A .keras file stores them as vars/0, vars/1, ... (trainable first); the names here make
    the weights readable and mark batch-norm statistics as non-trainable.
    """
    names: list[str]
    n_trainable: int | None = None
    if cls == "BatchNormalization":
        names = (["gamma"] if cfg.get("scale", True) else []) + \
                (["beta"] if cfg.get("center", True) else [])
        n_trainable = len(names)
        names += ["moving_mean", "moving_variance"]
    elif cls in ("LayerNormalization", "GroupNormalization", "RMSNormalization"):
        names = (["gamma"] if cfg.get("scale", True) else []) + \
                (["beta"] if cfg.get("center", True) and not cfg.get("rms_scaling") else [])
    elif cls.startswith("SeparableConv"):
        names = ["depthwise_kernel", "pointwise_kernel", "bias"]
    elif cls in ("Dense", "EinsumDense") or cls.startswith(("Conv", "DepthwiseConv")):
        names = ["kernel", "bias"] if cfg.get("use_bias", True) else ["kernel"]
    elif cls == "Embedding":
        names = ["embeddings"]
    elif cls == "PReLU":
        names = ["alpha"]
    elif cls in STATISTICS_LAYERS:
        names = ["mean", "variance", "count"]
        n_trainable = 0
    else:
        names = []
    if len(names) != n:
        names = [str(i) for i in range(n)]
        n_trainable = None
    if n_trainable is None:
        n_trainable = n
    return [(name, i < n_trainable) for i, name in enumerate(names)]


def _shape(ds: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in ds.shape)


def _dtype(ds: Any) -> str | None:
    try:
        return str(ds.dtype)
    except (TypeError, ValueError):
        return None


class WeightSource(ABC):
    """Interface: handles are opaque; None means 'nothing stored for this layer'."""

    @abstractmethod
    def root(self) -> Any: ...

    @abstractmethod
    def child(self, parent: Any, layers: list[dict], index: int, sequential: bool) -> Any: ...

    @abstractmethod
    def weights(self, handle: Any, cls: str, cfg: dict, name: str) -> list[RawWeight]: ...


class KerasV3Weights(WeightSource):
    """model.weights.h5 inside a .keras zip: layers/<snake_case class>[_n]/vars/<i>."""

    def __init__(self, h5root: Any):
        self.h5root = h5root
        self._name_maps: dict[str, dict[str, Any]] = {}

    def root(self) -> Any:
        return self.h5root

    def _by_name(self, container: Any) -> dict[str, Any]:
        """Keras >= 3.10 records each layer's name on its vars group; use it when present."""
        key = container.name
        if key not in self._name_maps:
            found: dict[str, Any] = {}
            for k in sorted(container.keys()):
                grp = container[k]
                vars_grp = grp.get("vars") if hasattr(grp, "get") else None
                name = vars_grp.attrs.get("name") if vars_grp is not None else None
                if isinstance(name, bytes):
                    name = name.decode("utf-8", "replace")
                if isinstance(name, str):
                    found.setdefault(name, grp)
            self._name_maps[key] = found
        return self._name_maps[key]

    def child(self, parent: Any, layers: list[dict], index: int, sequential: bool) -> Any:
        if parent is None:
            return None
        container = parent.get("layers")
        if container is None or not hasattr(container, "keys"):
            return None
        name = layer_name(layers[index])
        by_name = self._by_name(container)
        if name in by_name:
            return by_name[name]
        # Older files: recompute Keras's container naming (class name, uniquified in order).
        # Sequential.layers leaves out the InputLayer, Functional.layers keeps it.
        used: dict[str, int] = {}
        for i, layer in enumerate(layers):
            if sequential and layer.get("class_name") == "InputLayer":
                continue
            base = to_snake_case(str(layer.get("class_name", "layer")))
            if base in used:
                used[base] += 1
                key = f"{base}_{used[base]}"
            else:
                used[base] = 0
                key = base
            if i == index:
                return container.get(key)
        return None

    def weights(self, handle: Any, cls: str, cfg: dict, name: str) -> list[RawWeight]:
        if handle is None:
            return []
        out: list[RawWeight] = []
        own = handle.get("vars")
        if own is not None:
            datasets = sorted(own.keys(), key=_index_key)
            names = own_variable_names(cls, cfg, len(datasets))
            for key, (vname, trainable) in zip(datasets, names, strict=True):
                ds = own[key]
                out.append(RawWeight(vname, _shape(ds), _dtype(ds), trainable))
        # Sub-objects (an LSTM's cell, the Dense layers inside MultiHeadAttention, a custom
        # layer's sublayers): every dataset below them belongs to this layer.
        for key in sorted(handle.keys()):
            if key in ("vars", "layers") or "seed_generator" in key:
                continue
            self._collect(handle[key], key, out)
        return out

    def _collect(self, group: Any, prefix: str, out: list[RawWeight]) -> None:
        if not hasattr(group, "keys"):
            return
        keys = sorted(group.keys(), key=_index_key)
        datasets = [k for k in keys if not hasattr(group[k], "keys")]
        # The file does not say which class a sub-object is; a batch norm (its container key
        # or its recorded name says so) keeps its two moving statistics last, untrained.
        owner = prefix.rsplit("/", 1)[-1]
        recorded = group.attrs.get("name") if hasattr(group, "attrs") else None
        bn_like = any(isinstance(s, str) and _BN_NAME.match(s) for s in (owner, recorded))
        for i, key in enumerate(datasets):
            item = group[key]
            trainable = not (bn_like and len(datasets) >= 3 and i >= len(datasets) - 2)
            out.append(RawWeight(f"{prefix}/{key}", _shape(item), _dtype(item), trainable))
        for key in keys:
            if key in datasets or "seed_generator" in key:
                continue
            path = prefix if key == "vars" else f"{prefix}/{key}"
            self._collect(group[key], path, out)


class LegacyH5Weights(WeightSource):
    """Legacy .h5: model_weights/<layer>/ with a weight_names attribute listing its datasets.

    A nested model's weights all sit in its top-level group under variable paths that do not
    reliably name every level (Keras 3 writes "leaf/d/kernel" for d in leaf in mid; Keras 2
    "dense_1/kernel:0"), so each weight goes to the inner layer whose path it matches best.
    Handles: ("layer", group, [(rel comps, dataset name)]) or ("model", group, assignment,
    path inside the top-level layer).
    """

    def __init__(self, model_weights: Any):
        self.model_weights = model_weights

    def root(self) -> Any:
        return ("root",)

    def child(self, parent: Any, layers: list[dict], index: int, sequential: bool) -> Any:
        if parent is None or self.model_weights is None:
            return None
        layer = layers[index]
        name = layer_name(layer)
        inner = model_layers(layer)
        if parent[0] == "root":
            group = self.model_weights.get(name)
            if group is None or not hasattr(group, "attrs"):
                return None
            names = []
            for w in group.attrs.get("weight_names", []):
                names.append(w.decode("utf-8") if isinstance(w, bytes) else str(w))
            if inner is None:
                mine = []
                for full in names:
                    comps = full.split("/")
                    # "dense/kernel": drop the path down to (and including) the layer's name.
                    cut = comps.index(name) + 1 if name in comps[:-1] else 0
                    mine.append((comps[cut:], full))
                return ("layer", group, mine)
            return ("model", group, _assign(name, inner, names), ())
        if parent[0] != "model":
            return None
        _, group, assignment, prefix = parent
        path = (*prefix, name)
        if inner is not None:
            return ("model", group, assignment, path)
        return ("layer", group, assignment.get(path, []))

    def weights(self, handle: Any, cls: str, cfg: dict, name: str) -> list[RawWeight]:
        if handle is None:
            return []
        if handle[0] == "model":
            _, group, assignment, _ = handle
            entries = [e for key in sorted(assignment) for e in assignment[key]]
        else:
            _, group, entries = handle
        out = []
        for comps, full in entries:
            ds = group.get(full)
            if ds is None or hasattr(ds, "keys"):
                continue
            rel = "/".join(comps)
            if rel.endswith(":0"):
                rel = rel[:-2]
            last = rel.rsplit("/", 1)[-1]
            trainable = last not in NON_TRAINABLE_NAMES and cls not in STATISTICS_LAYERS
            out.append(RawWeight(rel, _shape(ds), _dtype(ds), trainable))
        return out


def model_layers(layer: dict) -> list[dict] | None:
    """The inner layer list when ``layer`` is a Sequential or Functional model, else None."""
    cfg = layer.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("layers"), list):
        if "input_layers" in cfg and "output_layers" in cfg:
            return cfg["layers"]
        if layer.get("class_name") == "Sequential":
            return cfg["layers"]
    if layer.get("class_name") == "Sequential" and isinstance(cfg, list):
        return cfg  # Keras 2.1 wrote a bare list
    return None


def _leaves(layers: list[dict], prefix: tuple[str, ...],
            out: list[tuple[tuple[str, ...], dict]]) -> None:
    for layer in layers:
        path = (*prefix, layer_name(layer))
        inner = model_layers(layer)
        if inner is None:
            out.append((path, layer))
        else:
            _leaves(inner, path, out)


def _subsequence_score(wanted: tuple[str, ...], comps: list[str]) -> int:
    """How many of ``wanted`` appear in ``comps`` in order (greedy)."""
    score, j = 0, 0
    for part in wanted:
        try:
            j = comps.index(part, j) + 1
        except ValueError:
            continue
        score += 1
    return score


def _assign(model_name: str, layers: list[dict],
            names: list[str]) -> dict[tuple[str, ...], list[tuple[list[str], str]]]:
    """Weight names of a nested model -> the inner layer (path) each belongs to."""
    leaves: list[tuple[tuple[str, ...], dict]] = []
    _leaves(layers, (), leaves)
    assignment: dict[tuple[str, ...], list[tuple[list[str], str]]] = {}
    taken: dict[tuple[str, ...], set[str]] = {}
    for full in names:
        comps = full.split("/")
        scope = comps[:-1]
        best: tuple | None = None
        for order, (path, _) in enumerate(leaves):
            if path[-1] not in scope:
                continue
            cut = len(scope) - scope[::-1].index(path[-1])  # after the last mention
            rel = comps[cut:]
            score = _subsequence_score((model_name, *path), scope)
            # Equal matches (two inner layers both named "dense"): the one that has no weight
            # of this name yet, then the earlier layer, as keras lists weights in layer order.
            key = (score, "/".join(rel) not in taken.get(path, set()), -order)
            if best is None or key > best[0]:
                best = (key, path, rel)
        if best is None:
            continue  # a weight no inner layer claims (a damaged file): not drawn
        _, path, rel = best
        assignment.setdefault(path, []).append((rel, full))
        taken.setdefault(path, set()).add("/".join(rel))
    return assignment


class LiveWeights(WeightSource):
    """A live keras.Model: the layer objects' own variables and trainable_weights."""

    def __init__(self, model: Any):
        self.model = model

    def root(self) -> Any:
        return self.model

    def child(self, parent: Any, layers: list[dict], index: int, sequential: bool) -> Any:
        if parent is None:
            return None
        name = layer_name(layers[index])
        for layer in getattr(parent, "layers", []) or []:
            if getattr(layer, "name", None) == name:
                return layer
        if layers[index].get("class_name") == "InputLayer":
            return None
        try:
            return parent.get_layer(name)
        except (ValueError, AttributeError):
            return None

    def weights(self, handle: Any, cls: str, cfg: dict, name: str) -> list[RawWeight]:
        if handle is None:
            return []
        trainable_ids = {id(v) for v in getattr(handle, "trainable_weights", [])}
        out = []
        for v in getattr(handle, "weights", []):
            path = str(getattr(v, "path", "") or getattr(v, "name", ""))
            prefix = f"{name}/"
            rel = path.split(prefix, 1)[1] if prefix in path else str(getattr(v, "name", path))
            out.append(RawWeight(rel, tuple(int(d) for d in v.shape),
                                 str(getattr(v, "dtype", "") or "") or None,
                                 id(v) in trainable_ids, identity=id(v)))
        return out


def layer_name(layer: dict, default: str | None = None) -> str:
    """A layer entry's name: Keras 3 puts it beside the config, Keras 2 inside it (the one
    name helper of the Keras reader; the entry's class name when it has none, or
    ``default``)."""
    name = layer.get("name")
    if not isinstance(name, str):
        cfg = layer.get("config")
        name = cfg.get("name") if isinstance(cfg, dict) else None
    if isinstance(name, str):
        return name
    return default if default is not None else str(layer.get("class_name", "layer"))
