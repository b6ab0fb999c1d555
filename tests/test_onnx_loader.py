"""The ONNX loader on real graphs built with onnx.helper (and the shipped examples)."""

from __future__ import annotations

import builtins
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from nnviz.errors import ModelError  # noqa: E402
from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders import load  # noqa: E402
from nnviz.loaders.onnx import convert, load_file, load_model_proto  # noqa: E402
from nnviz.loaders.onnx_wire import KEEP_DATA_BYTES, read_stripped  # noqa: E402

OPSET = [helper.make_opsetid("", 17)]


def vi(name: str, shape: list | None, elem: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def weight(name: str, *shape: int) -> onnx.TensorProto:
    rng = np.random.RandomState(len(name))
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def model(nodes, inputs, outputs, inits=(), functions=(), opsets=OPSET) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=list(opsets), functions=list(functions))
    # The checker wants every graph output typed with a shape; unknown ones are tested too.
    if all(o.type.tensor_type.HasField("shape") for o in outputs):
        onnx.checker.check_model(m)
    return m


def by_op(g: Graph, op: str) -> list:
    return [n for n in g.nodes.values() if n.op == op]


def mlp_with_big_weights() -> onnx.ModelProto:
    # 64x64 float32 = 16 KiB, far above KEEP_DATA_BYTES: exercises the payload-skipping path.
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h"], name="/enc/fc1/MatMul"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="/enc/fc1/Add"),
        helper.make_node("Relu", ["hb"], ["r"], name="/enc/act/Relu"),
        helper.make_node("Reshape", ["r", "shape"], ["rs"], name="/enc/Reshape"),
        helper.make_node("MatMul", ["rs", "W2"], ["y"], name="/head/MatMul"),
    ]
    inits = [weight("W1", 64, 64), weight("b1", 64), weight("W2", 64, 10),
             numpy_helper.from_array(np.array([-1, 64], np.int64), "shape")]
    return model(nodes, [vi("x", ["batch", 64])], [vi("y", ["batch", 10])], inits)


# ---- the shipped examples ----------------------------------------------------------------

def test_resnet_example_kinds_groups_and_params(examples_dir):
    g = load(examples_dir / "resnet_block.onnx")
    assert g.meta["framework"] == "onnx" and g.meta["opset"] == 17
    assert g.meta["producer"] == "nnviz-examples 1"
    assert g.meta["file"].endswith("resnet_block.onnx")
    kinds = {n.op: n.kind for n in g.nodes.values()}
    assert kinds["Conv"] == "conv" and kinds["BatchNormalization"] == "norm"
    assert kinds["Relu"] == "activation" and kinds["MaxPool"] == "pool"
    assert kinds["Gemm"] == "linear" and kinds["Input"] == kinds["Output"] == "io"
    # Initializers are params of their consumers, never boxes; counts match the file's
    # weights. BatchNorm's running statistics are buffers (as PyTorch calls them).
    m = onnx.load(examples_dir / "resnet_block.onnx")
    stats = {n.input[i] for n in m.graph.node if n.op_type == "BatchNormalization"
             for i in (3, 4)}
    expected = sum(int(np.prod(t.dims)) for t in m.graph.initializer if t.name not in stats)
    assert g.total_params == expected
    bn = g.nodes["/stem/bn/BatchNormalization"]
    assert [p.role for p in bn.params] == ["param", "param", "buffer", "buffer"]
    conv = g.nodes["/layer1/block0/conv1/conv/Conv"]
    assert conv.param_count == 16 * 16 * 3 * 3
    assert conv.group == ("layer1", "block0", "conv1", "conv")
    for i in range(1, len(conv.group) + 1):
        assert conv.group[:i] in g.groups
    # The residual Add joins the block's two paths.
    add = g.nodes["/layer1/block0/Add"]
    assert len(add.inputs) == 2
    assert g.tensors[g.nodes["/head/fc/Gemm"].outputs[0]].shape == ("batch", 10)
    assert g.tensors[g.nodes["/head/pool/GlobalAveragePool"].outputs[0]].shape == \
        ("batch", 32, 1, 1)


