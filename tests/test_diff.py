"""`nnviz diff`: added/removed/changed layers, parameter delta, reports, highlighted drawing."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from nnviz.api import diff_models
from nnviz.cli import main
from nnviz.ir import Graph, Node, Param, Tensor
from nnviz.reports.diff import compare


def mlp_onnx(path, hidden: int = 32, extra_relu: bool = False, drop_tanh: bool = False) -> int:
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(rng.randn(hidden, 16).astype(np.float32), "fc1.w"),
             numpy_helper.from_array(rng.randn(hidden).astype(np.float32), "fc1.b"),
             numpy_helper.from_array(rng.randn(10, hidden).astype(np.float32), "fc2.w")]
    nodes = [helper.make_node("Gemm", ["x", "fc1.w", "fc1.b"], ["h"], name="fc1", transB=1)]
    last = "h"
    if not drop_tanh:
        nodes.append(helper.make_node("Tanh", [last], ["t"], name="tanh"))
        last = "t"
    if extra_relu:
        nodes.append(helper.make_node("Relu", [last], ["r"], name="relu"))
        last = "r"
    nodes.append(helper.make_node("Gemm", [last, "fc2.w"], ["y"], name="fc2", transB=1))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return sum(int(np.prod(i.dims)) for i in inits)


@pytest.fixture
def pair(tmp_path):
    old, new = tmp_path / "old.onnx", tmp_path / "new.onnx"
    p_old = mlp_onnx(old)
    p_new = mlp_onnx(new, hidden=64, extra_relu=True)
    return old, new, p_old, p_new


def test_compare_finds_added_changed_and_param_delta(pair):
    from nnviz.loaders import load
    from nnviz.passes import annotate

    old, new, p_old, p_new = pair
    r = compare(annotate(load(old)), annotate(load(new)))
    status = {c.name: c.status for c in r.changes}
    assert status == {"fc1": "changed", "fc2": "changed", "tanh": "changed", "relu": "added"}
    fc1 = next(c for c in r.changes if c.name == "fc1")
    assert (fc1.old_params, fc1.new_params) == (32 * 16 + 32, 64 * 16 + 64)
    assert fc1.old_shape == "(1, 32)" and fc1.new_shape == "(1, 64)"
    assert r.new_params - r.old_params == p_new - p_old
    assert r.counts() == {"added": 1, "removed": 0, "changed": 3, "unchanged": 0}


def test_removed_and_identical(pair, tmp_path):
    old, _, _, _ = pair
    same = tmp_path / "same.onnx"
    mlp_onnx(same)
    assert diff_models(old, same, fmt="json", output=tmp_path / "r.json") is False
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["changes"] == [] and doc["params"]["delta"] == 0
    fewer = tmp_path / "fewer.onnx"
    mlp_onnx(fewer, drop_tanh=True)
    assert diff_models(old, fewer, fmt="json", output=tmp_path / "r2.json") is True
    doc = json.loads((tmp_path / "r2.json").read_text())
    assert [(c["status"], c["name"]) for c in doc["changes"]] == [("removed", "tanh")]


def test_sequence_alignment_matches_renamed_layers():
    def chain(names: list[str], widths: list[int]) -> Graph:
        g = Graph("g")
        g.add_tensor(Tensor("x", (1, 4)))
        g.add_node(Node("in", "Input", "io", outputs=["x"]))
        prev, w_in = "x", 4
        for name, w in zip(names, widths):
            t = f"{name}_out"
            g.add_tensor(Tensor(t, (1, w)))
            g.add_node(Node(name, "Gemm", "linear", name, inputs=[prev], outputs=[t],
                            params=[Param(f"{name}.w", (w, w_in))]))
            prev, w_in = t, w
        return g

    a = chain(["a1", "a2", "a3"], [8, 8, 2])
    b = chain(["b1", "b2", "b3"], [8, 16, 2])  # renamed export, one layer wider
    r = compare(a, b)
    assert [(c.status, c.name) for c in r.changes] == [("changed", "b2"), ("changed", "b3")]
    assert r.unchanged == 1


def test_cli_markdown_and_highlighted_svg(pair, tmp_path, monkeypatch):
    old, new, _, _ = pair
    runner = CliRunner()
    res = runner.invoke(main, ["diff", str(old), str(new), "--format", "markdown"])
    assert res.exit_code == 0, res.output
    assert "| added | relu | Relu |" in res.output
    assert "1 added, 0 removed, 3 changed" in res.output
    svg = tmp_path / "diff.svg"
    res = runner.invoke(main, ["diff", str(old), str(new), "-o", str(svg)])
    assert res.exit_code == 0, res.output
    text = svg.read_text()
    assert text.count("#16a34a") >= 1  # the added Relu outlined green
    assert text.count("#ea580c") >= 3  # changed layers outlined orange
    monkeypatch.setenv("NNVIZ_DIFF_EXIT_CODE", "1")
    assert runner.invoke(main, ["diff", str(old), str(new)]).exit_code == 1
    assert runner.invoke(main, ["diff", str(old), str(old)]).exit_code == 0


def test_missing_file_is_one_line(tmp_path):
    res = CliRunner().invoke(main, ["diff", str(tmp_path / "nope.onnx"),
                                    str(tmp_path / "nope2.onnx")])
    assert res.exit_code == 1 and "nope.onnx" in res.output
    assert "Traceback" not in res.output


def test_highlight_survives_collapse():
    from test_passes import transformer_graph

    from nnviz.passes import ViewOptions, prepare

    g = transformer_graph(3)
    target = next(n for n in g.nodes.values() if n.group == ("encoder", "layer.1", "mlp"))
    target.meta["diff"] = "changed"
    view = prepare(g, ViewOptions(depth=2))
    marked = {n.name: n.meta.get("diff") for n in view.nodes.values() if n.meta.get("diff")}
    assert marked == {"encoder/layer.1": "changed"}
