"""The ONNX route draws and counts real torch exports as the model is.

Small torch models are exported at test time with the dynamo exporter (the PyTorch 2.x
default) and the TorchScript one; each reproduces one way an exporter blurs the model:
repeated module calls with one module path, nodes without scope, a tied weight read through
a Transpose, BatchNorm folded into Conv, zero biases dropped, equal initializers merged,
masks and states stored as initializers. The first dynamo export in a process pays ~15 s of
exporter start-up; the exports here share it (module-scoped cache).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from nnviz.ir import Graph
from nnviz.loaders.onnx import load_file, load_model_proto

torch = pytest.importorskip("torch", reason="real exports need torch")
pytest.importorskip("onnxscript", reason="the dynamo exporter needs onnxscript")
nn = torch.nn

from shared_models import BasicBlock  # noqa: E402

# ---- models ---------------------------------------------------------------------------------

class MiniResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(x.mean((2, 3)))


class Repeat(nn.Module):
    """``x = x + a(x)`` three times: three calls of one module, in sequence."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 2)

    def forward(self, x):
        for _ in range(3):
            x = x + self.a(x)
        return self.b(x)


class Attention(nn.Module):
    def __init__(self, d: int, seq: int) -> None:
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.d = d
        # A causal mask kept out of the state dict, as GPT-style code does.
        self.register_buffer("mask", torch.tril(torch.ones(seq, seq)).bool(), persistent=False)
        # Rotary-style tables computed in forward from a buffer: the exporter folds them
        # into float initializers read by Mul (constants, not parameters).
        self.register_buffer("inv_freq", 1.0 / 10000 ** (torch.arange(d) / d), persistent=False)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(self.d, dim=2)  # the exporter's Split has no scope
        angles = torch.outer(torch.arange(x.shape[1]).float(), self.inv_freq)
        q = q * angles.cos() + q.flip(-1) * angles.sin()
        s = q @ k.transpose(1, 2) / self.d ** 0.5
        t = x.shape[1]
        s = s.masked_fill(~self.mask[:t, :t], float("-inf"))
        return self.c_proj(s.softmax(-1) @ v)


