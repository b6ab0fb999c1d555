"""The checked fast capture ("auto"'s first try): torch.export's drawing from one eager run.

Each test compares the default drawing with the one ``capture="export"`` gives: the same
boxes (op, kind, name, group), the same parameters, the same shapes on every box's inputs and
outputs, the same edges; or checks that a model the fast capture cannot vouch for goes to
torch.export.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the PyTorch loader needs the torch extra")
nn = torch.nn
F = torch.nn.functional

from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders import torch_capture  # noqa: E402
from nnviz.loaders.torch import load_object  # noqa: E402
from tests.zoo.torch_models import build  # noqa: E402


def drawing(g: Graph) -> tuple[list, list]:
    """Everything the module-level drawing shows, in order."""
    def shapes(ids: list[str]) -> tuple:
        return tuple(g.tensors[t].shape if t in g.tensors else None for t in ids)

    nodes = [(n.id, n.op, n.kind, n.name, n.group, tuple((p.name, p.shape, p.role)
                                                         for p in n.params),
              shapes(n.inputs), shapes(n.outputs)) for n in g.nodes.values()]
    return nodes, sorted((e.src, e.dst) for e in g.edges())


def both(model: nn.Module, example: tuple) -> tuple[Graph, Graph]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = load_object(model, example_input=example)
        ref = load_object(model, example_input=example, capture="export")
    assert ref.meta["capture"] == "torch.export"
    return fast, ref


def assert_same_drawing(fast: Graph, ref: Graph) -> None:
    a, b = drawing(ref), drawing(fast)
    if a != b:  # name the first difference, not two walls of tuples
        for x, y in zip(a[0], b[0]):
            assert y == x
        assert b[0] == a[0]
        assert b[1] == a[1]
    assert fast.total_params == ref.total_params
    assert fast.meta.get("unused_params") == ref.meta.get("unused_params")


@pytest.mark.parametrize("name", ["resnet18", "unet", "causal_encoder", "lstm",
                                  "repeated_calls",
                                  pytest.param("mobilenet_v2", marks=pytest.mark.slow)])
def test_zoo_models_draw_as_torch_export_draws_them(name):
    model, example = build(name)
    fast, ref = both(model, example)
    assert fast.meta["capture"] == "forward hooks"  # the fast path was taken
    assert_same_drawing(fast, ref)


class EveryName(nn.Module):
    """One use of each torch function the fast capture names after its ATen op, all outside
    leaf modules, so each one is a box of its own in both drawings."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 8))
        self.b = nn.Parameter(torch.randn(8))
        self.k = nn.Parameter(torch.randn(4, 2, 3, 3))
        self.table = nn.Parameter(torch.randn(10, 8))
        self.norm_w = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple:
        n = x.shape[1]
        y = F.linear(x, self.w, self.b)
        outs = [y + x, y - x, y * x, y / 2, y @ self.w, 1 - y, -y, y ** 2, y.exp(), y.abs(),
                y.abs().log(), y.abs().sqrt(), y.abs().rsqrt(), F.relu(y), F.gelu(y),
                F.silu(y), torch.sigmoid(y), torch.tanh(y), F.softmax(y, -1),
                F.log_softmax(y, -1), torch.cat([x, y], -1), torch.stack([x, y]),
                y.reshape(-1), y.view(2, -1), y.permute(1, 0), y.transpose(0, 1).contiguous(),
                y.unsqueeze(0), y.unsqueeze(1).expand(-1, 3, -1), y.mean(-1), y.sum(-1),
                torch.amax(y, -1), torch.where(y > 0, y, 0.0), y < x, y >= x, y <= x, y == x,
                y != x, torch.full((n, n), 1.0).triu(1), torch.ones(n, n).tril(),
                torch.zeros(n) + torch.arange(n), F.layer_norm(y, (8,), self.norm_w),
                y.clamp(-1, 1), F.hardtanh(y),
                F.pad(y, (1, 1)), F.embedding(ids, self.table)]
        img = y.reshape(1, 2, 2, 4)
        c = F.conv2d(img, self.k, padding=1)
        outs += [c, F.max_pool2d(c, 2), F.avg_pool2d(c, 2), F.adaptive_avg_pool2d(c, 1),
                 torch.flatten(c, 1)]
        q = y.reshape(1, 2, 2, 4)
        outs.append(F.scaled_dot_product_attention(q, q, q))
        return tuple(outs)


def test_every_named_torch_function_is_its_aten_op():
    model = EveryName()
    example = (torch.randn(2, 8), torch.tensor([[1, 2, 3]]))
    fast, ref = both(model, example)
    assert fast.meta["capture"] == "forward hooks"
    assert_same_drawing(fast, ref)
    named = {n.op for n in fast.nodes.values() if n.op.startswith("aten.")}
    assert len(named) >= 50  # the table is exercised, not a handful of it


