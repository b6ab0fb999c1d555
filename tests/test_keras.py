"""Keras loader: .keras zips, legacy .h5 and live models, checked against keras itself.

Every model is built here with keras (torch backend, weights=None, nothing downloaded), saved
once per session, and read three ways (.keras, .h5, live). Node counts, edges, groups, shapes
and parameter totals are compared with what keras reports about its own model.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from nnviz.errors import ModelError  # noqa: E402
from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders import load, load_file  # noqa: E402

keras = pytest.importorskip("keras", reason="building test models needs keras")
L = keras.layers

# keras's torch backend converts tensors with np.array(x) on save; numpy 2 warns each time.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

APPS = ("ResNet50", "MobileNetV2", "EfficientNetB0", "DenseNet121", "InceptionV3")
SOURCES = ("keras", "h5", "live")


# ---- helpers -----------------------------------------------------------------------------------

def unique_params(graph: Graph) -> dict:
    seen: dict = {}
    for node in graph.nodes.values():
        for p in node.params:
            seen.setdefault(p.name, p)
    return seen


def trainable_count(graph: Graph) -> int:
    return sum(p.count for p in unique_params(graph).values() if p.trainable)


def keras_trainable(model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def keras_edges(model) -> set[tuple[str, str]]:
    """(producer layer, consumer layer) from keras's live node graph, not from the config."""
    edges = set()
    for layer in model.layers:
        for node in layer._inbound_nodes:
            for t in node.input_tensors:
                edges.add((t._keras_history.operation.name, layer.name))
    return edges


def our_edges(graph: Graph) -> set[tuple[str, str]]:
    return {(graph.nodes[e.src].name, graph.nodes[e.dst].name) for e in graph.edges()
            if graph.nodes[e.dst].op != "Output"}


def read(model, paths: dict, source: str) -> Graph:
    return load(model) if source == "live" else load_file(paths[source])


def save_both(model, directory: Path, name: str) -> dict:
    paths = {"keras": directory / f"{name}.keras", "h5": directory / f"{name}.h5"}
    model.save(paths["keras"])
    model.save(paths["h5"])
    return paths


# ---- keras.applications: exact parameter counts, every layer, every edge, every shape ---------

@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    """Each application model built and saved once (building them is most of this file's time)."""
    directory = tmp_path_factory.mktemp("keras_apps")
    out = {}
    for name in APPS:
        model = getattr(keras.applications, name)(weights=None)
        out[name] = (model, save_both(model, directory, name))
    return out


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("app", APPS)
def test_applications_match_keras(apps, app, source):
    model, paths = apps[app]
    graph = read(model, paths, source)
    assert graph.meta["framework"] == "keras"
    assert graph.meta["keras_version"] == keras.__version__
    assert graph.total_params == model.count_params()
    assert trainable_count(graph) == keras_trainable(model)
    # One node per keras layer (InputLayer included) plus one Output node per model output.
    assert len(graph.nodes) == len(model.layers) + len(model.outputs)
    by_name = {n.name: n for n in graph.nodes.values() if n.op != "Output"}
    assert set(by_name) == {layer.name for layer in model.layers}
    assert our_edges(graph) == keras_edges(model)
    for layer in model.layers:
        node = by_name[layer.name]
        if not isinstance(layer, L.InputLayer):
            assert node.op == type(layer).__name__
        assert graph.tensors[node.outputs[0]].shape == tuple(layer.output.shape), layer.name
        assert node.param_count == sum(math.prod(w.shape) for w in layer.weights), layer.name
    assert [graph.tensors[t].shape for t in graph.outputs] == \
        [tuple(t.shape) for t in model.outputs]


def test_resnet_kinds_match_the_shared_vocabulary(apps):
    graph = load_file(apps["ResNet50"][1]["keras"])
    kinds = {n.op: n.kind for n in graph.nodes.values()}
    assert kinds["Conv2D"] == "conv" and kinds["BatchNormalization"] == "norm"
    assert kinds["Activation"] == "activation" and kinds["Add"] == "elementwise"
    assert kinds["Dense"] == "linear" and kinds["MaxPooling2D"] == "pool"
    assert kinds["Input"] == "io" and kinds["Output"] == "io"
    bn = next(n for n in graph.nodes.values() if n.op == "BatchNormalization")
    assert [p.trainable for p in bn.params] == [True, True, False, False]
    assert [p.name.rsplit("/", 1)[1] for p in bn.params] == \
        ["gamma", "beta", "moving_mean", "moving_variance"]
    # The fused activation of the classifier is kept as an attribute of its Dense box.
    assert graph.nodes["predictions"].attrs["activation"] == "softmax"