class Block(nn.Module):
    def __init__(self, d: int, seq: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = Attention(d, seq)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class MiniGPT(nn.Module):
    """GPT-2's shape: tied token embedding / LM head, per-block q/k/v split, causal mask."""

    def __init__(self, vocab: int = 50, d: int = 16, seq: int = 16, n: int = 4) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(seq, d)
        self.h = nn.ModuleList(Block(d, seq) for _ in range(n))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class BackToBack(nn.Module):
    """One activation module called twice with nothing between, Tanh and ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.relu(self.act(self.act(self.fc(x)))))


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class PreNorm(nn.Module):
    """Calls its first child twice in one call, from two lines: one call, not two."""

    def __init__(self) -> None:
        super().__init__()
        self.norm, self.fc = nn.LayerNorm(4), nn.Linear(4, 4)

    def forward(self, x):
        h = self.norm(x)
        h = self.fc(h)
        return self.norm(h)


class CompositeBackToBack(nn.Module):
    """Composite modules called twice with nothing between: a Sequential and a custom module
    on one line (``seq(seq(x))``, the two calls' ops carry equal metadata), a custom module
    from two lines, and a module that itself calls a child twice."""

    def __init__(self) -> None:
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
        self.mlp = Mlp()
        self.pre = PreNorm()

    def forward(self, x):
        x = self.mlp(self.mlp(self.seq(self.seq(x))))
        x = self.pre(x)
        x = self.pre(x)
        return x


class ViewOnly(nn.Module):
    def forward(self, x):
        return x.reshape(-1, 8)


class SameShapeViews(nn.Module):
    """A view to the tensor's own shape between two layers (the exporter writes a Reshape),
    and a module whose call is only such a view."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.keep = nn.Linear(8, 8), nn.Linear(8, 8), ViewOnly()

    def forward(self, x):
        h = self.a(x).view(-1, 8)
        return self.b(self.keep(h)) + h


class LSTMNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def trained_like(model: nn.Module) -> nn.Module:
    """Distinct values everywhere, like a trained model (the exporters merge equal tensors
    and drop all-zero biases of a fresh one)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.rand_like(p))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model


def torch_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- exports (shared by the tests, built once) ----------------------------------------------

_EXAMPLES = {
    "resnet": (lambda: trained_like(MiniResNet()), lambda: (torch.randn(1, 3, 16, 16),)),
    "resnet_fresh": (MiniResNet, lambda: (torch.randn(1, 3, 16, 16),)),
    "repeat": (Repeat, lambda: (torch.randn(2, 8),)),
    "gpt": (MiniGPT, lambda: (torch.randint(0, 50, (1, 16)),)),
    "lstm": (LSTMNet, lambda: (torch.randn(2, 5, 4),)),
    "back_to_back": (BackToBack, lambda: (torch.randn(2, 4),)),
    "composite_back_to_back": (CompositeBackToBack, lambda: (torch.randn(2, 4),)),
    "same_shape_views": (SameShapeViews, lambda: (torch.randn(2, 8),)),
}


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")

    @functools.cache
    def make(name: str, dynamo: bool = True) -> tuple[Graph, nn.Module]:
        build, args = _EXAMPLES[name]
        torch.manual_seed(0)
        model = build().eval()
        path = root / f"{name}_{'dynamo' if dynamo else 'ts'}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(model, args(), str(path), dynamo=dynamo, verbose=False)
            except Exception as exc:  # the exporter's own environment, not nnviz
                pytest.skip(f"torch.onnx.export(dynamo={dynamo}) failed: {exc!r:.200}")
        return load_file(path), model

    return make


def ops_in(g: Graph, group: tuple[str, ...]) -> list[str]:
    return [n.op for n in g.nodes.values() if n.group == group]


def repeats(view: Graph) -> dict[tuple[str, ...], int]:
    """Folded blocks of a prepared view: a collapsed box (node meta) or an open frame
    (group attrs) with its repeat count."""
    out = {n.group + (n.id,): n.meta["repeat"] for n in view.nodes.values()
           if n.meta.get("repeat")}
    out.update({p: grp.attrs["repeat"] for p, grp in view.groups.items()
                if grp.attrs.get("repeat")})
    return out


def box_cycles(g: Graph, depth: int) -> list[tuple]:
    """Edges between the boxes a drawing at ``depth`` shows (each node's group cut to
    ``depth``, plus the node itself below that) that close a cycle: the back edges of a
    depth-first search of the box graph (none exactly when the box graph is acyclic)."""
    def box(nid: str) -> tuple:
        node = g.nodes[nid]
        return node.group[:depth] if len(node.group) >= depth else node.group + (nid,)

    succ: dict[tuple, list[tuple]] = {}
    for e in g.edges():
        a, b = box(e.src), box(e.dst)
        if a != b and b not in succ.setdefault(a, []):
            succ[a].append(b)
    state: dict[tuple, int] = {}  # 1 on the DFS stack, 2 done
    back: list[tuple] = []
    for root in list(succ):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ.get(root, ())))]
        while stack:
            v, it = stack[-1]
            w = next(it, None)
            if w is None:
                state[v] = 2
                stack.pop()
            elif state.get(w) == 1:
                back.append((v, w))
            elif w not in state:
                state[w] = 1
                stack.append((w, iter(succ.get(w, ()))))
    return back


# ---- module calls -----------------------------------------------------------------------------

def test_repeated_calls_are_separate_boxes_in_sequence(export):
    g, model = export("repeat")
    assert ops_in(g, ("a",)) == ["Gemm"]
    assert ops_in(g, ("a@1",)) == ["Gemm"] and ops_in(g, ("a@2",)) == ["Gemm"]
    assert g.groups[("a@2",)].op == "Linear"
    assert [n.name for n in g.nodes.values() if n.op == "Gemm"] == ["a", "a@1", "a@2", "b"]
    # Each call reads the previous call's result (through the residual Add): a chain.
    assert box_cycles(g, 1) == []
    assert g.total_params == torch_params(model)  # one weight, three calls
    gemm = next(n for n in g.nodes.values() if n.name == "a")
    assert gemm.meta["shared_params"]["a.weight"] == ["a@1", "a@2"]


def test_resnet_relu_called_twice_per_block_draws_two_boxes_and_no_loop(export):
    g, model = export("resnet")
    for block in [("layer1", "0"), ("layer1", "1"), ("layer2", "0"), ("layer2", "1")]:
        assert ops_in(g, block + ("relu",)) == ["Relu"]
        assert ops_in(g, block + ("relu@1",)) == ["Relu"]
    for depth in (1, 2, 3, 4):
        assert box_cycles(g, depth) == [], depth
    relu = next(n for n in g.nodes.values() if n.group == ("layer1", "0", "relu@1"))
    assert relu.name == "layer1.0.relu@1"
    # Ops that are not a whole module show no exporter name (node_add_3), as in PyTorch.
    add = next(n for n in g.nodes.values() if n.op == "Add")
    assert add.name == "" and add.meta["onnx_name"].startswith("node_add")


# ---- parameters ---------------------------------------------------------------------------------

def test_batchnorm_folded_into_conv_still_counts_as_in_pytorch(export):
    g, model = export("resnet")
    assert g.total_params == torch_params(model)
    bn_stats = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
    buffers = {p.name: p.count for n in g.nodes.values() for p in n.params
               if p.role == "buffer"}
    assert sum(buffers.values()) == bn_stats
    assert "layer1.0.bn1.running_mean" in buffers
    conv = next(n for n in g.nodes.values() if n.name == "layer1.0.conv1+bn1")
    assert conv.op == "Conv" and "fused" in conv.meta
    assert conv.param_count == 8 * 8 * 9 + 2 * 8  # conv weight + BN weight and bias


@pytest.mark.slow  # the MiniGPT tests cover merged initializers in the default suite
def test_fresh_model_with_merged_and_dropped_initializers_counts_every_parameter(export):
    # A fresh model: equal BatchNorm weights merged, zero biases dropped by the exporter.
    g, model = export("resnet_fresh")
    assert g.total_params == torch_params(model)


def test_tied_weight_read_through_transpose_counts_once_and_says_shared(export):
    g, model = export("gpt")
    assert g.total_params == torch_params(model)  # parameters() lists a tied weight once
    emb = next(n for n in g.nodes.values() if n.op == "Gather" and n.name == "wte")
    head = next(n for n in g.nodes.values() if n.name == "lm_head")
    tied = [p.name for p in head.params]
    assert tied == [p.name for p in emb.params]
    assert emb.meta["shared_params"] == {tied[0]: ["lm_head"]}
    assert head.meta["shared_params"] == {tied[0]: ["wte"]}


def test_torchscript_folded_transposed_head_is_the_tied_embedding(export):
    g, model = export("gpt", dynamo=False)
    head = next(n for n in g.nodes.values() if n.group == ("lm_head",))
    assert [p.name for p in head.params] == ["wte.weight"]
    assert head.meta["shared_params"] == {"wte.weight": ["/wte/Gather"]}
    # Without metadata, what TorchScript folded away (the position lookup, merged LayerNorm
    # weights of a fresh model) cannot be counted back: never more than PyTorch's count.
    assert g.total_params <= torch_params(model)


def _tie_model(n_copies: int):
    emb = numpy_helper.from_array(np.ones((10, 4), np.float32), "emb.weight")
    copies = [numpy_helper.from_array(np.ones((4, 10), np.float32), f"onnx::MatMul_{i}")
              for i in range(n_copies)]
    nodes = [helper.make_node("Gather", ["emb.weight", "ids"], ["x"], name="/emb/Gather")]
    last = "x"
    for i in range(n_copies):
        nodes.append(helper.make_node("MatMul", [last, f"onnx::MatMul_{i}"], [f"y{i}"],
                                      name=f"/head{i}/MatMul"))
        last = f"y{i}"
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, None)], [emb, *copies])
    return load_model_proto(helper.make_model(graph))


def test_transposed_copy_tie_only_when_the_shapes_are_unambiguous():
    assert _tie_model(1).total_params == 40  # one head: the embedding transposed, tied
    assert _tie_model(2).total_params == 120  # two (4, 10) weights: no tie can be told


def _head_model(tied: bool) -> Any:
    """Embedding(100, 8) and a bias-free head whose folded weight (8, 100) has the table's
    transposed shape; tied: the table's values transposed (TorchScript's folded copy of a
    tied lm_head), untied: a head of its own."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((100, 8)).astype(np.float32)
    head = table.T.copy() if tied else rng.standard_normal((8, 100)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["emb.weight", "ids"], ["x"], name="/emb/Gather"),
             helper.make_node("MatMul", ["x", "onnx::MatMul_7"], ["y"], name="/head/MatMul")]
    graph = helper.make_graph(
        nodes, "t", [helper.make_tensor_value_info("ids", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(table, "emb.weight"),
         numpy_helper.from_array(head, "onnx::MatMul_7")])
    return helper.make_model(graph)


@pytest.mark.parametrize("tied", [True, False])
def test_transposed_head_is_tied_only_when_its_values_are_the_tables(tied, tmp_path):
    """The shapes of a tied and an untied head are the same; the values tell (a few read
    from the file's payloads, which the loader otherwise never reads)."""
    want = 800 if tied else 1600
    model = _head_model(tied)
    assert load_model_proto(model).total_params == want
    path = tmp_path / "head.onnx"
    path.write_bytes(model.SerializeToString())
    g = load_file(path)  # payloads over 1 KB are stripped: read back at their spans
    assert g.total_params == want
    head = next(n for n in g.nodes.values() if n.op == "MatMul")
    assert [p.name for p in head.params] == (["emb.weight"] if tied else ["onnx::MatMul_7"])


def test_masks_and_scalars_are_constants(export):
    g, model = export("gpt")
    roles = {p.name: p.role for n in g.nodes.values() for p in n.params}
    constants = [name for name, role in roles.items() if role == "constant"]
    assert constants, "the causal mask is stored as an initializer"
    holders = sorted(n.op for n in g.nodes.values() if n.group[:1] == ("h.0",) and
                     any(p.role == "constant" for p in n.params))
    assert holders == ["Mul", "Mul", "Where"]  # the cos and sin tables, the mask
    assert g.total_params == torch_params(model)
    for n in g.nodes.values():  # the masked_fill reads the mask, the scaling a scalar
        if n.op in ("Where", "Div", "Mul") and n.group[:1] == ("h.0",):
            assert n.param_count == 0, (n.id, [(p.name, p.shape, p.role) for p in n.params])


# ---- nodes without scope ------------------------------------------------------------------------

def test_unscoped_split_joins_its_block_and_the_fold_holds_every_block_op(export):
    import nnviz

    g, _ = export("gpt")
    splits = [n for n in g.nodes.values() if n.op == "Split"]
    assert len(splits) == 4
    assert [n.group for n in splits] == [(f"h.{i}", "attn") for i in range(4)]
    # Only the model's own top-level op (token + position embedding) stays at the top.
    assert [n.op for n in g.nodes.values() if not n.group and n.kind != "io"] == ["Add"]
    for depth in (1, 2, 3):
        assert box_cycles(g, depth) == [], depth
    view = nnviz.prepare(g, nnviz.ViewOptions(fold=True))
    assert repeats(view) == {("h.0",): 4}
    # Nothing of a block outside the fold: every box of the block's ops is in h.0.
    assert [n.group for n in view.nodes.values() if n.op == "Split"] in ([], [("h.0", "attn")])
    kept = {n.group[:1] for n in view.nodes.values() if n.group[:1] and n.group[0][:2] == "h."}
    assert kept == {("h.0",)}


def test_torchscript_lstm_state_plumbing_joins_the_lstm(export):
    g, model = export("lstm", dynamo=False)
    assert [n.op for n in g.nodes.values() if not n.group and n.kind != "io"] == ["Gather"]
    assert {n.group for n in g.nodes.values() if n.op == "Unsqueeze"} == {("lstm",)}
    assert g.total_params == torch_params(model)
    states = [p for n in g.nodes.values() if n.op == "Expand" for p in n.params]
    assert states and all(p.role == "constant" for p in states)


def test_adopt_unscoped_uses_the_deepest_common_group():
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="/enc/b0/Relu"),
        helper.make_node("Unsqueeze", ["a", "ax"], ["u"], name="Unsqueeze_7"),
        helper.make_node("Squeeze", ["u", "ax"], ["s"], name="Squeeze_8"),
        helper.make_node("Sigmoid", ["s"], ["y1"], name="/enc/b0/att/Sigmoid"),
        helper.make_node("Tanh", ["s"], ["y"], name="/enc/b0/Tanh"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
         helper.make_tensor_value_info("y1", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array([0], np.int64), "ax")])
    g = load_model_proto(helper.make_model(graph))
    assert g.nodes["Unsqueeze_7"].group == ("enc", "b0")
    assert g.nodes["Squeeze_8"].group == ("enc", "b0")