def test_transformer_example_scopes_constants_and_shapes(examples_dir):
    g = load(examples_dir / "transformer_block.onnx")
    assert not by_op(g, "Constant"), "Constant nodes must not be boxes"
    q = g.nodes["/encoder/layer.0/attn/q_proj/MatMul"]
    assert q.group == ("encoder", "layer.0", "attn", "q_proj")
    assert [p.name for p in q.params] == ["encoder.layer.0.attn.q_proj.weight"]
    # Reshape's shape initializer is an operator argument (attrs), not a weight.
    reshape = g.nodes["/encoder/layer.0/attn/Reshape"]
    assert reshape.attrs["shape"] == [0, 0, 4, 8] and reshape.params == []
    assert g.tensors[reshape.outputs[0]].shape == ("batch", "seq", 4, 8)
    # A scalar Constant node (1/sqrt(d)) is recorded on its consumer.
    div = g.nodes["/encoder/layer.0/attn/Div"]
    assert div.attrs["B"] == pytest.approx(np.sqrt(8), rel=1e-6)
    scores = g.tensors[g.nodes["/encoder/layer.0/attn/Softmax"].outputs[0]]
    assert scores.shape == ("batch", 4, "seq", "seq")
    assert g.nodes["/encoder/layer.0/ln_1/LayerNormalization"].attrs["epsilon"] == 1e-5
    g12 = load(examples_dir / "transformer12.onnx")
    layers = {n.group[1] for n in g12.nodes.values() if n.group[:1] == ("encoder",)}
    assert layers == {f"layer.{i}" for i in range(12)}


# ---- lazy reading ------------------------------------------------------------------------

def test_lazy_read_equals_onnx_parse(tmp_path):
    m = mlp_with_big_weights()
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    lazy = load_file(path)
    full = convert(onnx.load(path), file=str(path), name="m")
    assert lazy.to_dict() == full.to_dict()
    assert lazy.nodes["/enc/fc1/MatMul"].params[0].shape == (64, 64)
    assert lazy.tensors["y"].shape == ("batch", 10)
    assert lazy.nodes["/enc/Reshape"].attrs["shape"] == [-1, 64]
    # The stripped copy really dropped the big payloads but kept the small shape argument.
    stripped = onnx.ModelProto.FromString(read_stripped(path))
    inits = {t.name: t for t in stripped.graph.initializer}
    assert not inits["W1"].raw_data and list(inits["W1"].dims) == [64, 64]
    assert numpy_helper.to_array(inits["shape"]).tolist() == [-1, 64]
    assert len(read_stripped(path)) < 64 * 64 * 4 < path.stat().st_size
    assert KEEP_DATA_BYTES < 64 * 64 * 4


def test_lazy_read_strips_subgraph_and_constant_payloads(tmp_path):
    big = numpy_helper.from_array(np.ones((32, 32), np.float32), "value")
    then_g = helper.make_graph(
        [helper.make_node("Constant", [], ["k"], value=big),
         helper.make_node("MatMul", ["x", "k"], ["y"], name="mm")],
        "then", [], [vi("y", [32, 32])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "else", [],
                               [vi("y", [32, 32])])
    m = model([helper.make_node("If", ["c"], ["out"], name="/cf/If", then_branch=then_g,
                                else_branch=else_g)],
              [vi("c", [], TensorProto.BOOL), vi("x", [32, 32])], [vi("out", [32, 32])])
    path = tmp_path / "if.onnx"
    onnx.save(m, path)
    assert len(read_stripped(path)) < 32 * 32 * 4
    lazy, full = load_file(path), convert(onnx.load(path), file=str(path), name="if")
    assert lazy.to_dict() == full.to_dict()
    mm = lazy.nodes["/cf/If/then_branch/mm"]
    assert mm.params[0].shape == (32, 32) and mm.param_count == 1024


def test_external_data_file_is_never_opened(tmp_path, monkeypatch):
    m = mlp_with_big_weights()
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    data = tmp_path / "weights.bin"
    assert data.stat().st_size >= 64 * 64 * 4
    # Put a directory where the data file was: opening it would fail loudly...
    data.unlink()
    data.mkdir()
    # ... and record every file Python opens.
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, *a, **k):
        opened.append(os.fspath(file) if not isinstance(file, int) else str(file))
        return real_open(file, *a, **k)

    def spy_os_open(file, *a, **k):
        opened.append(os.fspath(file))
        return real_os_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    g = load(path)
    monkeypatch.undo()
    assert not [p for p in opened if "weights.bin" in p]
    mm = g.nodes["/enc/fc1/MatMul"]
    assert mm.params[0].shape == (64, 64) and mm.params[0].dtype == "float32"
    # The int64 Reshape target (its value external too) is a constant, not a weight.
    assert g.total_params == 64 * 64 + 64 + 64 * 10
    assert g.tensors["hb"].shape == ("batch", 64)
    # A live proto with external data not loaded works the same way.
    live = onnx.load(path, load_external_data=False)
    assert load_model_proto(live).nodes["/head/MatMul"].param_count == 640


