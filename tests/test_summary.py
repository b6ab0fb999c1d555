"""`nnviz summary`: totals equal the frameworks' own counts; formats paste cleanly."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from nnviz.cli import main
from nnviz.passes import ViewOptions
from nnviz.reports.summary import summarize, summary_rows


def cnn_onnx(path) -> int:
    """Conv(3->8, 3x3) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(8->10). Returns params."""
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(rng.randn(8, 3, 3, 3).astype(np.float32), "conv.w"),
             numpy_helper.from_array(rng.randn(8).astype(np.float32), "conv.b"),
             numpy_helper.from_array(rng.randn(10, 8).astype(np.float32), "fc.w"),
             numpy_helper.from_array(rng.randn(10).astype(np.float32), "fc.b")]
    nodes = [
        helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "cnn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return sum(int(np.prod(i.dims)) for i in inits)


@pytest.fixture
def onnx_cnn(tmp_path):
    path = tmp_path / "cnn.onnx"
    return path, cnn_onnx(path)


def test_onnx_summary_json_totals_and_flops(onnx_cnn, tmp_path):
    path, params = onnx_cnn
    from nnviz.loaders import load

    out = tmp_path / "s.json"
    summarize(load(path), ViewOptions(), fmt="json", output=out)
    doc = json.loads(out.read_text())
    assert doc["totals"]["params"] == params == 8 * 27 + 8 + 80 + 10
    conv = next(r for r in doc["rows"] if r["type"] == "Conv")
    assert conv["output_shape"] == "(1, 8, 16, 16)"
    assert conv["macs"] == 16 * 16 * 8 * 27  # by hand: output elements x (3*3*3)
    assert conv["flops"] == 2 * conv["macs"] + 16 * 16 * 8
    fc = next(r for r in doc["rows"] if r["type"] == "Gemm")
    assert fc["macs"] == 80 and fc["output_shape"] == "(1, 10)"


def test_markdown_pastes_cleanly(onnx_cnn, tmp_path):
    path, params = onnx_cnn
    runner = CliRunner()
    res = runner.invoke(main, ["summary", str(path), "--format", "markdown"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    table = [ln for ln in lines if ln.startswith("|")]
    assert table[0] == "| Layer | Type | Output shape | Params | FLOPs |"
    assert table[1] == "|:--|:--|:--|--:|--:|"
    assert all(ln.endswith("|") and ln.count("|") - ln.count("\\|") == 6 for ln in table)
    assert table[-1].startswith("| **Total** |") and f"**{params:,}**" in table[-1]
    # One row per layer (Input included, Output not) plus header, separator, total.
    assert len(table) == 3 + 6


def test_csv_and_table_formats(onnx_cnn, tmp_path):
    path, params = onnx_cnn
    from nnviz.loaders import load

    g = load(path)
    text = summarize(g, ViewOptions(), fmt="csv", output=tmp_path / "s.csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[-1]["path"] == "TOTAL" and int(rows[-1]["params"]) == params
    assert sum(int(r["params"]) for r in rows[:-1]) == params
    plain = summarize(g, ViewOptions(), fmt="table", output=tmp_path / "s.txt")
    assert "Total params: " + f"{params:,}" in plain and "Conv" in plain
    assert (tmp_path / "s.txt").read_text() == plain
    # Same input, same bytes.
    assert summarize(g, ViewOptions(), fmt="csv", output=tmp_path / "t.csv") == text


def test_bad_file_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 3)
    res = CliRunner().invoke(main, ["summary", str(bad)])
    assert res.exit_code == 1
    assert "broken.onnx" in res.output and "Traceback" not in res.output


def test_torch_totals_match_framework():
    torch = pytest.importorskip("torch", reason="the torch extra is not installed")
    from torch import nn

    from nnviz.loaders import load

    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.Conv2d(16, 16, 3, padding=1, groups=4), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(16, 10))
    model[0].weight.requires_grad_(False)  # a frozen layer counts as non-trainable
    g = load(model, input_shape=(1, 3, 32, 32))
    rows = summary_rows(g, ViewOptions())
    from nnviz.passes import annotate
    from nnviz.reports.summary import render_markdown, totals

    tot = totals(annotate(g))
    torch_params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    buffers = sum(b.numel() for b in model.buffers())
    assert tot["trainable_params"] == trainable
    # PyTorch's convention: parameters() only; buffers (BN running stats) listed apart.
    assert tot["params"] == torch_params and tot["buffers"] == buffers
    assert f"Buffers (not params): {buffers:,}" in render_markdown("m", rows, tot)
    assert sum(r.params for r in rows if not r.is_group_header) == tot["params"]
    conv2 = [r for r in rows if r.type == "Conv2d"][1]
    assert conv2.macs == 32 * 32 * 16 * (16 // 4) * 9  # grouped conv by hand
    del torch


def test_keras_totals_match_count_params(tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "torch")  # no TensorFlow here
    keras = pytest.importorskip("keras", reason="the keras extra is not installed")
    from nnviz.loaders import load
    from nnviz.passes import annotate
    from nnviz.reports.summary import totals

    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(10)(x)
    model = keras.Model(inp, out)
    path = tmp_path / "m.keras"
    model.save(path)
    tot = totals(annotate(load(path)))
    assert tot["params"] == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert tot["trainable_params"] == trainable


def test_transformer_summary_folds_and_depth_controls_rows():
    from test_passes import PER_LAYER_PARAMS, transformer_graph

    g = transformer_graph(12)
    rows = summary_rows(g, ViewOptions(dims={"batch": 1}))
    header = [r for r in rows if r.repeat == 12]
    assert len(header) == 1 and header[0].params == 12 * PER_LAYER_PARAMS
    shallow = summary_rows(g, ViewOptions(depth=1, fold=False))
    assert [r.name for r in shallow if r.kind == "group"] == ["embeddings", "encoder", "head"]
    deep = summary_rows(g, ViewOptions(depth=99, fold=False))
    assert len(deep) > len(rows) > len(shallow)
    total = g.total_params
    for rs in (rows, shallow, deep):
        # the top-level rows always add up to the model's total
        assert sum(r.params for r in rs if r.level == 0) == total
