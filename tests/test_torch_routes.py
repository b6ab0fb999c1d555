"""One PyTorch network, every route a user takes: live capture (torch.export, torch.fx,
forward hooks), its saved ``.pt2`` and its dynamo ONNX export. Each call of a module is its
own box, the groups are the module tree (depth 1: the model's direct children, as torchinfo
counts depth), and every route gives PyTorch's own parameter total."""

from __future__ import annotations

import contextlib
import io
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the PyTorch routes need the torch extra")

import torch_real_models as R  # noqa: E402

from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders import load_file  # noqa: E402
from nnviz.loaders.torch import load_object  # noqa: E402

ROUTES = ["export", "fx", "hooks", "pt2"]


@pytest.fixture(scope="module")
def small_resnet18(tmp_path_factory):
    """ResNet-18's topology (every module and call of the real one) at width 8."""
    torch.manual_seed(0)
    model = R.resnet18(width=8, num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    folder = tmp_path_factory.mktemp("routes")
    pt2 = folder / "resnet18.pt2"
    torch.export.save(torch.export.export(model, (x,)), pt2)
    return model, x, pt2, folder


def route_graph(route: str, model, x, pt2) -> Graph:
    if route == "pt2":
        return load_file(pt2)
    return load_object(model, example_input=x, capture=route)


def module_boxes(graph: Graph) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.id, n.group) for n in graph.nodes.values() if "module" in n.attrs]


@pytest.mark.parametrize("route", ROUTES)
def test_each_call_is_its_own_box(small_resnet18, route):
    model, x, pt2, _ = small_resnet18
    g = route_graph(route, model, x, pt2)
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    for b in blocks:
        # BasicBlock calls its one ReLU module twice: two boxes, the second "relu@1".
        relus = [n for n in g.nodes.values() if n.attrs.get("module") == f"{b}.relu"]
        assert [n.id for n in relus] == [f"{b}.relu", f"{b}.relu@1"], route
        assert [n.meta.get("call", 0) for n in relus] == [0, 1]
        assert relus[0].group == relus[1].group == tuple(b.split("."))[:1] + (b[-1],)
    # No box feeds itself through a merged call (the ONNX route's old ReLU loop).
    succ = g.successors()
    assert all(n not in succ[n] for n in succ)
    if route != "export":
        ref = route_graph("export", model, x, pt2)
        assert module_boxes(g) == module_boxes(ref)
        assert set(g.groups) == set(ref.groups)


@pytest.mark.parametrize("route", ROUTES)
def test_depth_one_is_the_direct_children(small_resnet18, route):
    """The first level of the group tree (top-level groups, plus the module boxes at the
    root) is ``model.named_children()``, in call order: torchinfo's depth-1 rows."""
    model, x, pt2, _ = small_resnet18
    g = route_graph(route, model, x, pt2)
    first: list[str] = []
    for n in g.nodes.values():
        if n.group:
            name = n.group[0]
        elif "module" in n.attrs:
            name = n.attrs["module"].split("@")[0]
        else:
            continue  # functional ops at the root (flatten) are not modules
        if name not in first:
            first.append(name)
    assert first == [name for name, _ in model.named_children()]
    for name in ("layer1", "layer2", "layer3", "layer4"):
        assert g.groups[(name,)].op == "Sequential"
        assert g.groups[(name, "0")].op == "BasicBlock"
        assert g.groups[(name, "0")].attrs["module"] == f"{name}.0"


def test_same_total_from_pytorch_pt2_and_dynamo_onnx(small_resnet18):
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    model, x, pt2, folder = small_resnet18
    onnx_path = folder / "resnet18.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(onnx_path), dynamo=True)
    want = R.param_count(model)
    totals = {route: route_graph(route, model, x, pt2).total_params for route in ROUTES}
    totals["onnx"] = load_file(onnx_path).total_params
    assert totals == dict.fromkeys(totals, want), totals


