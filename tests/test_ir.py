"""The IR contract: edges derived from tensors, topological order, JSON round trip."""

import json

from nnviz.ir import Graph, Node, Param, Tensor, format_shape, shape_numel
from nnviz.kinds import kind_for


def small_graph() -> Graph:
    g = Graph("g")
    for tid, shape in (("x", (1, 4)), ("h", (1, 8)), ("y", (1, 8)), ("z", (1, 8))):
        g.add_tensor(Tensor(tid, shape, "float32"))
    g.add_node(Node("in", "Input", "io", outputs=["x"]))
    g.add_node(Node("fc", "Gemm", "linear", "fc1", inputs=["x"], outputs=["h"],
                    params=[Param("W", (8, 4), "float32"), Param("b", (8,), "float32")],
                    group=("enc", "block")))
    g.add_node(Node("act", "Relu", "activation", inputs=["h"], outputs=["y"]))
    g.add_node(Node("add", "Add", "elementwise", inputs=["y", "h"], outputs=["z"]))
    g.add_node(Node("out", "Output", "io", inputs=["z"]))
    g.ensure_group(("enc", "block"), op="Block")
    g.inputs, g.outputs = ["x"], ["z"]
    return g


def test_edges_follow_tensors():
    g = small_graph()
    edges = {(e.src, e.dst, e.tensor) for e in g.edges()}
    assert edges == {("in", "fc", "x"), ("fc", "act", "h"), ("act", "add", "y"),
                     ("fc", "add", "h"), ("add", "out", "z")}
    assert g.successors()["fc"] == ["act", "add"]
    assert g.predecessors()["add"] == ["act", "fc"]  # in input order


def test_topological_order_and_cycles():
    g = small_graph()
    order = g.topological_order()
    assert order.index("fc") < order.index("act") < order.index("add") < order.index("out")
    # A cycle (bad file) never makes ordering fail: every node still appears once.
    g.nodes["fc"].inputs.append("z")
    order = g.topological_order()
    assert sorted(order) == sorted(g.nodes)


def test_params_counted_from_shapes_and_shared_once():
    g = small_graph()
    assert g.nodes["fc"].param_count == 40
    g.add_node(Node("fc2", "Gemm", "linear", inputs=["z"], outputs=["w"],
                    params=[Param("W", (8, 4), "float32")]))
    assert g.total_params == 40  # the shared W is counted once
    assert Param("p", ("batch", 3)).count is None
    assert Param("p", (2, 3), "float16").nbytes == 12


def test_json_round_trip_is_exact():
    g = small_graph()
    text = g.to_json()
    g2 = Graph.from_json(text)
    assert g2.to_json() == text
    assert g2.groups[("enc", "block")].op == "Block"
    assert g2.nodes["fc"].group == ("enc", "block")
    json.loads(text)


def test_unique_ids_and_shapes():
    g = small_graph()
    assert g.unique_node_id("fc") == "fc_1"
    assert g.unique_node_id("new") == "new"
    assert shape_numel((2, 3, 4)) == 24 and shape_numel((2, "n")) is None
    assert format_shape(("batch", 3, None)) == "(batch, 3, ?)"


def test_kinds_agree_across_frameworks():
    for ops, kind in ((("Conv", "Conv2d", "Conv2D", "aten.convolution.default"), "conv"),
                      (("Gemm", "Linear", "Dense", "aten.linear.default"), "linear"),
                      (("BatchNormalization", "BatchNorm2d",
                        "aten._native_batch_norm_legit_no_training.default"), "norm"),
                      (("Relu", "ReLU", "aten.relu.default"), "activation"),
                      (("MaxPool", "MaxPool2d", "MaxPooling2D", "aten.max_pool2d.default"), "pool"),
                      (("Flatten", "aten.flatten.using_ints", "Reshape"), "reshape"),
                      (("LSTM", "GRU"), "recurrent"),
                      (("Add", "aten.add.Tensor"), "elementwise")):
        for op in ops:
            assert kind_for(op) == kind, op