# ---- a model with every structural feature ---------------------------------------------------

@keras.saving.register_keras_serializable(package="nnviz_test")
class Scale(L.Layer):
    """A custom layer with its own weight and a sublayer: drawn opaque, weights still counted."""

    def __init__(self, k: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.inner = L.Dense(3, name="scale_inner")

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), name="w")
        self.inner.build(shape)

    def call(self, x):
        return self.inner(x * self.w * self.k)

    def compute_output_shape(self, shape):
        return (*shape[:-1], 3)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


def build_multi():
    tok = keras.Input((10,), dtype="int32", name="tok")
    img = keras.Input((16, 16, 3), name="img")
    e = L.Embedding(100, 8, name="embed")(tok)
    h = L.LSTM(6, return_sequences=True, name="lstm")(e)
    h = L.Bidirectional(L.GRU(4), name="bigru")(h)
    q = L.Dense(8, name="q")(e)
    a = L.MultiHeadAttention(2, 4, name="mha")(q, q)
    a = L.GlobalMaxPooling1D(name="gmp")(a)
    c = L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv")(img)
    c = L.SeparableConv2D(4, 3, name="sep")(c)
    c = L.MaxPooling2D(name="pool")(c)
    c = L.Flatten(name="flat")(c)
    frozen = L.Dense(5, name="frozen")
    frozen.trainable = False
    c = frozen(c)
    lam = L.Lambda(lambda t: t * 2, name="double")(c)
    sc = Scale(name="scale")(lam)
    shared = L.Dense(5, name="shared")  # one layer, two calls, one set of weights
    s_a, s_b = shared(c), shared(lam)
    sub_in = keras.Input((5,), name="sub_in")
    sub_out = L.Dense(2, activation="softmax", name="sub_dense")(
        L.LayerNormalization(name="sub_ln")(sub_in))
    sub = keras.Model(sub_in, sub_out, name="sub")  # a nested model, called twice
    m = L.Concatenate(name="cat")([h, a, sub(s_a), sub(s_b), sc])
    out1 = L.Dense(1, name="out1")(m)
    out2 = L.Reshape((2, 2), name="out2")(L.Dense(4, name="pre2")(m))
    return keras.Model([tok, img], [out1, out2], name="multi")


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    model = build_multi()
    return model, save_both(model, tmp_path_factory.mktemp("keras_multi"), "multi")