# ---- structure -----------------------------------------------------------------------------

def test_if_subgraphs_become_groups_with_captured_edges():
    then_g = helper.make_graph([helper.make_node("Add", ["r", "r"], ["y"], name="add")], "then",
                               [], [vi("y", [2, 3])])
    else_g = helper.make_graph([helper.make_node("Neg", ["r"], ["y"])], "else", [],
                               [vi("y", [2, 3])])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="/pre/Relu"),
        helper.make_node("ReduceSum", ["r"], ["s"], keepdims=0, name="/pre/ReduceSum"),
        helper.make_node("Greater", ["s", "zero"], ["c"], name="/pre/Greater"),
        helper.make_node("If", ["c"], ["out"], name="/blk/If", then_branch=then_g,
                         else_branch=else_g),
    ]
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    g = load_model_proto(model(nodes, [vi("x", [2, 3])], [vi("out", [2, 3])], [zero]))
    cf = g.nodes["/blk/If"]
    assert cf.group == ("blk", "If") and g.groups[("blk", "If")].op == "If"
    then_path, else_path = ("blk", "If", "then_branch"), ("blk", "If", "else_branch")
    assert g.groups[then_path].op == "If.then_branch"
    add = g.nodes["/blk/If/then_branch/add"]
    neg = [n for n in g.nodes.values() if n.op == "Neg"][0]
    assert add.group == then_path and neg.group == else_path
    # Both branches name their output "y": the ids stay distinct.
    assert add.outputs != neg.outputs
    edges = {(e.src, e.dst) for e in g.edges()}
    assert ("/pre/Relu", add.id) in edges and ("/pre/Relu", neg.id) in edges  # captured r
    assert (add.id, cf.id) in edges and (neg.id, cf.id) in edges
    assert ("/pre/Greater", cf.id) in edges
    assert g.tensors[add.outputs[0]].shape == (2, 3)
    assert sorted(cf.meta["subgraphs"]) == sorted([list(then_path), list(else_path)])
    order = g.topological_order()
    assert order.index(add.id) < order.index(cf.id) < order.index("output:out")


def test_loop_body_inputs_and_outputs():
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "x"], ["acc_out"], name="/step/Add"),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("acc", [2, 3])],
        [vi("cond_out", [], TensorProto.BOOL), vi("acc_out", [2, 3])])
    m = model([helper.make_node("Loop", ["M", "", "x"], ["res"], body=body)],
              [vi("x", [2, 3])], [vi("res", [2, 3])],
              [numpy_helper.from_array(np.array(3, np.int64), "M")])
    g = load_model_proto(m)
    loop = g.nodes["Loop"]
    assert loop.attrs["M"] == 3 and loop.kind == "recurrent"
    body_nodes = [n for n in g.nodes.values() if n.group[:2] == ("Loop", "body")]
    ops = sorted(n.op for n in body_nodes)
    # The unused iteration counter gets no box; the used formal inputs do.
    assert ops == ["Add", "Identity", "Input", "Input"]
    add = [n for n in body_nodes if n.op == "Add"][0]
    assert add.group == ("Loop", "body", "step")
    edges = {(e.src, e.dst) for e in g.edges()}
    assert ("input:x", add.id) in edges and (add.id, "Loop") in edges


