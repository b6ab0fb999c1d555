"""TFLite flatbuffers read as data (tflite schema package, no TensorFlow).

Fixtures in tests/fixtures/tflite/ come from tools/make_tflite_fixtures.py (TensorFlow's
converter, run once) plus face_detection_short_range.tflite copied from the mediapipe 0.10.14
wheel (Apache-2.0, LICENSE-mediapipe.txt beside it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fuzz_cases import classify, cli

from nnviz.errors import ModelError
from nnviz.loaders import load_file, loader_for
from nnviz.viewer.payload import read_page

pytest.importorskip("tflite", reason="the .tflite reader needs the 'tflite' extra")

FIX = Path(__file__).resolve().parent / "fixtures" / "tflite"
INT8 = FIX / "mobilenet_mini_int8.tflite"
FLOAT = FIX / "mobilenet_mini_float.tflite"
WHILE = FIX / "while_loop.tflite"
FACE = FIX / "face_detection_short_range.tflite"
ALL = [INT8, FLOAT, WHILE, FACE]

# The MobileNet-style fixture: stem conv 3->8 (3x3, BN folded into a bias), three depthwise
# (3x3) + pointwise blocks 8->16->24->24, dense 24->10 (its zero bias dropped by the
# converter). Computed from the architecture, not read back from the file.
MOBILENET_PARAMS = (3 * 3 * 3 * 8 + 8) + (9 * 8 + 8) + (8 * 16 + 16) + (9 * 16 + 16) + \
    (16 * 24 + 24) + (9 * 24 + 24) + (24 * 24 + 24) + 24 * 10


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_routed_by_extension_and_by_identifier(path: Path, tmp_path: Path) -> None:
    assert loader_for(path).name == "tflite"
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(path.read_bytes())
    assert loader_for(renamed).name == "tflite"


def test_quantized_mobilenet() -> None:
    g = load_file(INT8)
    ops = [n.op for n in g.nodes.values()]
    assert ops.count("CONV_2D") == 4 and ops.count("DEPTHWISE_CONV_2D") == 3
    assert ops.count("FULLY_CONNECTED") == 1
    assert g.total_params == MOBILENET_PARAMS == 2096
    stem = next(n for n in g.nodes.values() if n.op == "CONV_2D")
    assert stem.attrs["stride_w"] == 2 and stem.attrs["padding"] == "SAME"
    assert stem.meta["fused"] == ["RELU6"]
    w, b = stem.params
    assert (w.shape, w.dtype, b.dtype) == ((8, 3, 3, 3), "int8", "int32")
    q = {k.split(".", 1)[1]: v for k, v in stem.attrs.items() if k.startswith("quantization.")}
    assert set(q) == {"input", "weight", "bias", "output"}
    assert re.fullmatch(r"int8: [0-9.e-]+ \* \(q [+-] \d+\)|int8: [0-9.e-]+ \* q", q["output"])
    assert any("per-channel (8 scales, axis 0)" in v for v in q.values())
    dw = next(n for n in g.nodes.values() if n.op == "DEPTHWISE_CONV_2D")
    assert dw.params[0].shape == (1, 3, 3, 8) and dw.kind == "conv"
    fc = next(n for n in g.nodes.values() if n.op == "FULLY_CONNECTED")
    assert fc.kind == "linear" and g.tensors[fc.outputs[0]].shape == ("batch", 10)
    assert g.tensors[g.inputs[0]].dtype == "int8"
    # inputs and outputs are labelled by the model's signature, as Netron labels them
    io = [(n.op, n.name) for n in g.nodes.values() if n.kind == "io"]
    assert io == [("Input", "image"), ("Output", "output_0")]


def test_quantization_is_drawn(tmp_path: Path) -> None:
    out = tmp_path / "net.svg"
    res = cli([str(INT8), "-o", str(out)])
    assert classify(res, INT8, out) == "ok"
    svg = out.read_text()
    assert "CONV_2D + RELU6" in svg and "DEPTHWISE_CONV_2D + RELU6" in svg
    assert re.search(r"int8: [0-9.e-]+ \* \(q \+ 128\)", svg)


def test_float_model_same_layers() -> None:
    a, b = load_file(INT8), load_file(FLOAT)
    assert [n.op for n in a.nodes.values()] == [n.op for n in b.nodes.values()]
    assert all(p.dtype == "float32" for n in b.nodes.values() for p in n.params
               if p.role == "param")


def test_while_and_if_subgraphs() -> None:
    g = load_file(WHILE)
    loop = next(n for n in g.nodes.values() if n.op == "WHILE")
    cond_ops = [n.op for n in g.nodes.values() if n.group[-1:] == ("cond",)]
    body_ops = [n.op for n in g.nodes.values() if n.group[-1:] == ("body",)]
    assert cond_ops == ["LESS"]
    assert "FULLY_CONNECTED" in body_ops and "ADD" in body_ops
    while_group = next(p for p in g.groups if p[-1].endswith(":while"))
    assert g.groups[while_group].op == "WHILE"
    assert g.groups[while_group + ("body",)].op == "WHILE.body"
    # the body reads the loop's operands and the WHILE op reads what the body produced
    body_fc = next(n for n in g.nodes.values() if n.op == "FULLY_CONNECTED")
    assert body_fc.inputs[0] in loop.inputs or body_fc.inputs[0] in g.inputs
    assert body_fc.outputs[0] in loop.inputs
    assert body_fc.meta["fused"] == ["RELU"]
    branches = {p[-1] for p in g.groups if p[:-1] and p[-2].endswith(":if")}
    assert branches == {"then", "else"}
    assert g.total_params == 64  # the 8x8 weight; the zero bias was folded away


def test_real_shipped_model() -> None:
    g = load_file(FACE)
    ops = {n.op for n in g.nodes.values()}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "PAD", "RESHAPE",
            "CONCATENATION"} <= ops
    assert g.tensors[g.inputs[0]].shape == (1, 128, 128, 3)
    assert 90_000 < g.total_params < 120_000
    # float16 weights reach their layers through DEQUANTIZE: storage, drawn on the layer
    assert "DEQUANTIZE" not in ops
    stem = next(n for n in g.nodes.values() if n.op == "CONV_2D")
    assert [(p.shape, p.dtype) for p in stem.params] == [((24, 5, 5, 3), "float16"),
                                                         ((24,), "float16")]
    assert stem.inputs == g.inputs


def test_stats_dequantizes(tmp_path: Path) -> None:
    from nnviz.loaders.tflite import iter_weights

    ws = {w.name: w for w in iter_weights(INT8)}
    stem = next(w for w in ws.values() if w.shape == (8, 3, 3, 3))
    assert stem.dtype == "int8 (dequantized)" and np.isfinite(stem.values).all()
    assert np.abs(stem.values).max() < 10  # real units, not raw int8 codes
    res = cli(["stats", str(FACE)])
    assert res.code == 0, res.stderr


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_summary_html_determinism(path: Path, tmp_path: Path) -> None:
    res = cli(["summary", str(path)])
    assert res.code == 0 and "Total params" in res.stdout, res.stderr
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    assert cli([str(path), "-o", str(a)]).code == 0
    assert cli([str(path), "-o", str(b)]).code == 0
    assert a.read_bytes() == b.read_bytes()
    html = tmp_path / "v.html"
    assert cli([str(path), "-o", str(html)]).code == 0
    data = json.dumps(read_page(html.read_text(encoding="utf-8")))
    assert "quantization" in data or path != INT8


def test_diff_float_vs_int8(tmp_path: Path) -> None:
    res = cli(["diff", str(FLOAT), str(INT8), "-o", str(tmp_path / "d.svg")])
    assert res.code == 0, res.stderr


def test_not_a_flatbuffer(tmp_path: Path) -> None:
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        load_file(bad)