@pytest.mark.parametrize("source", SOURCES)
def test_multi_input_output_shared_nested(multi, source):
    model, paths = multi
    graph = read(model, paths, source)
    assert graph.name == "multi"
    assert graph.total_params == model.count_params()
    assert trainable_count(graph) == keras_trainable(model)
    ins = [n for n in graph.nodes.values() if n.op == "Input"]
    outs = [n for n in graph.nodes.values() if n.op == "Output"]
    assert sorted(n.name for n in ins) == ["img", "tok"]
    assert [n.name for n in outs] == ["out1", "out2"]
    assert len(graph.inputs) == 2 and len(graph.outputs) == 2
    assert graph.tensors[ins[[n.name for n in ins].index("tok")].outputs[0]].dtype == "int32"
    # The shared Dense is drawn once per call; both boxes carry the same weights, counted once.
    calls = [n for n in graph.nodes.values() if n.name == "shared"]
    assert len(calls) == 2
    assert [p.name for p in calls[0].params] == [p.name for p in calls[1].params]
    # The nested model becomes a group per call, with its layers inside.
    assert ("sub",) in graph.groups and ("sub#2",) in graph.groups
    assert graph.groups[("sub",)].op == "Functional"
    inner = sorted(n.name for n in graph.iter_group_nodes(("sub#2",)))
    assert inner == ["sub_dense", "sub_ln"]
    sub_weights = {p.name for n in graph.iter_group_nodes(("sub",)) for p in n.params}
    assert sub_weights == {p.name for n in graph.iter_group_nodes(("sub#2",)) for p in n.params}
    # Nodes outside nested models: one per (layer, call), and keras's edges between them.
    flat = [layer for layer in model.layers if not isinstance(layer, keras.Model)]
    # (+2 nested-model layers per call, +2 Output nodes, +2 for the Bidirectional's group.)
    expected = sum(len(layer._inbound_nodes) for layer in flat) + 2 * 2 + 2 + 2
    assert len(graph.nodes) == expected
    edges = our_edges(graph)
    assert ("frozen", "double") in edges and ("shared", "sub_ln") in edges
    assert ("sub_dense", "cat") in edges and ("q", "mha") in edges
    # Lambda and custom classes are opaque boxes; their weights still count.
    assert graph.nodes["double"].meta["opaque"] is True
    assert graph.nodes["double"].kind == "other"
    assert graph.nodes["scale"].meta["opaque"] is True
    assert graph.nodes["scale"].param_count == 5 + 5 * 3 + 3
    assert all(not p.trainable for p in graph.nodes["frozen"].params)
    # The Bidirectional wrapper is a group: forward GRU, backward GRU, then the merge.
    bigru = model.get_layer("bigru")
    assert graph.groups[("bigru",)].op == "Bidirectional"
    fwd, bwd, merge = graph.iter_group_nodes(("bigru",))
    assert (fwd.op, bwd.op, merge.op) == ("GRU", "GRU", "Concatenate")
    assert (fwd.kind, bwd.kind) == ("recurrent", "recurrent")
    assert fwd.name == bigru.forward_layer.name and bwd.name == bigru.backward_layer.name
    assert bwd.attrs["go_backwards"] is True
    for node, sub in ((fwd, bigru.forward_layer), (bwd, bigru.backward_layer)):
        assert [p.shape for p in node.params] == [tuple(w.shape) for w in sub.weights]
    assert {(graph.nodes[e.src].name, graph.nodes[e.dst].name) for e in graph.edges()
            if "bigru" in e.src or "bigru" in e.dst} == {
        ("lstm", fwd.name), ("lstm", bwd.name), (fwd.name, "merge"), (bwd.name, "merge"),
        ("merge", "cat")}
    assert graph.tensors[merge.outputs[0]].shape == tuple(bigru.output.shape)
    assert graph.nodes["mha"].kind == "attention" and graph.nodes["conv"].kind == "conv"
    assert graph.nodes["conv"].attrs["activation"] == "relu"
    for layer in flat:
        if isinstance(layer, (L.InputLayer, L.Bidirectional)) or len(layer._inbound_nodes) != 1:
            continue
        node = graph.nodes[layer.name]
        assert graph.tensors[node.outputs[0]].shape == tuple(layer.output.shape), layer.name
        assert node.param_count == sum(math.prod(w.shape) for w in layer.weights), layer.name


