"""`nnviz stats`: per-weight statistics, flags, --strict, and the safety of the weight reader."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import nnviz.reports.stats as stats_mod
from nnviz.cli import main
from nnviz.errors import ModelError
from nnviz.loaders import iter_weights
from nnviz.loaders.weights import WeightTensor
from nnviz.reports.stats import collect, tensor_stats


def model_with(tensors: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Add all given initializers to x in a chain, so each is used by one node."""
    nodes, prev = [], "x"
    for i, name in enumerate(tensors):
        nodes.append(helper.make_node("Add", [prev, name], [f"h{i}"], name=f"add{i}"))
        prev = f"h{i}"
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(v, k) for k, v in tensors.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


RNG = np.random.RandomState(0)
GOOD = {"w": RNG.randn(4).astype(np.float32), "v": RNG.randn(4).astype(np.float32),
        "zero_bias": np.zeros(4, np.float32)}  # freshly initialised biases are not a problem
BAD = {"ok": RNG.randn(4).astype(np.float32),
       "zeros": np.zeros((2, 2), np.float32),
       "nan": np.array([1, np.nan, 2, 3], np.float32),
       "inf": np.array([1, -np.inf, 2, 3], np.float32),
       "big": np.array([1, 2, 3, 5e4], np.float32)}


def test_stats_values_and_flags(tmp_path):
    path = tmp_path / "bad.onnx"
    onnx.save(model_with(BAD), str(path))
    got = {s.name: s for s in collect(path)}
    ok = got["ok"]
    a = BAD["ok"].astype(np.float64)
    assert ok.flags == []
    assert ok.min == pytest.approx(a.min()) and ok.max == pytest.approx(a.max())
    assert ok.mean == pytest.approx(a.mean()) and ok.std == pytest.approx(a.std())
    assert got["zeros"].flags == ["all-zero"] and got["zeros"].zero_fraction == 1.0
    assert got["nan"].flags == ["nan"] and got["nan"].nan == 1
    assert got["nan"].mean == pytest.approx(2.0)  # statistics over the finite values
    assert got["inf"].flags == ["inf"]
    assert got["big"].flags == ["exploding"]


def test_cli_strict_exit_codes(tmp_path):
    good, bad = tmp_path / "good.onnx", tmp_path / "bad.onnx"
    onnx.save(model_with(GOOD), str(good))
    onnx.save(model_with(BAD), str(bad))
    runner = CliRunner()
    assert runner.invoke(main, ["stats", str(good), "--strict"]).exit_code == 0
    res = runner.invoke(main, ["stats", str(bad), "--strict"])
    assert res.exit_code == 3 and "4 flagged" in res.output
    assert runner.invoke(main, ["stats", str(bad)]).exit_code == 0  # flags alone: exit 0
    res = runner.invoke(main, ["stats", str(bad), "--format", "json"])
    doc = json.loads(res.output)
    assert doc["flagged"] == 4 and len(doc["tensors"]) == 5
    res = runner.invoke(main, ["stats", str(bad), "--format", "csv"])
    assert res.output.splitlines()[0].startswith("name,shape,dtype,count,min")


def test_external_data_read_lazily_and_confined(tmp_path):
    big = RNG.randn(64, 33).astype(np.float32)
    model = model_with({"big": big})
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 33
    onnx.save(model, str(tmp_path / "ext.onnx"), save_as_external_data=True,
              location="weights.bin", size_threshold=0)
    (w,) = list(iter_weights(tmp_path / "ext.onnx"))
    assert isinstance(w.values, np.memmap)  # mapped, not read into memory
    st = tensor_stats(w)
    assert st.mean == pytest.approx(float(big.astype(np.float64).mean()))
    # A model whose external data points outside its folder is refused, not read.
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(64 * 33, np.float32).tobytes())
    sub = tmp_path / "models"
    sub.mkdir()
    m = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for e in m.graph.initializer[0].external_data:
        if e.key == "location":
            e.value = "../secret.bin"
    onnx.save(m, str(sub / "evil.onnx"))
    with pytest.raises(ModelError, match="outside the model's folder"):
        list(iter_weights(sub / "evil.onnx"))
    res = CliRunner().invoke(main, ["stats", str(sub / "evil.onnx")])
    assert res.exit_code == 1 and "Traceback" not in res.output


def test_chunked_statistics_equal_numpy(monkeypatch, tmp_path):
    monkeypatch.setattr(stats_mod, "CHUNK", 7)  # force many chunks
    data = RNG.randn(13, 11) * 3 + 1
    data[2, 3] = 0.0
    st = tensor_stats(WeightTensor("t", data.shape, "float64", data))
    assert st.mean == pytest.approx(data.mean()) and st.std == pytest.approx(data.std())
    assert st.min == data.min() and st.max == data.max()
    assert st.zero_fraction == pytest.approx(1 / data.size)
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["layer/kernel"] = data
    with h5py.File(tmp_path / "d.h5", "r") as f:
        st2 = tensor_stats(WeightTensor("t", data.shape, "float64", f["layer/kernel"]))
    assert st2.mean == pytest.approx(data.mean()) and st2.std == pytest.approx(data.std())


def test_torch_state_dict_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
    path = tmp_path / "sd.pt"
    torch.save(model.state_dict(), path)
    got = {s.name: s for s in collect(path)}
    assert set(got) == set(model.state_dict())
    assert got["0.weight"].flags == ["nan"]
    assert got["0.bias"].mean == pytest.approx(float(model[0].bias.detach().double().mean()))
    # A pickled whole model is refused unless trusted.
    whole = tmp_path / "whole.pt"
    torch.save(model, whole)
    with pytest.raises(ModelError, match="trust-pickle"):
        collect(whole)
    assert len(collect(whole, {"trust_pickle": True})) == len(model.state_dict())


def test_keras_file_weights(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    inp = keras.Input((6,))
    out = keras.layers.Dense(3)(keras.layers.BatchNormalization()(inp))
    model = keras.Model(inp, out)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    for path in (tmp_path / "m.keras", tmp_path / "m.weights.h5"):
        got = collect(path)
        assert sum(s.count for s in got) == model.count_params()
        kernel = next(s for s in got if s.shape == (6, 3))
        w = model.layers[-1].kernel.numpy().astype(np.float64)
        assert kernel.mean == pytest.approx(w.mean()) and kernel.std == pytest.approx(w.std())


def test_pt2_exported_program_weights(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    ep = torch.export.export(model, (torch.randn(1, 4),))
    torch.export.save(ep, tmp_path / "m.pt2")
    got = {s.name: s for s in collect(tmp_path / "m.pt2")}
    assert set(got) == set(model.state_dict())
    w = model[2].weight.detach().double()
    assert got["2.weight"].mean == pytest.approx(float(w.mean()))
    assert got["2.weight"].std == pytest.approx(float(w.std(unbiased=False)))