def test_int8_weights_are_parameters_and_onnx_lists_nothing_non_trainable():
    w = numpy_helper.from_array(np.arange(64 * 32, dtype=np.int8).reshape(64, 32) % 7, "w_q")
    scale = numpy_helper.from_array(np.full((64,), 0.1, np.float32), "w_scale")
    mask = numpy_helper.from_array(np.zeros((8, 8), np.float32), "/m/Constant_output_0")
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_scale"], ["w"], axis=0),
             helper.make_node("Gemm", ["x", "w"], ["h"], transB=1, name="/fc/Gemm"),
             helper.make_node("Add", ["h8", "/m/Constant_output_0"], ["y"], name="/m/Add"),
             helper.make_node("Reshape", ["h", "shp"], ["h8"], name="/m/Reshape")]
    graph = helper.make_graph(
        nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w, scale, mask, numpy_helper.from_array(np.array([8, 8], np.int64), "shp")])
    g = load_model_proto(helper.make_model(graph))
    fc = g.nodes["/fc/Gemm"]
    assert [(p.name, p.role, p.trainable) for p in fc.params] == [("w_q", "param", True)]
    assert g.total_params == 64 * 32
    add = g.nodes["/m/Add"]
    assert [p.role for p in add.params] == ["constant"] and add.param_count == 0


