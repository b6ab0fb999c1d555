"""The bench's ONNX files (bench.onnx_export.to_onnx) are valid ONNX, as a real exporter
writes them, and nnviz draws from them the graph they were written from: the same boxes,
edges and parameter total as the bench IR graph."""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx", reason="the bench's ONNX writer needs the onnx package")

import nnviz  # noqa: E402
from bench.graphs import resnet, transformer, unet  # noqa: E402
from bench.onnx_export import to_onnx  # noqa: E402
from nnviz.ir import Graph, Node  # noqa: E402


def _key(g: Graph, n: Node) -> str:
    """A node's identity across the IR and the loaded graph: inputs by name, outputs by the
    tensor they show, other nodes by the IR id the writer puts at the end of their name."""
    if n.op == "Input":
        return "in:" + n.outputs[0]
    if n.op == "Output":
        return "out:" + n.inputs[0]
    return n.id.rsplit("_", 1)[-1]


def _shape(g: Graph) -> tuple[dict[str, str], set[tuple[str, str]]]:
    keys = {k: _key(g, n) for k, n in g.nodes.items()}
    ops = {keys[k]: n.op for k, n in g.nodes.items()}
    return ops, {(keys[e.src], keys[e.dst]) for e in g.edges()}


@pytest.mark.parametrize("shared_mask", [True, False], ids=["shared_mask", "local_mask"])
def test_gpt_export_is_valid_and_draws_its_graph(tmp_path, shared_mask):
    ir = transformer(300, shared_mask=shared_mask)
    path = to_onnx(ir, tmp_path / "gpt.onnx")
    # full_check: strict shape inference over every node, and the external data file found
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path), load_external_data=False)
    assert model.opset_import[0].version >= 20  # Gelu
    produced = {o for n in model.graph.node for o in n.output}
    typed = {v.name for v in model.graph.value_info} | {v.name for v in model.graph.output}
    assert produced <= typed  # value_info for every intermediate tensor
    # the weights file holds every external initializer (the tied head's copy too)
    lengths = [int(dict((e.key, e.value) for e in t.external_data)["length"])
               for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert (tmp_path / "gpt.weights").stat().st_size == sum(lengths) > 4 * ir.total_params

    g = nnviz.load(str(path))
    ir_ops, ir_edges = _shape(ir)
    ops, edges = _shape(g)
    assert ops == ir_ops  # the same boxes: no Constant or shape node became one
    assert edges == ir_edges
    assert g.total_params == ir.total_params
    # every tensor's shape is read from the file and is the IR's (the causal-mask slice's
    # graph is exported for a fixed length 1024), except K's heads, transposed for Q @ K^T
    fixed = {} if shared_mask else {"seq": 1024}
    k_heads = {n.outputs[0] for n in ir.nodes.values() if n.name == "k_heads"}
    assert k_heads
    for t, tensor in ir.tensors.items():
        want = tuple(fixed.get(d, d) for d in tensor.shape)
        if t in k_heads:
            want = want[:-2] + want[:-3:-1]
        assert g.tensors[t].shape == want, t


@pytest.mark.parametrize("family", [resnet, unet])
def test_cnn_families_still_write_a_drawable_file(tmp_path, family):
    """The size table exports every family; the CNN ones are not valid networks as IR (so
    not valid ONNX), but their files still load as the graph they came from."""
    ir = family(120)
    g = nnviz.load(str(to_onnx(ir, tmp_path / "m.onnx")))
    assert _shape(g) == _shape(ir)