def test_model_local_functions_are_inlined_as_groups():
    alpha = onnx.AttributeProto()
    alpha.name, alpha.ref_attr_name, alpha.type = "alpha", "slope", onnx.AttributeProto.FLOAT
    act = helper.make_node("LeakyRelu", ["t"], ["y"], name="act")
    act.attribute.append(alpha)
    fn = helper.make_function("custom", "Block", ["x", "w"], ["y"],
                              [helper.make_node("MatMul", ["x", "w"], ["t"], name="mm"), act],
                              OPSET, attributes=["slope"])
    nodes = [helper.make_node("Block", ["x", "W1"], ["a"], domain="custom", name="/enc/blk1",
                              slope=0.1),
             helper.make_node("Block", ["a", "W2"], ["b"], domain="custom", slope=0.2)]
    m = model(nodes, [vi("x", ["N", 8])], [vi("b", ["N", 4])],
              [weight("W1", 8, 8), weight("W2", 8, 4)], functions=[fn],
              opsets=OPSET + [helper.make_opsetid("custom", 1)])
    g = load_model_proto(m)
    assert not by_op(g, "Block")
    assert g.groups[("enc", "blk1")].op == "custom.Block"
    assert g.groups[("Block",)].op == "custom.Block"
    mm1, act1 = g.nodes["/enc/blk1/mm"], g.nodes["/enc/blk1/act"]
    assert mm1.group == act1.group == ("enc", "blk1")
    assert act1.attrs["alpha"] == pytest.approx(0.1)
    assert [p.name for p in mm1.params] == ["W1"]
    mm2, act2 = g.nodes["/Block/mm"], g.nodes["/Block/act"]
    assert act2.attrs["alpha"] == pytest.approx(0.2) and mm2.inputs == ["a"]
    # Shapes inside the function body come from inference on the inlined graph.
    assert g.tensors[mm1.outputs[0]].shape == ("N", 8)
    assert g.tensors[mm2.outputs[0]].shape == ("N", 4)
    assert g.total_params == 64 + 32


def test_unnamed_and_duplicate_names_get_unique_deterministic_ids():
    nodes = [helper.make_node("Relu", ["x"], ["a"]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["c"], name="same"),
             helper.make_node("Tanh", ["c"], ["d"], name="same"),
             helper.make_node("Relu", ["d"], ["e"], name="")]
    m = model(nodes, [vi("x", [1, 4])], [vi("e", [1, 4])])
    g1, g2 = load_model_proto(m), load_model_proto(m)
    ids = [n.id for n in g1.nodes.values()]
    assert len(ids) == len(set(ids)) == 7
    assert ids == [n.id for n in g2.nodes.values()]
    assert [n.op for n in g1.nodes.values()][1:-1] == ["Relu", "Relu", "Sigmoid", "Tanh", "Relu"]
    # The chain is intact: every node but the input has a predecessor.
    pred = g1.predecessors()
    assert all(pred[n] for n in ids[1:])


def test_symbolic_shapes_and_inference_failure(monkeypatch):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0], name="/a/Transpose"),
             helper.make_node("Relu", ["t"], ["y"], name="/a/Relu")]
    m = model(nodes, [vi("x", ["batch", "seq"])], [vi("y", None)])
    g = load_model_proto(m)
    assert g.tensors["x"].shape == ("batch", "seq")
    assert g.tensors["t"].shape == ("seq", "batch")
    assert g.tensors["y"].shape == ("seq", "batch")
    # A dim with neither value nor name stays unknown rather than becoming 0.
    m.graph.input[0].type.tensor_type.shape.dim[1].Clear()
    assert load_model_proto(m).tensors["x"].shape == ("batch", None)

    def broken(*a, **k):
        raise onnx.shape_inference.InferenceError("boom")

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes", broken)
    g = load_model_proto(m)
    assert g.tensors["t"].shape is None and g.tensors["x"].shape == ("batch", None)
    assert len(g.nodes) == 4


