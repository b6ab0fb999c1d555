"""The same small CNN from PyTorch, Keras and ONNX draws the same: kinds, params, output shape.

Conv-BN-ReLU-Pool-Flatten-Dense. Each loader counts by its framework's own convention
(README "Parameter counts"): Keras' count_params() includes BatchNorm's moving statistics;
PyTorch's parameters() do not (running_mean/var and the num_batches_tracked counter are
buffers, listed apart), and neither do ONNX's weight initializers (BatchNormalization's
input_mean/input_var are buffers, so an exported PyTorch model keeps its PyTorch total). So
the PyTorch and ONNX totals are Keras' minus the 16 running statistics, and every trainable
count agrees.
"""

from __future__ import annotations

import os
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the cross-framework test needs torch")
nn = torch.nn

from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders.torch import load_object as load_torch  # noqa: E402

KINDS = ["conv", "norm", "activation", "pool", "reshape", "linear"]
# conv 3*3*3*8+8, BN 4*8 (gamma, beta, mean, var), dense 8*15*15*10+10
PARAMS_PER_LAYER = [224, 32, 0, 0, 0, 18010]
TOTAL = sum(PARAMS_PER_LAYER)


def body(graph: Graph) -> list:
    return [n for n in graph.nodes.values() if n.kind != "io"]


def torch_cnn() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 15 * 15, 10))
    # Trained-looking BN statistics: with a fresh BN (weight == running_var == 1, bias ==
    # running_mean == 0) the ONNX exporter merges equal initializers into Identity nodes.
    with torch.no_grad():
        bn = model[1]
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1.0, 1.0)
        bn.running_mean.uniform_(-1.0, 1.0)
        bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def check(graph: Graph, running_stats_are_params: bool = True) -> None:
    nodes = body(graph)
    stats = 0 if running_stats_are_params else 16
    assert [n.kind for n in nodes] == KINDS, [(n.op, n.kind) for n in nodes]
    want = list(PARAMS_PER_LAYER)
    want[1] -= stats
    assert [n.param_count for n in nodes] == want
    assert graph.total_params == TOTAL - stats
    assert graph.tensors[graph.outputs[0]].shape[-1] == 10


@pytest.fixture(scope="module")
def torch_graph() -> Graph:
    model = torch_cnn()
    graph = load_torch(model, input_shape=(1, 3, 32, 32))
    assert TOTAL - 16 == sum(p.numel() for p in model.parameters())
    return graph


def test_torch(torch_graph):
    check(torch_graph, running_stats_are_params=False)
    bn = body(torch_graph)[1]
    assert sorted(p.name for p in bn.params if p.role == "buffer") == [
        "1.num_batches_tracked", "1.running_mean", "1.running_var"]


def test_onnx_export_of_the_torch_model(tmp_path, torch_graph):
    pytest.importorskip("onnx", reason="the ONNX part needs the onnx extra")
    from nnviz.loaders.onnx import load_file as load_onnx  # a broken loader fails here
    path = tmp_path / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter works offline; without constant folding, eval-mode BN
        # stays a BatchNormalization node instead of being fused into the Conv weights.
        torch.onnx.export(torch_cnn(), (torch.randn(1, 3, 32, 32),), str(path), dynamo=False,
                          do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    graph = load_onnx(path)
    check(graph, running_stats_are_params=False)
    assert sum(p.count for p in body(graph)[1].params if p.role == "buffer") == 16
    assert [n.op for n in body(graph)] == ["Conv", "BatchNormalization", "Relu", "MaxPool",
                                           "Flatten", "Gemm"]
    assert [n.kind for n in body(graph)] == [n.kind for n in body(torch_graph)]


def test_keras(torch_graph):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="the Keras part needs keras")
    from nnviz.loaders.keras import load_object as load_keras  # a broken loader fails here
    layers = keras.layers
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(8, 3),
                              layers.BatchNormalization(), layers.ReLU(),
                              layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10)])
    graph = load_keras(model)
    check(graph)
    assert graph.total_params == model.count_params()
    trainable = sum(p.count for n in graph.nodes.values() for p in n.params if p.trainable)
    torch_trainable = sum(p.count for n in torch_graph.nodes.values() for p in n.params
                          if p.trainable)
    assert trainable == torch_trainable == TOTAL - 16
