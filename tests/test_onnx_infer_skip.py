"""The ONNX loader skips onnx shape inference only when a prefix of the file proves it fails
(nnviz.loaders.onnx._inference_fails); the graph is the same as when it is tried."""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX loader needs the onnx package")

from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as h  # noqa: E402

import nnviz.loaders.onnx as onnx_loader  # noqa: E402


def _model(second: str, tail: int = 0):
    """X (2, 3) -> Relu -> ``second`` with one input (its schema wants two) -> Relu..."""
    x = h.make_tensor_value_info("X", TP.FLOAT, [2, 3])
    y = h.make_tensor_value_info("Y", TP.FLOAT, None)
    nodes = [h.make_node("Relu", ["X"], ["a"], name="/blk/relu"),
             h.make_node(second, ["a"], ["b0"], name="/blk/odd")]
    for i in range(tail):
        nodes.append(h.make_node("Relu", [f"b{i}"], [f"b{i + 1}"], name=f"/blk/r{i}"))
    nodes.append(h.make_node("Identity", [f"b{tail}"], ["Y"], name="/out"))
    graph = h.make_graph(nodes, "g", [x], [y])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


def _rows(model) -> list:
    return onnx_loader._Converter._init_rows(model.graph)


def _raises(model) -> bool:
    try:
        onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False,
                                          data_prop=True)
    except Exception:
        return True
    return False


def test_doomed_inference_is_proved_by_a_prefix(tmp_path, monkeypatch):
    model = _model("Reshape", tail=300)  # a Reshape without its shape input
    assert _raises(model)
    assert onnx_loader._inference_fails(model, {"": 17}, _rows(model))
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    skipped = onnx_loader.load_file(path).to_dict()
    # Trying the whole inference (it raises and is ignored) gives the same graph.
    monkeypatch.setattr(onnx_loader, "_inference_fails", lambda *a: False)
    assert onnx_loader.load_file(path).to_dict() == skipped


def test_suspect_that_infers_keeps_inference(tmp_path):
    model = _model("Div")  # a Div without its divisor: inference skips it, no error
    assert not _raises(model)
    assert not onnx_loader._inference_fails(model, {"": 17}, _rows(model))
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    g = onnx_loader.load_file(path)
    assert g.tensors["a"].shape == (2, 3)  # from onnx's inference, which ran


def test_valid_model_has_no_suspects():
    model = _model("Add")  # Add with one input is a suspect; a valid graph is not
    x = model.graph.node[1]
    x.input.append("a")
    assert not _raises(model)
    assert not onnx_loader._inference_fails(model, {"": 17}, _rows(model))