def test_custom_ops_and_shared_weights():
    nodes = [helper.make_node("Identity", ["W"], ["W_tied"], name="/tie/Identity"),
             helper.make_node("MatMul", ["x", "W"], ["a"], name="/enc/MatMul"),
             helper.make_node("FancyOp", ["a"], ["b"], domain="com.example", name="/enc/Fancy"),
             helper.make_node("MatMul", ["b", "W_tied"], ["y"], name="/dec/MatMul")]
    m = model(nodes, [vi("x", [2, 8])], [vi("y", None)], [weight("W", 8, 8)],
              opsets=OPSET + [helper.make_opsetid("com.example", 1)])
    g = load_model_proto(m)
    assert "/tie/Identity" not in g.nodes  # an alias of a weight is not a box
    assert g.nodes["/dec/MatMul"].params[0].name == "W"  # the tied weight is the same param
    assert g.total_params == 64  # counted once
    fancy = g.nodes["/enc/Fancy"]
    assert fancy.meta["domain"] == "com.example" and fancy.kind == "other"
    assert g.tensors["b"].shape is None  # unknown op: unknown shape, no error


def test_json_round_trip(examples_dir):
    g = load(examples_dir / "transformer_block.onnx")
    text = g.to_json()

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(text, parse_constant=no_constants)
    back = Graph.from_dict(data)
    assert back.to_dict() == g.to_dict()
    assert back.total_params == g.total_params
    assert load(examples_dir / "transformer_block.onnx").to_json() == text  # deterministic


def test_non_finite_attributes_stay_valid_json():
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="/c/Clip")]
    inits = [numpy_helper.from_array(np.array(-np.inf, np.float32), "lo"),
             numpy_helper.from_array(np.array(np.inf, np.float32), "hi")]
    g = load_model_proto(model(nodes, [vi("x", [3])], [vi("y", [3])], inits))
    assert g.nodes["/c/Clip"].attrs == {"min": "-inf", "max": "inf"}
    json.loads(g.to_json(), parse_constant=lambda c: pytest.fail(c))


