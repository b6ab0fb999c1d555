"""PyTorch counting convention on every live route (torch.export, torch.fx, forward hooks):
the total is ``sum(p.numel() for p in model.parameters())``; buffers (BatchNorm running
stats, counters, masks, persistent or not) are ``Param(role="buffer")`` listed apart; frozen
parameters are parameters with ``trainable=False``."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the PyTorch loader needs the torch extra")

from torch_real_models import (  # noqa: E402
    RESNET18_BUFFERS,
    RESNET18_PARAMS,
    CausalEncoder,
    buffer_count,
    param_count,
    resnet18,
)

from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders.torch import load_object  # noqa: E402
from nnviz.passes import annotate  # noqa: E402
from nnviz.reports.summary import totals  # noqa: E402

CAPTURES = ["export", "fx", "hooks"]


def role_total(graph: Graph, role: str) -> int:
    seen: dict[str, int] = {}
    for node in graph.nodes.values():
        for p in node.params:
            if p.role == role:
                seen.setdefault(p.name, p.count or 0)
    return sum(seen.values())


@pytest.fixture(scope="module")
def resnet18_meta():
    # On the meta device: the real ResNet-18 sizes without allocating its weights.
    with torch.device("meta"):
        return resnet18().eval()


@pytest.mark.parametrize("capture", CAPTURES)
def test_resnet18_counts_like_pytorch(resnet18_meta, capture):
    model = resnet18_meta
    assert param_count(model) == RESNET18_PARAMS and buffer_count(model) == RESNET18_BUFFERS
    g = load_object(model, input_shape=(1, 3, 224, 224), capture=capture)
    assert g.total_params == RESNET18_PARAMS  # not 11,699,112 (running stats added)
    assert role_total(g, "buffer") == RESNET18_BUFFERS
    assert role_total(g, "constant") == 0
    tot = totals(annotate(g))
    assert (tot["params"], tot["trainable_params"], tot["buffers"]) == \
        (RESNET18_PARAMS, RESNET18_PARAMS, RESNET18_BUFFERS)
    bn = g.nodes["layer1.0.bn1"]
    assert sorted((p.name, p.role, p.trainable) for p in bn.params) == [
        ("layer1.0.bn1.bias", "param", True),
        ("layer1.0.bn1.num_batches_tracked", "buffer", False),
        ("layer1.0.bn1.running_mean", "buffer", False),
        ("layer1.0.bn1.running_var", "buffer", False),
        ("layer1.0.bn1.weight", "param", True)]
    assert bn.param_count == 128


@pytest.mark.parametrize("capture", ["export", "hooks"])  # fx cannot slice by a traced size
def test_non_persistent_mask_is_a_buffer_and_frozen_params_count(capture):
    model = CausalEncoder().eval()
    g = load_object(model, input_shape=(2, 10), input_dtype="int64", capture=capture)
    assert g.total_params == param_count(model)
    frozen = model.emb.weight.numel()
    assert sum(p.count for n in g.nodes.values() for p in n.params
               if p.role == "param" and not p.trainable) == frozen
    emb = g.nodes["emb"]
    assert [(p.name, p.trainable) for p in emb.params] == [("emb.weight", False)]
    # The mask reaches the ops that read it as a buffer: never "params: 4.1K" on them.
    holders = [n for n in g.nodes.values() for p in n.params if p.name == "causal_mask"]
    assert holders and all(p.role == "buffer" for n in holders for p in n.params
                           if p.name == "causal_mask")
    assert all(n.param_count == 0 for n in holders if n.attrs.get("module") is None)
    assert role_total(g, "buffer") == 64 * 64
    tot = totals(annotate(g))
    assert tot["params"] == param_count(model)
    assert tot["trainable_params"] == param_count(model) - frozen
    assert tot["non_trainable_params"] == frozen
    assert tot["buffers"] == 64 * 64


def test_fx_tensor_constants_count_nowhere():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)
            self.table = torch.arange(4.0)  # a plain tensor attribute: not state

        def forward(self, x):
            return self.fc(x) * self.table

    g = load_object(Scaled(), input_shape=(2, 4), capture="fx")
    mul = next(n for n in g.nodes.values() if n.op == "torch.mul" or "mul" in n.op)
    assert [(p.name, p.role) for p in mul.params] == [("table", "constant")]
    assert g.total_params == 20 and role_total(g, "buffer") == 0


def test_resnet18s_built_from_the_shared_block_are_torchvisions():
    """paper_models, torchscript_models and view_models build ResNet-18 from the one
    shared_models.BasicBlock: each has torchvision's parameter names and shapes (those of
    torch_real_models.resnet18, 11,689,512 parameters), in torchvision's order."""
    import paper_models
    import torchscript_models
    import view_models

    def spec(model):
        return [(n, tuple(p.shape)) for n, p in model.named_parameters()]

    want = spec(resnet18())
    for model in (paper_models.ResNet18(), torchscript_models.ResNet18(),
                  view_models.resnet18()[0]):
        assert spec(model) == want
        assert param_count(model) == RESNET18_PARAMS