@pytest.mark.slow
@pytest.mark.parametrize("which", ["gpt2", "causal"])
def test_same_total_for_transformers(which, tmp_path):
    """GPT-2 (tied lm_head) and an encoder with a mask buffer: live, .pt2 and dynamo ONNX.

    The dynamo exporter folds GPT-2's position lookup for the 8 example tokens, so the file
    holds 8 of ``wpe``'s rows: the ONNX total counts those and names ``wpe`` as partial; the
    rest is exact. The encoder's fresh layers are copies of one layer, so the exporter merges
    their equal weights and drops zero biases: all counted back from the export's metadata."""
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    if which == "gpt2":
        pytest.importorskip("transformers")
        model, args, kwargs = R.gpt2(), (torch.zeros(1, 8, dtype=torch.long),), \
            {"use_cache": False}
    else:
        model, args, kwargs = R.CausalEncoder().eval(), \
            (torch.zeros(2, 10, dtype=torch.long),), {}
    pt2 = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, args, kwargs or None, strict=False), pt2)
    onnx_path = tmp_path / "m.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, str(onnx_path), kwargs=kwargs or None, dynamo=True)
    live = load_object(model, example_input={"input_ids": args[0], **kwargs} if kwargs
                       else args)
    want = R.param_count(model)
    assert (live.total_params, load_file(pt2).total_params) == (want, want)
    onnx_graph = load_file(onnx_path)
    partial = onnx_graph.meta.get("partial_params", {})
    sizes = dict(model.named_parameters())
    if which == "gpt2":
        wpe = sizes["transformer.wpe.weight"]
        assert partial == {"transformer.wpe.weight": 8 * wpe.shape[1]}
        assert onnx_graph.total_params == want - wpe.numel() + partial["transformer.wpe.weight"]
    else:
        assert partial == {}
        assert onnx_graph.total_params == want


class _NoOps(torch.nn.Module):
    """Real layers joined by plumbing that keeps its input's values: a full slice (export
    writes ``aten.alias``, as for GPT-2's ``hidden_states[:, -0:]`` before ``lm_head``), a
    device move to where the tensor is, ``contiguous``, ``clone`` and a same-shape view. A
    same-shape transpose moves values and must stay; a module made only of plumbing is a
    module call and must stay a box."""

    class Contiguous(torch.nn.Module):
        def forward(self, x):
            return x.contiguous().clone()

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = (torch.nn.Linear(8, 8) for _ in range(3))
        self.keep = self.Contiguous()

    def forward(self, x):
        h = self.a(x)[:, -0:]
        h = h.to(h.device).contiguous().clone()
        y = self.b(h)
        y = y.view(y.shape) + h
        return self.c(self.keep(y.t()))


@pytest.mark.parametrize("route", ["auto", "export", "pt2"])
def test_plumbing_no_ops_are_no_boxes(route, tmp_path):
    torch.manual_seed(0)
    model, x = _NoOps().eval(), torch.randn(8, 8)
    pt2 = tmp_path / "noops.pt2"
    if route == "pt2":
        torch.export.save(torch.export.export(model, (x,)), pt2)
    g = load_file(pt2) if route == "pt2" else \
        load_object(model, example_input=x, **({} if route == "auto" else {"capture": route}))
    ops = [n.op for n in g.nodes.values()]
    assert ops[:4] == ["Input", "Linear", "Linear", "aten.add"], ops
    assert ops[4] in ("aten.t", "aten.permute", "aten.transpose") and \
        ops[5:] == ["Contiguous", "Linear", "Output"], ops
    succ = g.successors()
    ids = list(g.nodes)
    edges = {(ids.index(a), ids.index(b)) for a in succ for b in succ[a]}
    # Every data edge between real ops survives the splice: a -> b, a -> add (the residual
    # through the spliced copies), b -> add, then the transpose, the plumbing module, c.
    assert edges == {(0, 1), (1, 2), (1, 3), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7)}, edges
    assert g.total_params == R.param_count(model)