# ---- the models, full size (slow) -------------------------------------------------------

@pytest.mark.slow
def test_gpt2_small_dynamo_export(tmp_path):
    import nnviz

    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=12, n_embd=768, n_head=12)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.config.use_cache = False
    path = tmp_path / "gpt2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randint(0, 1000, (1, 16)),), str(path), dynamo=True)
    g = load_file(path)
    assert g.total_params == torch_params(model) == 124_439_808
    assert not [n for n in g.nodes.values() if not n.group and n.kind != "io"]
    view = nnviz.prepare(g, nnviz.ViewOptions())
    assert list(repeats(view).values()) == [12]
    fold = next(iter(repeats(view)))
    assert all(n.group[:len(fold)] == fold for n in view.nodes.values() if n.op == "Split")
    for depth in (1, 2, 3, 4):
        assert box_cycles(g, depth) == []


@pytest.mark.slow
def test_resnet18_dynamo_export(tmp_path):
    class ResNet18(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            chans = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
            for i, (cin, cout, stride) in enumerate(chans, 1):
                setattr(self, f"layer{i}", nn.Sequential(BasicBlock(cin, cout, stride),
                                                         BasicBlock(cout, cout)))
            self.fc = nn.Linear(512, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean((2, 3)))

    model = ResNet18().eval()
    path = tmp_path / "resnet18.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=True)
    g = load_file(path)
    assert g.total_params == torch_params(model) == 11_689_512
    relus = [n for n in g.nodes.values() if n.op == "Relu"]
    assert len(relus) == 17 and len({n.group for n in relus}) == 17
    for depth in (1, 2, 3, 4):
        assert box_cycles(g, depth) == []


def test_folded_batchnorm_is_named_in_the_title_not_spelled_out() -> None:
    """meta "fused" is a list of what a box holds besides its op: a string there was spelled
    out letter by letter in the title ("Conv + B + a + t + c + h ...")."""
    from nnviz.ir import Graph, Node
    from nnviz.layout.labels import node_lines

    g = Graph()
    node = g.add_node(Node("c", "Conv", "conv", name="conv1+bn1", meta={"fused": ["BatchNorm"]}))
    assert node_lines(g, node)[0].text == "Conv + BatchNorm"


def test_back_to_back_calls_of_one_module_are_two_boxes(export):
    """``act(act(x))``: the two calls run one right after the other, so only their fx nodes
    tell them apart; each is its own box (``act``, ``act@1``), as on the PyTorch route. The
    exporter's optimizer merges ``relu(relu(x))`` into one Relu: that box says "Relu + Relu"."""
    g, _ = export("back_to_back")
    acts = [(n.op, n.group) for n in g.nodes.values() if n.op == "Tanh"]
    assert acts == [("Tanh", ("act",)), ("Tanh", ("act@1",))]
    relus = [n for n in g.nodes.values() if n.op == "Relu"]
    assert [(n.group, n.meta.get("fused")) for n in relus] == [(("relu",), ["Relu"])]


def test_back_to_back_calls_of_a_composite_module_are_two_boxes(export):
    """``seq(seq(x))``, ``mlp(mlp(x))``: each call is its own group, as on the PyTorch route,
    and a module calling its own child twice (``PreNorm``) is still one call per call."""
    g, model = export("composite_back_to_back")
    calls = {}
    for n in g.nodes.values():
        if n.group:
            calls.setdefault(n.group[0], []).append("/".join(n.group[1:]))
    seq, mlp, pre = ["0", "1", "2"], ["fc1", "act", "fc2"], ["norm", "fc", "norm@1"]
    assert calls == {"seq": seq, "seq@1": seq, "mlp": mlp, "mlp@1": mlp, "pre": pre,
                     "pre@1": pre}, calls
    from nnviz.loaders.torch import load_object

    live = load_object(model, example_input=torch.randn(2, 4), capture="export")
    assert {p[0] for p in live.groups} == set(calls)
    assert g.total_params == live.total_params == torch_params(model)


def test_same_shape_views_are_no_boxes_and_every_edge_stays(export):
    """A Reshape to the tensor's own shape is no box (as ``view`` is none on the PyTorch
    routes): its readers read its input, so ``a`` feeds both ``keep`` and the residual add.
    The Reshape that is all of ``keep``'s call stays: a module call is a box."""
    g, model = export("same_shape_views")
    assert [(n.op, n.group) for n in g.nodes.values()] == [
        ("Input", ()), ("Gemm", ("a",)), ("Reshape", ("keep",)), ("Gemm", ("b",)),
        ("Add", ()), ("Output", ())]
    ids = list(g.nodes)
    succ = g.successors()
    assert {(ids.index(a), ids.index(b)) for a in succ for b in succ[a]} == \
        {(0, 1), (1, 2), (1, 4), (2, 3), (3, 4), (4, 5)}
    from nnviz.loaders.torch import load_object

    live = load_object(model, example_input=torch.randn(2, 8), capture="export")
    assert len(live.nodes) == len(g.nodes) and g.total_params == torch_params(model)