class SliceWrite(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.zeros(x.shape[0], 8)
        y[:, :4] = self.fc(x)  # an in-place write through a view: fx mis-traces it
        return y


class ViewWriteInLeaf(nn.Module):
    """A leaf module writing in place through a view of its input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x[:, :2].relu_()
        return x


class Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.leaf = ViewWriteInLeaf()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.leaf(self.fc(x)) * 2


class ReadsData(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y * 2 if float(y.mean()) > -100 else y


class Untracked(nn.Module):
    """A plain tensor attribute (no buffer): export lifts it as a constant, hooks cannot."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = torch.full((4,), 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale


@pytest.mark.parametrize("model, why", [
    (SliceWrite(), "setitem"), (Holder(), "through a view"), (ReadsData(), "value in Python"),
    (Untracked(), "did not make")])
def test_what_the_fast_capture_cannot_vouch_for_goes_to_export(model, why):
    x = torch.randn(2, 4)
    with torch.no_grad():
        trace, reason = torch_capture.capture_fast(model, (x,), {}, "m")
    assert trace is None and why in reason
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = load_object(model, example_input=x)
    # torch.export drew it, or (a value read in Python) failed and said so before falling back.
    assert g.meta["capture"] == "torch.export" or any(
        str(w.message).startswith("torch.export could not capture") for w in caught)


def test_in_place_slice_write_draws_the_export_graph():
    g = load_object(SliceWrite(), input_shape=(2, 4))
    assert g.meta["capture"] == "torch.export"
    ops = [n.op for n in g.nodes.values()]
    assert "aten.copy_" in ops and "Linear" in ops


def test_hugging_face_models_go_to_export():
    pytest.importorskip("transformers", reason="GPT-2 comes from transformers")
    for name in ("gpt2", "bert", "vit"):
        model, example = build(name)
        with torch.no_grad():
            trace, reason = torch_capture.capture_fast(model, example, {}, name)
        # Their mask code asks whether it is traced and builds the mask only then (ViT's
        # ops are all named: it drew without the mask before this check).
        assert trace is None and "compiled or exported" in reason


def test_fast_capture_never_imports_dynamo():
    # torch._dynamo costs seconds to import; the fast path must not touch it.
    code = ("import sys, torch\n"
            "from tests.zoo.torch_models import ResNet18\n"
            "import nnviz\n"
            "d = nnviz.draw(ResNet18().eval(), example_input=torch.randn(1, 3, 32, 32))\n"
            "assert d.graph.meta['capture'] == 'forward hooks'\n"
            "print('torch._dynamo' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


class ThreadProbe(nn.Module):
    """Notes the intra-op thread count its forward runs with."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.get_num_threads())
        return self.fc(x)


def test_fast_capture_runs_on_one_thread_and_gives_the_count_back():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = ThreadProbe()
        g = load_object(model, example_input=torch.randn(2, 4))
        assert g.meta["capture"] == "forward hooks"
        assert model.seen == [1]  # small ops: no OpenMP region per op
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


class Indexing(nn.Module):
    """Basic indexing outside leaf modules, each form export records as one ATen op: a
    class token (select), a window (slice), a new axis (unsqueeze), a whole dimension
    (alias), and one that is two ops (select and slice), which must go to export."""

    def __init__(self, two_ops: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.register_buffer("pos", torch.arange(16).unsqueeze(0))
        self.two_ops = two_ops

    def forward(self, x: torch.Tensor) -> tuple:
        y = self.fc(x)
        outs = (y[:, 0], y[:, 1:3], y[:, None], y[..., :8], y[0], y[:, :, ::2],
                self.pos[:, :x.shape[1]] * 2, y[-1], y[:, -1, :])
        return outs + (y[0, 1:],) if self.two_ops else outs


def test_indexing_is_its_one_aten_op():
    fast, ref = both(Indexing(), (torch.randn(2, 4, 8),))
    assert fast.meta["capture"] == "forward hooks"
    assert_same_drawing(fast, ref)
    ops = {n.op for n in fast.nodes.values()}
    assert {"aten.select", "aten.slice", "aten.unsqueeze"} <= ops  # (an alias is no box)


def test_indexing_that_is_several_ops_goes_to_export():
    with torch.no_grad():
        trace, reason = torch_capture.capture_fast(Indexing(two_ops=True),
                                                   (torch.randn(2, 4, 8),), {}, "m")
    assert trace is None and "__getitem__" in reason


class AsksIfCompiling(nn.Module):
    """Takes another path under torch.export than when run (as Hugging Face's mask code
    does), with nothing but ops the fast capture names."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y * 2 if torch.compiler.is_compiling() else y + 1


def test_a_model_asking_whether_it_is_compiled_goes_to_export():
    is_compiling = torch.compiler.is_compiling
    with torch.no_grad():
        trace, reason = torch_capture.capture_fast(AsksIfCompiling(), (torch.randn(2, 4),),
                                                   {}, "m")
    assert trace is None and "compiled or exported" in reason
    assert torch.compiler.is_compiling is is_compiling  # given back
    g = load_object(AsksIfCompiling(), input_shape=(2, 4))
    assert g.meta["capture"] == "torch.export"
    assert "aten.mul" in {n.op for n in g.nodes.values()}  # the branch export takes