# ---- damaged files -------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"",
    b"this is not a protobuf at all\n",
    b"\x08\x08\x3a\xff\xff\xff\xff\x0f",  # ir_version, then a graph field longer than the file
    bytes(range(256)) * 4,
])
def test_damaged_files_raise_one_sentence(tmp_path, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_truncated_examples_raise(tmp_path, examples_dir):
    data = (examples_dir / "resnet_block.onnx").read_bytes()
    for cut in (1, 7, len(data) // 3, len(data) - 5):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError):
            load(path)


# ---- a real exporter -----------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch-internal deprecations
def test_torch_dynamo_export_scopes(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = torch.nn.LayerNorm(8)
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            return x + torch.relu(self.fc(self.norm(x)))

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList([Block(), Block()])
            self.head = torch.nn.Linear(8, 3)

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.head(x)

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():  # distinct values: the exporter dedups identical initializers
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    path = tmp_path / "net.onnx"
    try:
        torch.onnx.export(net, (torch.randn(2, 8),), str(path), dynamo=True, verbose=False)
    except Exception as exc:  # the exporter's own environment problems are not ours to test
        pytest.skip(f"torch.onnx.export(dynamo=True) unavailable: {type(exc).__name__}")
    g = load(path)
    assert g.groups[("layers.1",)].op == "Block"
    assert g.groups[("layers.1", "fc")].op == "Linear"
    assert g.groups[("layers.0", "norm")].op == "LayerNorm"
    norms = by_op(g, "LayerNormalization")
    assert [n.group for n in norms] == [("layers.0", "norm"), ("layers.1", "norm")]
    assert g.total_params == sum(p.numel() for p in net.parameters())
    out = g.tensors[g.outputs[0]]
    assert out.shape == (2, 3)


def test_complete_value_info_skips_shape_inference(monkeypatch):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/b/Relu"),
             helper.make_node("Sigmoid", ["a"], ["y"], name="/b/Sigmoid")]
    m = model(nodes, [vi("x", ["n", 4])], [vi("y", ["n", 4])])
    calls = []
    real = onnx.shape_inference.infer_shapes
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    assert load_model_proto(m).tensors["a"].shape == ("n", 4)  # inferred
    assert calls == [1]
    m.graph.value_info.append(vi("a", ["n", 4]))
    assert load_model_proto(m).tensors["a"].shape == ("n", 4)  # from value_info alone
    assert calls == [1]


def test_non_utf8_names_are_a_damaged_file(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="NAMEMARK")]
    data = model(nodes, [vi("x", [2])], [vi("y", [2])]).SerializeToString()
    path = tmp_path / "bad_text.onnx"
    path.write_bytes(data.replace(b"NAMEMARK", b"NAME\xff\xfeRK"))
    with pytest.raises(ModelError, match="not UTF-8"):
        load_file(path)


def test_random_byte_damage_never_escapes_as_a_crash(tmp_path, examples_dir):
    import random

    data = (examples_dir / "mlp.onnx").read_bytes()
    rng = random.Random(7)
    path = tmp_path / "flipped.onnx"
    for _ in range(300):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            g = load_file(path)
        except ModelError as exc:
            assert "\n" not in str(exc)
        else:
            g.to_json()  # whatever loaded is a usable graph


def test_scan_body_and_sparse_initializer():
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "xi"], ["s2"]), helper.make_node("Identity", ["s2"],
                                                                        ["yi"])],
        "body", [vi("s", [3]), vi("xi", [3])], [vi("s2", [3]), vi("yi", [3])])
    scan = helper.make_node("Scan", ["init", "xs"], ["fin", "ys"], num_scan_inputs=1, body=body,
                            name="/rnn/Scan")
    g = load_model_proto(model([scan], [vi("init", [3]), vi("xs", [5, 3])],
                               [vi("fin", [3]), vi("ys", [5, 3])]))
    node = g.nodes["/rnn/Scan"]
    assert node.attrs["num_scan_inputs"] == 1
    assert [g.tensors[t].shape for t in node.outputs] == [(3,), (5, 3)]
    body_ops = sorted(n.op for n in g.nodes.values() if n.group == ("rnn", "Scan", "body"))
    assert body_ops == ["Add", "Identity", "Input", "Input"]

    values = numpy_helper.from_array(np.array([1.0, 2.0, 3.0], np.float32), "S")
    indices = numpy_helper.from_array(np.array([0, 5, 9], np.int64), "S_idx")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "S"], ["y"], name="/a/MatMul")],
                              "g", [vi("x", [2, 4])], [vi("y", [2, 4])])
    graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4, 4]))
    g = load_model_proto(helper.make_model(graph, opset_imports=OPSET))
    mm = g.nodes["/a/MatMul"]
    assert mm.inputs == ["x"] and mm.params[0].shape == (4, 4)
    assert g.tensors["y"].shape == (2, 4)


def test_big_live_model_converts_from_a_light_copy(monkeypatch):
    import nnviz.loaders.onnx as onnx_loader

    m = mlp_with_big_weights()
    full = convert(m)
    monkeypatch.setattr(onnx_loader, "_LIGHT_COPY_BYTES", 1000)
    light = onnx_loader._light_copy(m)
    assert light.ByteSize() < 4096 < m.ByteSize()
    assert load_model_proto(m).to_dict() == full.to_dict()
    assert m.graph.initializer[0].raw_data  # the caller's model is untouched