@keras.saving.register_keras_serializable(package="nnviz_test")
class Subclassed(keras.Model):
    """A subclassed model: its forward pass is Python code, not config."""

    def __init__(self, units: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d1, self.bn, self.d2 = L.Dense(8), L.BatchNormalization(), L.Dense(units)

    def call(self, x):
        return self.d2(self.bn(self.d1(x)))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model_is_one_opaque_box(tmp_path):
    model = Subclassed(name="net")
    model(keras.ops.zeros((2, 5)))
    model.save(tmp_path / "net.keras")
    for graph in (load_file(tmp_path / "net.keras"), load(model)):
        assert [n.op for n in graph.nodes.values()] == ["Input", "Subclassed", "Output"]
        box = graph.nodes["net"]
        assert box.meta["opaque"] is True
        assert graph.total_params == model.count_params() == 5 * 8 + 8 + 4 * 8 + 8 * 4 + 4
        assert trainable_count(graph) == keras_trainable(model)
        assert graph.tensors[graph.inputs[0]].shape == (2, 5)


@keras.saving.register_keras_serializable(package="nnviz_test")
class Split(L.Layer):
    """A custom layer with two outputs: nnviz cannot infer them, keras's config says so."""

    def call(self, x):
        return [x[:, :2], x[:, 2:]]

    def compute_output_shape(self, shape):
        return [(shape[0], 2), (shape[0], shape[1] - 2)]


def test_custom_multi_output_layer_and_dict_io(tmp_path):
    x = keras.Input((5,), name="x")
    a, b = Split(name="split")(x)
    seq, h, c = L.LSTM(4, return_state=True, name="lstm")(L.Reshape((1, 3))(b))
    y = L.Add(name="add")([L.Dense(4, name="da")(a), h])
    model = keras.Model({"x": x}, {"y": y, "state": c, "rest": b}, name="splitter")
    paths = save_both(model, tmp_path, "splitter")
    for source in SOURCES:
        graph = read(model, paths, source)
        assert graph.total_params == model.count_params()
        split = graph.nodes["split"]
        assert split.meta["opaque"] is True and len(split.outputs) == 2
        # Shapes keras recorded for the consumers fill in what nnviz cannot infer.
        assert [graph.tensors[t].shape for t in split.outputs] == [(None, 2), (None, 3)]
        assert graph.nodes["da"].inputs == [split.outputs[0]]
        lstm = graph.nodes["lstm"]
        assert [graph.tensors[t].shape for t in lstm.outputs] == [(None, 4)] * 3
        assert graph.nodes["add"].inputs == [graph.nodes["da"].outputs[0], lstm.outputs[1]]
        assert sorted(graph.outputs) == sorted([graph.nodes["add"].outputs[0], lstm.outputs[2],
                                                split.outputs[1]])


def test_file_graphs_are_deterministic_and_agree(multi):
    _, paths = multi
    first = load_file(paths["keras"]).to_json()
    assert load_file(paths["keras"]).to_json() == first
    a, b = load_file(paths["keras"]), load_file(paths["h5"])
    assert list(a.nodes) == list(b.nodes)
    assert [e for e in a.edges()] == [e for e in b.edges()]
    assert {t: a.tensors[t].shape for t in a.tensors} == {t: b.tensors[t].shape for t in b.tensors}


# ---- Sequential, nested Sequential, frozen sub-model ------------------------------------------

def build_sequential():
    block = keras.Sequential([L.Conv2D(4, 3, padding="same"), L.BatchNormalization(),
                              L.ReLU()], name="block")
    block.trainable = False
    return keras.Sequential([
        keras.Input((8, 8, 3)), block, L.Conv2DTranspose(2, 3, strides=2), L.UpSampling2D(),
        L.Cropping2D(1), L.ZeroPadding2D(2), L.AveragePooling2D(3, strides=2, padding="same"),
        L.GlobalAveragePooling2D(keepdims=True), L.Reshape((-1,)), L.RepeatVector(3),
        L.GRU(5, return_sequences=True), L.TimeDistributed(L.Dense(2)), L.Permute((2, 1)),
        L.Conv1D(3, 2, padding="causal", dilation_rate=2), L.Dropout(0.2), L.Dense(7),
    ], name="seq")


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    model = build_sequential()
    return model, save_both(model, tmp_path_factory.mktemp("keras_seq"), "seq")


@pytest.mark.parametrize("source", SOURCES)
def test_sequential_with_frozen_nested_block(sequential, source):
    model, paths = sequential
    graph = read(model, paths, source)
    assert graph.total_params == model.count_params()
    assert trainable_count(graph) == keras_trainable(model)
    assert ("block",) in graph.groups and graph.groups[("block",)].op == "Sequential"
    block_nodes = list(graph.iter_group_nodes(("block",)))
    assert [n.op for n in block_nodes] == ["Conv2D", "BatchNormalization", "ReLU"]
    assert all(not p.trainable for n in block_nodes for p in n.params)
    chain = [n for n in graph.nodes.values() if n.op not in ("Input", "Output")]
    order = graph.topological_order()
    assert [n.id for n in chain] == [i for i in order if graph.nodes[i].op not in
                                     ("Input", "Output")]
    ours = [graph.tensors[n.outputs[0]].shape for n in chain]
    theirs = [tuple(layer.output.shape) for layer in model.layers[0].layers] + \
        [tuple(layer.output.shape) for layer in model.layers[1:]]
    assert ours == theirs
    assert len(graph.edges()) == len(graph.nodes) - 1  # a chain


def test_sequential_without_input_layer_uses_build_shape(tmp_path):
    model = keras.Sequential([L.Dense(16, activation="relu"), L.Dense(3)], name="mlp")
    model.build((None, 7))
    paths = save_both(model, tmp_path, "mlp")
    for source in SOURCES:
        graph = read(model, paths, source)
        assert [graph.tensors[t].shape for n in graph.nodes.values() for t in n.outputs] == \
            [(None, 7), (None, 16), (None, 3)]
        assert graph.total_params == model.count_params() == 7 * 16 + 16 + 16 * 3 + 3


def test_three_levels_of_nesting_with_repeated_names(tmp_path):
    """leaf (Sequential) in mid (Functional) in outer (Sequential) in the model; a Dense "d"
    both deep inside and at the outer level. Legacy .h5 names the deep one "leaf/d/kernel"
    (skipping "mid"), so weights must go to the best-matching path, not the first "d"."""
    leaf = keras.Sequential([L.Dense(4, name="d"), L.BatchNormalization(name="bn")], name="leaf")
    i = keras.Input((4,), name="mid_in")
    mid = keras.Model(i, L.Add(name="madd")([leaf(i), i]), name="mid")
    outer = keras.Sequential([keras.Input((4,)), mid, L.Dense(4, name="d")], name="outer")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, outer(x), name="top")
    paths = save_both(model, tmp_path, "deep")
    for source in SOURCES:
        graph = read(model, paths, source)
        assert list(graph.groups) == [("outer",), ("outer", "mid"), ("outer", "mid", "leaf")]
        counts = {nid: n.param_count for nid, n in graph.nodes.items()}
        assert counts == {"x": 0, "outer/mid/leaf/d": 20, "outer/mid/leaf/bn": 16,
                          "outer/mid/madd": 0, "outer/d": 20, "output": 0}, source
        assert graph.total_params == model.count_params()
        assert trainable_count(graph) == keras_trainable(model)
        assert graph.nodes["outer/mid/madd"].inputs == [graph.nodes["outer/mid/leaf/bn"].outputs[0],
                                                      graph.nodes["x"].outputs[0]]


