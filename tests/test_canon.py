"""Canonical node attributes (nnviz.canon, Node.canon): each family's spellings give the same
canonical facts, real files of every family fill them with the right types, and they survive
a graph JSON round trip (an old JSON without them gets them on load)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnviz.canon import CANON, check, explicit_padding
from nnviz.ir import Graph, Node
from nnviz.loaders import load
from nnviz.loaders.canon_attrs import canonical, canonicalize

ROOT = Path(__file__).resolve().parent.parent
TFLITE = ROOT / "tests" / "fixtures" / "tflite"


def test_each_family_spelling_gives_one_canonical_conv() -> None:
    """A 3x3 stride-2 convolution with one pixel of padding, 16 outputs, as each family
    writes it."""
    onnx = canonical("Conv", "conv", {"kernel_shape": [3, 3], "strides": [2, 2],
                                      "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1},
                     "onnx")
    keras = canonical("Conv2D", "conv", {"kernel_size": [3, 3], "strides": [2, 2],
                                         "padding": "same", "dilation_rate": [1, 1],
                                         "filters": 16, "groups": 1,
                                         "data_format": "channels_last",
                                         "activation": "relu"}, "keras")
    torch = canonical("aten.conv2d", "conv", {"arg3": [2, 2], "arg4": [1, 1], "arg5": [1, 1],
                                              "arg6": 1}, "torch")
    module = canonical("Conv2d", "conv", {"kernel_size": 3, "stride": 2, "padding": 1,
                                          "out_channels": 16}, "torch")
    tflite = canonical("CONV_2D", "conv", {"stride_h": 2, "stride_w": 2, "padding": "SAME",
                                           "dilation_hfactor": 1, "dilation_wfactor": 1,
                                           "fused_activation_function": "RELU"}, "tflite")
    for c in (onnx, keras, torch, module, tflite):
        assert c["stride"] == [2, 2] and not check(c), c
    assert onnx["kernel"] == keras["kernel"] == module["kernel"] == [3, 3]
    assert onnx["padding"] == torch["padding"] == [1, 1, 1, 1]
    assert module["padding"] == [1]  # a bare int: every side
    assert keras["padding"] == tflite["padding"] == "same"
    assert onnx["groups"] == keras["groups"] == torch["groups"] == 1
    assert keras["channels_out"] == module["channels_out"] == 16
    assert keras["data_layout"] == "channels_last" and keras["weight_layout"] == "spatial_in_out"
    assert keras["activation"] == "relu" and tflite["activation"] == "relu"
    for c in (onnx, keras, torch, module, tflite):
        assert set(c) <= set(CANON)


def test_pools_and_plumbing() -> None:
    # Keras and torch pools stride by their window unless told otherwise; ONNX by 1
    assert canonical("MaxPooling2D", "pool", {"pool_size": [2, 2]}, "keras")["stride"] == [2, 2]
    assert canonical("aten.max_pool2d", "pool", {"arg1": [3, 3], "arg2": []},
                     "torch")["stride"] == [3, 3]
    assert "stride" not in canonical("MaxPool", "pool", {"kernel_shape": [2, 2]}, "onnx")
    assert canonical("Transpose", "reshape", {"perm": [0, 2, 1]}, "onnx")["perm"] == [0, 2, 1]
    assert canonical("aten.permute", "reshape", {"dims": [0, 2, 1]}, "torch")["perm"] == \
        [0, 2, 1]
    assert canonical("Permute", "reshape", {"dims": [2, 1]}, "keras")["perm"] == [0, 2, 1]
    assert canonical("aten.transpose", "reshape", {"dim0": 1, "dim1": 2},
                     "torch")["swap"] == [1, 2]
    assert canonical("Concatenate", "reshape", {}, "keras")["axis"] == -1
    assert canonical("aten.mean", "reduce", {"dim": 1, "keepdim": True}, "torch") == \
        {"axis": 1, "axes": [1], "keepdims": True}
    keras = canonical("Reshape", "reshape", {"target_shape": [4, 8]}, "keras")
    assert keras["shape"] == [4, 8] and keras["keeps_batch"]
    assert canonical("SAME_LOWER", "conv", {"auto_pad": "SAME_LOWER"}, "onnx")["padding"] == \
        "same_lower"


@pytest.mark.parametrize("padding, nsp, want", [
    (None, 2, ("explicit", [0, 0, 0, 0])), ("valid", 1, ("explicit", [0, 0])),
    ("same", 2, ("same", [])), ("same_lower", 2, ("same", [])), ("causal", 1, ("unknown", [])),
    ([1], 2, ("explicit", [1, 1, 1, 1])), ([0, 1, 2, 3], 2, ("explicit", [0, 1, 2, 3])),
    ([0, 1, 2], 2, ("unknown", [])), ("unknown", 2, ("unknown", [])),
])
def test_explicit_padding(padding, nsp, want) -> None:
    assert explicit_padding(padding, nsp) == want


def test_graph_json_keeps_canon_and_derives_it_for_old_files(tmp_path) -> None:
    graph = load(ROOT / "examples" / "resnet_block.onnx")
    saved = tmp_path / "g.json"
    saved.write_text(graph.to_json(), encoding="utf-8")
    again = load(saved)
    assert {n.id: n.canon for n in again.nodes.values()} == \
        {n.id: n.canon for n in graph.nodes.values()}
    old = json.loads(graph.to_json())
    for node in old["nodes"]:
        node.pop("canon", None)  # a graph saved before canonical attributes existed
    saved.write_text(json.dumps(old), encoding="utf-8")
    derived = load(saved)
    assert {n.id: n.canon for n in derived.nodes.values()} == \
        {n.id: n.canon for n in graph.nodes.values()}


def test_a_hand_built_graph_gets_them_from_canonicalize() -> None:
    g = Graph("g", meta={"framework": "keras"})
    g.add_node(Node("c", "Conv2D", "conv", attrs={"kernel_size": [5, 5], "strides": [1, 1]}))
    assert canonicalize(g).nodes["c"].canon["kernel"] == [5, 5]


def test_loaders_fill_canonical_attributes_of_the_right_types() -> None:
    """Every node of a real file of each family carries well-typed canonical attributes, and
    the convolutions carry the facts the passes need."""
    from nnviz.canon import check
    from nnviz.loaders import load

    examples = ROOT / "examples"
    for name in ("resnet_block.onnx", "keras_resnet_mini.keras", "torch_hybrid.pt2"):
        graph = load(examples / name)
        for node in graph.nodes.values():
            assert not check(node.canon), (name, node.id, check(node.canon))
        convs = [n for n in graph.nodes.values() if n.kind == "conv"]
        assert convs and all("stride" in n.canon or "kernel" in n.canon or n.params
                             for n in convs), name
    onnx = load(examples / "resnet_block.onnx")
    conv = next(n for n in onnx.nodes.values() if n.op == "Conv")
    assert conv.canon["kernel"] == conv.attrs["kernel_shape"]
    assert conv.canon["padding"] == conv.attrs["pads"]
    # torch module boxes carry no torch attributes: their facts come from the call inside
    # (nn.Conv2d(3, 16, 3, stride=2, padding=1) and nn.MaxPool2d(2), examples/make_torch_*)
    pt2 = load(examples / "torch_hybrid.pt2")
    stem = next(n for n in pt2.nodes.values() if n.op == "Conv2d")
    assert (stem.canon["kernel"], stem.canon["stride"], stem.canon["padding"]) == \
        ([3, 3], [2, 2], [1, 1, 1, 1])
    assert stem.canon["channels_in"] == 3
    pool = next(n for n in pt2.nodes.values() if n.op == "MaxPool2d")
    assert (pool.canon["kernel"], pool.canon["stride"]) == ([2, 2], [2, 2])


def test_tflite_canonical_attributes() -> None:
    """TFLite's stride_h / filter_height and (out, kh, kw, in) kernels, under the canon."""
    pytest.importorskip("tflite", reason="the .tflite reader needs the 'tflite' extra")
    from nnviz.loaders import load

    graph = load(TFLITE / "mobilenet_mini_float.tflite")
    dw = next(n for n in graph.nodes.values() if n.op == "DEPTHWISE_CONV_2D")
    assert dw.canon["kernel"] == [3, 3] and dw.canon["padding"] == "same"
    stem = next(n for n in graph.nodes.values() if n.op == "CONV_2D")
    assert stem.canon["stride"] == [stem.attrs["stride_h"], stem.attrs["stride_w"]] == [2, 2]
    assert stem.canon["activation"] == "relu6"
    # a depthwise kernel (1, kh, kw, channels): one kh x kw window per output element
    from nnviz.passes import annotate

    face = annotate(load(TFLITE / "face_detection_short_range.tflite"))
    dw = next(n for n in face.nodes.values() if n.op == "DEPTHWISE_CONV_2D")
    out = face.tensors[dw.outputs[0]].shape
    assert dw.canon["channels_out"] == out[-1]
    assert dw.meta["macs"] == out[0] * out[1] * out[2] * out[3] * 3 * 3