def test_function_calls_mixed_with_plain_nodes_and_caller_model_untouched():
    fn = helper.make_function("custom", "Block", ["x"], ["y"],
                              [helper.make_node("Relu", ["x"], ["y"], name="r")], OPSET)
    nodes = [helper.make_node("Sigmoid", ["x"], ["a"], name="/pre/Sig"),
             helper.make_node("Block", ["a"], ["b"], domain="custom", name="/blk"),
             helper.make_node("Tanh", ["b"], ["c"], name="/post/Tanh")]
    m = model(nodes, [vi("x", [2])], [vi("c", [2])], functions=[fn],
              opsets=OPSET + [helper.make_opsetid("custom", 1)])
    before = m.SerializeToString()
    g = load_model_proto(m)
    assert [(n.id, n.inputs, n.outputs) for n in g.nodes.values()] == [
        ("input:x", [], ["x"]), ("/pre/Sig", ["x"], ["a"]), ("/blk/r", ["a"], ["b"]),
        ("/post/Tanh", ["b"], ["c"]), ("output:c", ["c"], [])]
    assert m.SerializeToString() == before


# ---- nodes of equal attributes ---------------------------------------------------------

def test_equal_attributes_decoded_once_yet_each_node_owns_its_values():
    """Nodes whose attributes have the same bytes share one decoding (the loader's template
    cache), but each node gets its own attrs and canon: editing one node leaves the others
    as the file says. Canonical attributes are those canon_attrs computes from the node's
    final attrs (template plus small constant arguments such as Reshape's shape)."""
    from nnviz.loaders.canon_attrs import canonical

    nodes = []
    prev = "x"
    for i in range(3):
        nodes += [
            helper.make_node("Transpose", [prev], [f"t{i}"], name=f"/b{i}/T", perm=[0, 2, 1]),
            helper.make_node("Reshape", [f"t{i}", "shape"], [f"r{i}"], name=f"/b{i}/R"),
            helper.make_node("Reshape", [f"r{i}", "shape2"], [f"s{i}"], name=f"/b{i}/S"),
            helper.make_node("Softmax", [f"s{i}"], [f"y{i}"], name=f"/b{i}/Softmax", axis=-1),
        ]
        prev = f"y{i}"
    inits = [numpy_helper.from_array(np.array([1, 12], np.int64), "shape"),
             numpy_helper.from_array(np.array([1, 3, 4], np.int64), "shape2")]
    g = convert(model(nodes, [vi("x", [1, 3, 4])], [vi(prev, [1, 3, 4])], inits))
    trans = by_op(g, "Transpose")
    assert [n.attrs for n in trans] == [{"perm": [0, 2, 1]}] * 3
    assert trans[0].attrs["perm"] is not trans[1].attrs["perm"]
    trans[0].attrs["perm"].reverse()
    trans[0].canon["perm"].append(9)
    assert trans[1].attrs == {"perm": [0, 2, 1]} and trans[1].canon == {"perm": [0, 2, 1]}
    reshapes = {n.name: n for n in by_op(g, "Reshape")}
    assert reshapes["/b1/R"].canon["shape"] == [1, 12]
    assert reshapes["/b1/S"].canon["shape"] == [1, 3, 4]  # another constant: another canon
    for n in g.nodes.values():
        if n is not trans[0]:
            assert n.canon == canonical(n.op, n.kind, n.attrs, "onnx"), n.name


# ---- what a load reads without importing onnx ------------------------------------------

def test_schema_table_names_inputs_as_onnx_defs_does():
    """The generated table (tools/gen_onnx_schemas.py) answers the loader's question, the
    input names of an op at an opset, exactly as onnx.defs.get_schema, for every standard
    op at every opset the installed onnx knows (regenerate the table when this fails)."""
    from onnx import defs

    from nnviz.loaders.onnx import _Converter
    from nnviz.loaders.onnx_schemas import INPUTS, OPSET

    assert OPSET == defs.onnx_opset_version()
    ops = sorted({s.name for s in defs.get_all_schemas_with_history() if s.domain == ""})
    assert set(INPUTS) == set(ops)
    for version in (None, *range(1, OPSET + 1)):
        conv = _Converter(Graph(name="t"), {"": version} if version else {}, {})
        for op in ops:
            try:
                kw = {"max_inclusive_version": version} if version else {}
                want = [i.name for i in defs.get_schema(op, domain="", **kw).inputs]
            except Exception:
                want = None
            assert conv._input_names(op, "") == want, (op, version)