# ---- reading files never imports keras, tensorflow or torch -----------------------------------

def test_files_are_read_without_keras(multi, sequential, apps):
    paths = [str(multi[1]["keras"]), str(multi[1]["h5"]), str(sequential[1]["keras"]),
             str(sequential[1]["h5"]), str(apps["MobileNetV2"][1]["keras"])]
    script = textwrap.dedent("""
        import importlib.abc, json, sys

        class Refuse(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("keras", "tensorflow", "torch", "tf_keras", "jax"):
                    raise ImportError("blocked " + name)
                return None

        sys.meta_path.insert(0, Refuse())
        from nnviz.loaders import load_file
        totals = [load_file(p).total_params for p in sys.argv[1:]]
        leaked = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("keras", "tensorflow", "torch"))
        print(json.dumps({"totals": totals, "leaked": leaked}))
    """)
    proc = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["leaked"] == []
    assert result["totals"] == [multi[0].count_params()] * 2 + \
        [sequential[0].count_params()] * 2 + [apps["MobileNetV2"][0].count_params()]


# ---- a Keras 2 (tf.keras) legacy .h5, written by hand as tf.keras lays it out ---------------

def write_keras2_h5(path: Path) -> None:
    """tf.keras 2.x layout: nested-list inbound_nodes, batch_input_shape, ':0' weight names."""
    def dense(name, units, inbound, act="linear"):
        return {"class_name": "Dense", "name": name, "inbound_nodes": inbound,
                "config": {"name": name, "trainable": True, "dtype": "float32", "units": units,
                           "activation": act, "use_bias": True}}

    inner = {"class_name": "Functional", "name": "head", "inbound_nodes": [[["bn", 0, 0, {}]]],
             "config": {"name": "head", "layers": [
                 {"class_name": "InputLayer", "name": "head_in", "inbound_nodes": [],
                  "config": {"batch_input_shape": [None, 16], "dtype": "float32",
                             "name": "head_in"}},
                 dense("head_dense", 4, [[["head_in", 0, 0, {}]]], "softmax")],
                 "input_layers": [["head_in", 0, 0]], "output_layers": [["head_dense", 0, 0]]}}
    config = {"class_name": "Functional", "config": {"name": "k2", "layers": [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 32], "dtype": "float32", "name": "input_1"}},
        dense("dense", 16, [[["input_1", 0, 0, {}]]], "relu"),
        {"class_name": "BatchNormalization", "name": "bn", "inbound_nodes": [[["dense", 0, 0, {}]]],
         "config": {"name": "bn", "trainable": True, "axis": [1], "center": True, "scale": True}},
        {"class_name": "TFOpLambda", "name": "tf.math.multiply",
         "inbound_nodes": [["dense", 0, 0, {"y": 2.0}]],
         "config": {"name": "tf.math.multiply", "function": "math.multiply"}},
        inner],
        "input_layers": [["input_1", 0, 0]],
        "output_layers": [["head", 0, 0], ["tf.math.multiply", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
        f.attrs["keras_version"] = "2.13.1"
        f.attrs["backend"] = "tensorflow"
        mw = f.create_group("model_weights")
        weights = {"dense": [("dense/kernel:0", (32, 16)), ("dense/bias:0", (16,))],
                   "bn": [("bn/gamma:0", (16,)), ("bn/beta:0", (16,)),
                          ("bn/moving_mean:0", (16,)), ("bn/moving_variance:0", (16,))],
                   "head": [("head_dense/kernel:0", (16, 4)), ("head_dense/bias:0", (4,))],
                   "input_1": [], "tf.math.multiply": []}
        for layer, items in weights.items():
            g = mw.create_group(layer)
            g.attrs["weight_names"] = np.array([n.encode() for n, _ in items], dtype="S")
            for name, shape in items:
                g.create_dataset(name, shape=shape, dtype="float32")


def test_keras2_legacy_h5(tmp_path):
    path = tmp_path / "k2.h5"
    write_keras2_h5(path)
    graph = load_file(path)
    assert graph.meta["keras_version"] == "2.13.1" and graph.meta["backend"] == "tensorflow"
    assert graph.total_params == 32 * 16 + 16 + 4 * 16 + 16 * 4 + 4
    assert trainable_count(graph) == graph.total_params - 32
    assert {p.name for p in graph.nodes["bn"].params} == {
        "bn/gamma", "bn/beta", "bn/moving_mean", "bn/moving_variance"}
    assert graph.nodes["head/head_dense"].group == ("head",)
    assert graph.nodes["head/head_dense"].param_count == 68
    assert graph.nodes["tf.math.multiply"].meta["opaque"] is True
    shapes = {n.id: graph.tensors[n.outputs[0]].shape for n in graph.nodes.values() if n.outputs}
    assert shapes == {"input_1": (None, 32), "dense": (None, 16), "bn": (None, 16),
                      "tf.math.multiply": None, "head/head_dense": (None, 4)}
    assert our_edges(graph) == {("input_1", "dense"), ("dense", "bn"),
                                ("dense", "tf.math.multiply"), ("bn", "head_dense")}


def test_keras2_sequential_h5_without_input_layer(tmp_path):
    layers = [
        {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": True,
                                            "batch_input_shape": [None, 28, 28, 1],
                                            "filters": 8, "kernel_size": [3, 3],
                                            "strides": [1, 1], "padding": "valid",
                                            "activation": "relu", "use_bias": True}},
        {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "pool_size": [2, 2],
                                                  "strides": [2, 2], "padding": "valid"}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 10,
                                           "activation": "softmax", "trainable": False}},
    ]
    path = tmp_path / "seq2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential",
                                              "config": {"name": "sequential",
                                                         "layers": layers}}).encode()
        f.attrs["keras_version"] = b"2.4.0"
        mw = f.create_group("model_weights")
        for layer, items in {"conv2d": [("conv2d/kernel:0", (3, 3, 1, 8)),
                                        ("conv2d/bias:0", (8,))],
                             "max_pooling2d": [], "flatten": [],
                             "dense": [("dense/kernel:0", (1352, 10)),
                                       ("dense/bias:0", (10,))]}.items():
            g = mw.create_group(layer)
            g.attrs["weight_names"] = np.array([n.encode() for n, _ in items], dtype="S")
            for name, shape in items:
                g.create_dataset(name, shape=shape, dtype="float32")
    graph = load_file(path)
    assert [n.op for n in graph.nodes.values()] == ["Input", "Conv2D", "MaxPooling2D",
                                                    "Flatten", "Dense", "Output"]
    assert [graph.tensors[t].shape for n in graph.nodes.values() for t in n.outputs] == \
        [(None, 28, 28, 1), (None, 26, 26, 8), (None, 13, 13, 8), (None, 1352), (None, 10)]
    assert graph.total_params == 80 + 13530
    assert trainable_count(graph) == 80  # the frozen Dense
    assert graph.nodes["conv2d"].attrs["activation"] == "relu"