def test_small_values_read_without_numpy_equal_numpy_helper(monkeypatch):
    """Small constants (Reshape's shape, a Div's scalar) are read with struct; each equals
    what the loader's numpy_helper route makes of it."""
    from nnviz.loaders import onnx as onnx_loader
    from nnviz.loaders.onnx import _plain_value, _small_value

    def by_numpy(t):
        with monkeypatch.context() as m:
            m.setattr(onnx_loader, "_plain_value", lambda t, n: None)
            return _small_value(t)

    rng = np.random.RandomState(0)
    arrays = [np.array(3, np.int64), np.array([-1, 64, 0], np.int64), np.array([], np.int64),
              np.array(2.5, np.float32), np.array([1e-5, -0.0, np.inf, np.nan], np.float32),
              rng.standard_normal(64).astype(np.float32), np.array(7, np.int32),
              rng.randint(-2**31, 2**31 - 1, 10).astype(np.int32),
              rng.standard_normal(3).astype(np.float64)]
    plain = 0
    for arr in arrays:
        for raw in (True, False):
            t = numpy_helper.from_array(arr, "c")
            if not raw:  # the typed field instead of raw_data
                t = helper.make_tensor("c", t.data_type, arr.shape, arr.flatten().tolist())
            want = by_numpy(t)
            got = _small_value(t)
            assert repr(got) == repr(want), (arr, raw)  # repr: 1 and 1.0 differ
            assert arr.size == 0 or want is not None
            plain += _plain_value(t, max(arr.size, 1) if arr.ndim else 1) is not None
    assert plain >= 16  # the struct route was taken, not only numpy's
    # a damaged payload (too few bytes) is left to numpy_helper, which refuses it
    t = numpy_helper.from_array(np.array([1, 2], np.int64), "c")
    t.raw_data = t.raw_data[:12]
    assert _plain_value(t, 2) is None and _small_value(t) is None


def test_loading_a_file_does_not_import_onnx_or_numpy(tmp_path):
    """An ONNX file whose value_info is complete loads with onnx's generated protobuf
    classes alone: no `import onnx` (numpy, helpers: a quarter second), same graph."""
    import subprocess
    import sys

    path = tmp_path / "m.onnx"
    m = mlp_with_big_weights()
    m = onnx.shape_inference.infer_shapes(m)
    onnx.save(m, path)
    code = ("import sys, nnviz; g = nnviz.load(sys.argv[1]); "
            "print(sorted(m for m in ('onnx', 'numpy') if m in sys.modules)); "
            "print(g.to_json())")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, env={**os.environ}).stdout.splitlines()
    assert out[0] == "[]"
    assert out[1] == load_file(path).to_json()  # this process has onnx imported


def test_paused_gc_promotes_what_a_load_builds_without_a_scan():
    """A loaded graph's objects go to the oldest generation as the block ends (no young
    collection scans them first); objects the program froze itself stay frozen."""
    import gc

    from nnviz.util import paused_gc

    assert gc.isenabled() and gc.get_freeze_count() == 0
    scans: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            scans.append(info["generation"])

    gc.callbacks.append(count)
    try:
        with paused_gc(promote=True):
            built = [[i] for i in range(5000)]
        assert gc.isenabled()
        oldest = {id(o) for o in gc.get_objects(generation=2)}
        assert all(id(x) in oldest for x in built) and not scans
    finally:
        gc.callbacks.remove(count)
    kept = [[1]]
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with paused_gc(promote=True):
            more = [[i] for i in range(100)]
        assert gc.get_freeze_count() == frozen and gc.isenabled() and more and kept
    finally:
        gc.unfreeze()