# ---- user mistakes: one sentence naming the file ---------------------------------------------

def test_damaged_files_raise_model_error(multi, tmp_path):
    _, paths = multi
    data = paths["keras"].read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("config.json", '{"class_name": "Functional", "config": {')
    not_model = tmp_path / "weights_only.h5"
    with h5py.File(not_model, "w") as f:
        f["x"] = np.zeros(3)
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip at all" * 4)
    dangling = tmp_path / "dangling.keras"
    with zipfile.ZipFile(paths["keras"]) as src, zipfile.ZipFile(dangling, "w") as dst:
        config = json.loads(src.read("config.json"))
        layer = next(x for x in config["config"]["layers"] if x["name"] == "flat")
        layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"][0] = "ghost"
        dst.writestr("config.json", json.dumps(config))
    cases = {truncated: "damaged", broken: "broken config.json", not_model: "without a Keras",
             garbage: "not a zip", dangling: "ghost"}
    for path, words in cases.items():
        with pytest.raises(ModelError) as info:
            load_file(path)
        message = str(info.value)
        assert message.startswith(str(path)) and words in message, message
        assert "\n" not in message and "Traceback" not in message


def test_cli_reports_one_line_and_exit_1(tmp_path):
    broken = tmp_path / "broken.keras"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("config.json", "{nope")
    proc = subprocess.run([sys.executable, "-m", "nnviz.cli", str(broken), "-o",
                           str(tmp_path / "x.svg")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "broken.keras" in proc.stderr
    assert not (tmp_path / "x.svg").exists()


def test_keras_file_without_weights_still_draws(multi, tmp_path):
    _, paths = multi
    bare = tmp_path / "bare.keras"
    with zipfile.ZipFile(paths["keras"]) as src, zipfile.ZipFile(bare, "w") as dst:
        dst.writestr("config.json", src.read("config.json"))
    graph = load_file(bare)
    assert graph.meta["weights"] == "missing" and graph.total_params == 0
    assert len(graph.nodes) == len(load_file(paths["keras"]).nodes)


def test_keras_file_from_before_recorded_layer_names(multi, tmp_path):
    """Keras < 3.10 did not record layer names in model.weights.h5; the class-name paths
    (layers/dense_1, layers/functional/layers/dense ...) must still find every weight."""
    _, paths = multi
    weights = tmp_path / "model.weights.h5"
    with zipfile.ZipFile(paths["keras"]) as src:
        weights.write_bytes(src.read("model.weights.h5"))
        config = src.read("config.json")

    def strip(_name, obj):
        if "name" in obj.attrs:
            del obj.attrs["name"]

    with h5py.File(weights, "r+") as h5:
        h5.visititems(strip)
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(old, "w") as dst:
        dst.writestr("config.json", config)
        dst.write(weights, "model.weights.h5")
    a, b = load_file(paths["keras"]), load_file(old)
    assert b.total_params == a.total_params == multi[0].count_params()
    for nid, node in a.nodes.items():
        assert [p.to_dict() for p in b.nodes[nid].params] == [p.to_dict() for p in node.params]


def test_draws_to_svg(multi, tmp_path):
    import nnviz

    out = tmp_path / "multi.svg"
    nnviz.draw(multi[1]["keras"], out)
    text = out.read_text()
    assert text.startswith("<") and "MultiHeadAttention" in text and "Bidirectional" in text
    assert text.count("(opaque)") == 2  # the Lambda and the custom Scale layer
