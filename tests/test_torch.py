"""PyTorch loader: live modules (export / fx / hooks), .pt2 files, pickles, import specs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import pytest

torch = pytest.importorskip("torch", reason="the PyTorch loader needs the torch extra")
nn = torch.nn

from nnviz.errors import ModelError  # noqa: E402
from nnviz.ir import Graph  # noqa: E402
from nnviz.loaders import load, load_file  # noqa: E402
from nnviz.loaders.torch import CaptureFallbackWarning, load_object, load_spec  # noqa: E402

# ---- models built here (no downloads) --------------------------------------------------------


class Basic(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class TinyResNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.layer1 = nn.Sequential(Basic(8, 8), Basic(8, 8))
        self.layer2 = nn.Sequential(Basic(8, 16, 2), Basic(16, 16))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class RecurrentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 12)
        self.lstm = nn.LSTM(12, 16, batch_first=True)
        self.gru = nn.GRU(16, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):
        x, _ = self.lstm(self.emb(tokens))
        x, _ = self.gru(x)
        return self.head(x[:, -1])


class SharedNet(nn.Module):
    """One submodule called twice, plus tied weights between two Linear modules."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 4)
        self.block = nn.Linear(4, 4)
        self.dec = nn.Linear(4, 6, bias=False)
        self.dec.weight = nn.Parameter(self.enc.weight.t().contiguous())
        self.tied = nn.Linear(6, 4)
        self.tied.weight = self.enc.weight  # the same Parameter object

    def forward(self, x):
        h = self.block(self.block(self.enc(x)))
        return self.dec(h) + 0 * self.tied(x).sum()


class DataDependent(nn.Module):
    """Python control flow on tensor values: torch.export and torch.fx cannot capture it."""

    def __init__(self):
        super().__init__()
        self.pos = nn.Linear(4, 5)
        self.neg = nn.Linear(4, 5)

    def forward(self, x):
        if x.sum() > 0:
            return torch.relu(self.pos(x))
        return self.neg(x)


class TwoInTwoOut(nn.Module):
    """Two inputs, a defaulted argument and a dict result."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x, y, scale=None):
        h = self.a(x) + self.b(y)
        return {"sum": h, "scaled": h * (2.0 if scale is None else scale)}


class InPlace(nn.Module):
    """Data flow through in-place writes: a slice assignment and add_/relu_."""

    def __init__(self, slice_write: bool = True):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.slice_write = slice_write  # torch.fx cannot trace item assignment

    def forward(self, x):
        y = torch.cat([x, x], 1) * 0
        if self.slice_write:
            y[:, :4] = self.fc(x)
        else:
            y.add_(torch.cat([self.fc(x), x], 1))
        z = x.clone()
        z.add_(1)
        return y * 2, z.relu_()


class TinyViT(nn.Module):
    """Learned class token and position embedding used through view ops."""

    def __init__(self, d: int = 16):
        super().__init__()
        self.patch = nn.Conv2d(3, d, 4, 4)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.pos = nn.Parameter(torch.zeros(1, 32, d))
        self.block = nn.TransformerEncoderLayer(d, 2, 32, batch_first=True)
        self.head = nn.Linear(d, 5)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(x.shape[0], -1, -1), t], 1)
        t = t + self.pos[:, :t.shape[1]]
        return self.head(self.block(t)[:, 0])


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 4))


def encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


# ---- helpers -----------------------------------------------------------------------------


def trainable_total(graph: Graph) -> int:
    seen: dict[str, int] = {}
    for node in graph.nodes.values():
        for p in node.params:
            if p.trainable:
                seen.setdefault(p.name, p.count or 0)
    return sum(seen.values())


def buffer_total(graph: Graph) -> int:
    seen: dict[str, int] = {}
    for node in graph.nodes.values():
        for p in node.params:
            if p.role == "buffer":
                seen.setdefault(p.name, p.count or 0)
    return sum(seen.values())


def body(graph: Graph) -> list:
    """(op, kind) of every node except inputs and outputs, in graph order."""
    return [(n.op, n.kind) for n in graph.nodes.values() if n.kind != "io"]


def assert_shapes_on_every_edge(graph: Graph) -> None:
    edges = graph.edges()
    assert edges
    for e in edges:
        shape = graph.tensors[e.tensor].shape
        assert shape is not None and all(isinstance(d, int) for d in shape), e


def assert_leaf_params_match(graph: Graph, model: nn.Module) -> None:
    """Every module-level node carries exactly its module's parameters (sum of numel)."""
    modules = dict(model.named_modules())
    checked = 0
    for node in graph.nodes.values():
        path = node.attrs.get("module")
        if path is None:
            continue
        want = sum(p.numel() for p in modules[path].parameters())
        got = sum(p.count for p in node.params if p.trainable)
        assert got == want, (node.id, got, want)
        checked += 1
    assert checked


def assert_io_convention(graph: Graph) -> None:
    ins = [n for n in graph.nodes.values() if n.op == "Input"]
    outs = [n for n in graph.nodes.values() if n.op == "Output"]
    assert [n.outputs[0] for n in ins] == graph.inputs
    assert [n.inputs[0] for n in outs] == graph.outputs
    assert all(n.kind == "io" for n in ins + outs)
    for node in graph.nodes.values():
        for i in range(1, len(node.group) + 1):
            assert node.group[:i] in graph.groups, node.group


# ---- live modules ----------------------------------------------------------------------------


def test_mlp_module_level():
    model = mlp()
    g = load_object(model, input_shape=(2, 10))
    # "auto" takes the checked forward-hooks capture: torch.export's drawing, faster.
    assert g.meta["capture"] == "forward hooks"
    assert body(g) == [("Linear", "linear"), ("ReLU", "activation"), ("Linear", "linear")]
    assert [g.tensors[n.outputs[0]].shape for n in g.nodes.values() if n.kind != "io"] == \
        [(2, 32), (2, 32), (2, 4)]
    assert g.total_params == sum(p.numel() for p in model.parameters()) == 484
    assert_leaf_params_match(g, model)
    assert_shapes_on_every_edge(g)
    assert_io_convention(g)
    assert {p.name for n in g.nodes.values() for p in n.params} == \
        {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_resnet_groups_skips_params_and_buffers():
    model = TinyResNet()
    model.train()  # capture must not depend on (or change) the module's mode
    g = load_object(model, example_input=torch.randn(1, 3, 16, 16))
    assert model.training and model.layer1[0].bn1.training
    ops = [n.op for n in g.nodes.values()]
    assert ops.count("Conv2d") == 1 + 4 * 2 + 1 and ops.count("BatchNorm2d") == 10
    adds = [n for n in g.nodes.values() if n.op == "aten.add"]
    assert len(adds) == 4 and all(len(n.inputs) == 2 for n in adds)  # the skips
    # The identity skip of layer1.0 comes straight from the stem's ReLU.
    stem_out = g.nodes["stem.2"].outputs[0]
    assert stem_out in next(n for n in adds if n.group == ("layer1", "0")).inputs
    assert g.groups[("layer1",)].op == "Sequential"
    assert g.groups[("layer1", "0")].op == "Basic"
    assert g.groups[("layer2", "0", "down")].op == "Sequential"
    assert g.nodes["layer2.0.down.0"].group == ("layer2", "0", "down")
    assert g.nodes["layer1.0.conv1"].kind == "conv" and g.nodes["pool"].kind == "pool"
    assert g.nodes["layer1.0.relu@1"].meta["call"] == 1  # the ReLU module is called twice
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())  # running stats + batch counters
    assert trainable_total(g) == params
    assert g.total_params == params  # PyTorch's convention: parameters() only
    assert buffer_total(g) == buffers  # every buffer listed, as a buffer
    bn = g.nodes["layer1.0.bn1"]
    assert [(p.name, p.role, p.trainable) for p in bn.params if p.role != "param"] == \
        [("layer1.0.bn1.running_mean", "buffer", False),
         ("layer1.0.bn1.running_var", "buffer", False),
         ("layer1.0.bn1.num_batches_tracked", "buffer", False)]
    assert_leaf_params_match(g, model)
    assert_shapes_on_every_edge(g)
    assert_io_convention(g)
    assert g.tensors[g.outputs[0]].shape == (1, 10)


def test_aten_view_shows_ops_inside_module_groups():
    model = TinyResNet()
    g = load_object(model, input_shape=(1, 3, 16, 16), aten=True)
    convs = [n for n in g.nodes.values() if n.op == "aten.conv2d"]
    assert len(convs) == 10 and all(n.kind == "conv" for n in convs)
    conv1 = next(n for n in convs if n.group == ("layer1", "0", "conv1"))
    assert g.groups[("layer1", "0", "conv1")].op == "Conv2d"
    assert [p.name for p in conv1.params] == ["layer1.0.conv1.weight"]
    module_level = load_object(model, input_shape=(1, 3, 16, 16))
    assert g.total_params == module_level.total_params
    assert len(g.nodes) > len(module_level.nodes) - 1


def test_recurrent_model_with_integer_tokens():
    model = RecurrentNet()
    g = load_object(model, input_shape=(2, 7), input_dtype="int64")
    assert body(g) == [("Embedding", "embedding"), ("LSTM", "recurrent"),
                       ("GRU", "recurrent"), ("aten.select", "reshape"), ("Linear", "linear")]
    assert g.tensors[g.inputs[0]].dtype == "int64"
    assert g.tensors[g.nodes["lstm"].outputs[0]].shape == (2, 7, 16)
    assert g.tensors[g.nodes["gru"].outputs[0]].shape == (2, 7, 8)
    assert g.nodes["gru"].param_count == sum(p.numel() for p in model.gru.parameters())
    assert g.total_params == sum(p.numel() for p in model.parameters())
    assert_leaf_params_match(g, model)
    assert_shapes_on_every_edge(g)


def test_transformer_encoder_layers_are_groups():
    model = encoder()
    g = load_object(model, input_shape=(2, 5, 16))
    assert g.groups[("layers.0",)].op == "TransformerEncoderLayer"
    assert g.groups[("layers.1",)].attrs["module"] == "layers.1"
    attn = g.nodes["layers.1.self_attn"]
    assert attn.op == "MultiheadAttention" and attn.kind == "attention"
    assert attn.group == ("layers.1",)
    assert attn.param_count == sum(p.numel() for p in model.layers[1].self_attn.parameters())
    assert [n.op for n in g.nodes.values() if n.group == ("layers.0",)] == [
        "MultiheadAttention", "Dropout", "aten.add", "LayerNorm", "Linear", "aten.relu",
        "Dropout", "Linear", "Dropout", "aten.add", "LayerNorm"]
    assert g.total_params == sum(p.numel() for p in model.parameters())
    assert_leaf_params_match(g, model)
    assert_shapes_on_every_edge(g)


def test_shared_submodule_and_tied_weights_counted_once():
    model = SharedNet()
    g = load_object(model, input_shape=(3, 6))
    blocks = [n for n in g.nodes.values() if n.attrs.get("module") == "block"]
    assert [n.id for n in blocks] == ["block", "block@1"]
    assert blocks[0].params == blocks[1].params
    assert blocks[1].inputs == blocks[0].outputs  # the second call eats the first's output
    tied = g.nodes["tied"]
    assert "enc.weight" in [p.name for p in tied.params]  # canonical name of the shared tensor
    unique = sum(p.numel() for p in model.parameters())  # torch dedups shared Parameters
    assert g.total_params == unique
    assert sum(n.param_count for n in g.nodes.values()) > unique


@pytest.mark.parametrize("capture", ["export", "hooks"])
def test_weights_used_through_views_are_params_of_their_consumer(capture):
    model = TinyViT()
    g = load_object(model, input_shape=(2, 3, 16, 16), capture=capture)
    top = [n for n in g.nodes.values() if n.group == () and n.kind != "io"]
    assert [n.kind for n in top] == ["conv", "reshape", "reshape", "reshape", "elementwise",
                                     "reshape", "linear"]
    cat, add = top[3], top[4]
    assert [p.name for p in cat.params] == ["cls"] and len(cat.inputs) == 1
    assert [p.name for p in add.params] == ["pos"] and len(add.inputs) == 1
    assert g.total_params == sum(p.numel() for p in model.parameters())
    aten = load_object(model, input_shape=(2, 3, 16, 16), capture=capture, aten=True)
    assert len(aten.nodes) > len(g.nodes)  # the op view keeps the expand/slice of the weights


@pytest.mark.parametrize("capture", ["fx", "hooks"])
def test_fallback_captures_agree_with_export(capture):
    model = TinyResNet()
    x = torch.randn(1, 3, 16, 16)
    ref = load_object(model, example_input=x)
    g = load_object(model, example_input=x, capture=capture)
    assert g.meta["capture"] == {"fx": "torch.fx", "hooks": "forward hooks"}[capture]
    kinds = [(n.kind, n.attrs.get("module")) for n in g.nodes.values()]
    assert kinds == [(n.kind, n.attrs.get("module")) for n in ref.nodes.values()]
    assert set(g.groups) == set(ref.groups)
    assert g.total_params == ref.total_params
    assert [g.tensors[t].shape for t in g.outputs] == [(1, 10)]
    assert_shapes_on_every_edge(g)


def test_hooks_capture_of_transformer_keeps_submodules():
    model = encoder()
    ref = load_object(model, input_shape=(2, 5, 16))
    g = load_object(model, input_shape=(2, 5, 16), capture="hooks")
    assert [(n.kind, n.attrs.get("module")) for n in g.nodes.values()] == \
        [(n.kind, n.attrs.get("module")) for n in ref.nodes.values()]
    assert g.total_params == ref.total_params


def test_control_flow_falls_back_with_warnings():
    model = DataDependent()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = load_object(model, example_input=torch.ones(2, 4))
    messages = [str(w.message) for w in caught if issubclass(w.category,
                                                             CaptureFallbackWarning)]
    assert len(messages) == 2
    assert messages[0].startswith("torch.export could not capture DataDependent")
    assert "falling back to torch.fx symbolic tracing" in messages[0]
    assert messages[1].startswith("torch.fx symbolic tracing could not capture")
    assert messages[1].endswith("falling back to forward hooks")
    assert g.meta["capture"] == "forward hooks"
    # The branch actually taken, with the condition's own ops pruned away.
    assert body(g) == [("Linear", "linear"), ("torch.relu", "activation")]
    assert g.meta["unused_params"] == ["neg.weight", "neg.bias"]
    assert g.nodes["pos"].param_count == 25
    with pytest.warns(CaptureFallbackWarning):
        g2 = load_object(model, example_input=-torch.ones(2, 4))
    assert body(g2) == [("Linear", "linear")] and g2.nodes["neg"].attrs["module"] == "neg"


@pytest.mark.parametrize("capture", ["export", "fx", "hooks"])
def test_several_inputs_and_named_outputs(capture):
    g = load_object(TwoInTwoOut(), example_input=(torch.randn(2, 4), torch.randn(2, 5)),
                    capture=capture)
    assert [n.name for n in g.nodes.values() if n.kind == "io"] == ["x", "y", "sum", "scaled"]
    assert [g.tensors[t].shape for t in g.inputs] == [(2, 4), (2, 5)]
    assert [n.attrs.get("module") for n in g.nodes.values() if n.kind == "linear"] == ["a", "b"]
    assert [n.kind for n in g.nodes.values() if n.kind == "elementwise"] == ["elementwise"] * 2
    assert g.total_params == 15 + 18
    assert_io_convention(g)


@pytest.mark.parametrize("capture", ["export", "fx", "hooks"])
def test_in_place_writes_keep_their_edges(capture):
    g = load_object(InPlace(slice_write=capture != "fx"), input_shape=(2, 4), capture=capture)
    pred = g.predecessors()
    ancestors: set[str] = set()
    todo = [next(n.id for n in g.nodes.values() if n.op == "Output")]
    while todo:
        nid = todo.pop()
        for p in pred[nid]:
            if p not in ancestors:
                ancestors.add(p)
                todo.append(p)
    assert "fc" in ancestors  # the Linear feeds y through y[:, :4] = ...
    assert g.tensors[g.outputs[0]].shape == (2, 8)
    relu = [n for n in g.nodes.values() if n.kind == "activation"]
    assert len(relu) == 1 and g.outputs[1] in relu[0].outputs


def test_draw_api_passes_example_input(tmp_path):
    import nnviz

    out = tmp_path / "tiny.svg"
    drawing = nnviz.draw(TwoInTwoOut(), out, example_input={"x": torch.randn(1, 4),
                                                            "y": torch.randn(1, 5)})
    assert out.exists() and "Linear" in out.read_text()
    assert drawing.graph.meta["framework"] == "torch"
    assert drawing.graph.meta["capture"] == "forward hooks"  # the checked fast capture
    hooked = nnviz.draw(TwoInTwoOut(), example_input=(torch.randn(1, 4), torch.randn(1, 5)),
                        capture="hooks")
    assert hooked.graph.meta["capture"] == "forward hooks"
    from nnviz.cli import _loader_kwargs

    assert _loader_kwargs({"capture": "fx"}) == {"capture": "fx"}
    assert _loader_kwargs({"capture": "auto"}) == {}
    program = torch.export.export(TwoInTwoOut(), (torch.randn(1, 4), torch.randn(1, 5)))
    assert nnviz.load(program).name == "TwoInTwoOut"


def test_meta_device_model_draws_without_weight_memory():
    with torch.device("meta"):
        model = nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 8, 2048,
                                                                 batch_first=True), 3,
                                      enable_nested_tensor=False)
    for capture in ("export", "hooks"):
        g = load_object(model, input_shape=(1, 32, 512), capture=capture)
        assert g.total_params == sum(p.numel() for p in model.parameters())
        assert g.tensors[g.outputs[0]].shape == (1, 32, 512)
        assert len(g.groups) == 3


def test_wrapped_modules_are_unwrapped():
    model = mlp()
    g = load_object(nn.DataParallel(model), input_shape=(1, 10), capture="hooks")
    assert g.name == "Sequential" and g.total_params == 484
    assert [n.attrs.get("module") for n in g.nodes.values() if n.kind != "io"] == \
        ["0", "1", "2"]


def test_bad_example_input_is_one_clear_sentence():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ModelError, match=r"running Sequential on the example input failed "
                                             r"\(RuntimeError: mat1 and mat2 shapes"):
            load_object(mlp(), input_shape=(2, 11))
    # A wrong input is not a capture problem: no fallback warnings before the error.
    assert not [w for w in caught if issubclass(w.category, CaptureFallbackWarning)]
    with pytest.raises(ModelError, match="needs an example input"):
        load_object(mlp())


def test_deterministic_output():
    model = TinyResNet()
    x = torch.randn(1, 3, 16, 16)
    assert load_object(model, example_input=x).to_json() == \
        load_object(model, example_input=x).to_json()


# ---- files -----------------------------------------------------------------------------------


def test_pt2_round_trip(tmp_path):
    model = TinyResNet()
    x = torch.randn(1, 3, 16, 16)
    path = tmp_path / "net.pt2"
    torch.export.save(torch.export.export(model.eval(), (x,)), path)
    g = load_file(path)
    live = load_object(model, example_input=x)
    assert g.name == "TinyResNet" and g.meta["file"] == str(path)
    assert [(n.op, n.kind, n.group) for n in g.nodes.values()] == \
        [(n.op, n.kind, n.group) for n in live.nodes.values()]
    assert g.total_params == live.total_params
    assert set(g.groups) == set(live.groups)
    assert_shapes_on_every_edge(g)
    aten = load(str(path), aten=True)
    assert sum(n.op == "aten.conv2d" for n in aten.nodes.values()) == 10


def test_pt2_with_dynamic_batch_keeps_the_symbol(tmp_path):
    path = tmp_path / "dyn.pt2"
    batch = torch.export.Dim("batch")
    program = torch.export.export(mlp(), (torch.randn(3, 10),),
                                  dynamic_shapes={"input": {0: batch}})
    torch.export.save(program, path)
    g = load_file(path)
    shapes = [g.tensors[n.outputs[0]].shape for n in g.nodes.values() if n.outputs]
    symbol = shapes[0][0]
    # The symbol as torch prints it ("s77"), never the example's 3 nor sympy's
    # srepr "Symbol('s77', positive=True, integer=True)" that the archive stores.
    assert isinstance(symbol, str) and symbol[0] == "s" and symbol[1:].isdigit(), symbol
    assert shapes == [(symbol, 10), (symbol, 32), (symbol, 32), (symbol, 4)]
    assert g.total_params == 484


def test_state_dict_and_checkpoint_explained(tmp_path):
    model = mlp()
    sd = tmp_path / "weights.pt"
    torch.save(model.state_dict(), sd)
    with pytest.raises(ModelError, match=r"weights.pt: is a state_dict \(4 tensors, 484 values\)"
                                         r".*no architecture"):
        load_file(sd)
    ckpt = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "model": model.state_dict()}, ckpt)
    with pytest.raises(ModelError, match="checkpoint dictionary .*no architecture"):
        load_file(ckpt)


class _Booby:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_refused_without_running_it(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"model": _Booby(str(marker))}, path)
    with pytest.raises(ModelError, match="pickled PyTorch object .*--trust-pickle"):
        load_file(path)
    assert not marker.exists()
    # Same through the CLI: one line on stderr, exit 1, nothing executed.
    from click.testing import CliRunner

    from nnviz.cli import main

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)  # main() sets it
    res = CliRunner().invoke(main, [str(path), "-o", str(tmp_path / "x.svg")])
    assert res.exit_code == 1
    assert res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
    assert res.stderr.startswith("nnviz: error: ") and "--trust-pickle" in res.stderr
    assert not marker.exists() and not (tmp_path / "x.svg").exists()


def test_pt2_with_a_pickle_inside_draws_without_running_it(tmp_path):
    """nnviz reads the program JSON and the weights' raw bytes and never unpickles a member,
    so a trap in the sample inputs cannot run, for drawing or stats. An archive whose weight
    is itself a pickle (use_pickle: tensor subclasses) needs torch.export.load, which would
    unpickle it: stats refuses that one unless --trust-pickle."""
    import json
    import zipfile

    from nnviz.loaders import iter_weights

    good = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(mlp(), (torch.randn(1, 10),)), good)
    marker = tmp_path / "pwned"
    trap = tmp_path / "trap.pt"
    torch.save((_Booby(str(marker)),), trap)

    def rewrite(dst, swap):
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(dst, "w") as out:
            for info in src.infolist():
                out.writestr(info, swap(info.filename, src.read(info.filename)))

    bad = tmp_path / "bad.pt2"
    rewrite(bad, lambda n, d: trap.read_bytes() if n.endswith("sample_inputs/model.pt") else d)
    g = load_file(bad)
    assert g.total_params == 484 and body(g)[0] == ("Linear", "linear")
    assert sum(w.values.size for w in iter_weights(bad)) == 484
    assert not marker.exists()

    def pickled_weight(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
        return trap.read_bytes() if name.endswith("weights/weight_0") else data

    worse = tmp_path / "worse.pt2"
    rewrite(worse, pickled_weight)
    with pytest.raises(ModelError, match=r"worse.pt2: is a .pt2 archive holding pickled "
                                         r"objects .*--trust-pickle"):
        list(iter_weights(worse))
    assert load_file(worse).total_params == 484  # drawing never reads weights
    assert not marker.exists()


def test_trusted_pickle_of_whole_model(tmp_path):
    path = tmp_path / "whole.pt"
    model = mlp()
    torch.save(model, path)
    with pytest.raises(ModelError, match="pickled"):
        load_file(path)
    g = load_file(path, trust_pickle=True, input_shape=(1, 10))
    assert g.total_params == 484 and body(g)[0] == ("Linear", "linear")


# ---- import specs and the CLI ---------------------------------------------------------------


ZOO = textwrap.dedent("""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
            self.head = nn.Linear(4 * 6 * 6, 2)

        def forward(self, x):
            return self.head(self.body(x))

    def make_net():
        return Net()

    instance = Net()

    def broken():
        raise RuntimeError("no weights here")
""")


def test_load_spec_class_function_and_instance(tmp_path, monkeypatch):
    (tmp_path / "zoo_models.py").write_text(ZOO)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "zoo_models", raising=False)
    for attr in ("Net", "make_net", "instance"):
        g = load_spec(f"zoo_models:{attr}", input_shape=(1, 3, 8, 8))
        assert body(g) == [("Conv2d", "conv"), ("ReLU", "activation"), ("Flatten", "reshape"),
                           ("Linear", "linear")], attr
        assert g.total_params == 3 * 4 * 9 + 4 + 144 * 2 + 2
    with pytest.raises(ModelError, match="needs an example input shape"):
        load_spec("zoo_models:Net")
    with pytest.raises(ModelError, match="has no attribute 'Nope'"):
        load_spec("zoo_models:Nope", input_shape=(1, 3, 8, 8))
    with pytest.raises(ModelError, match=r"calling broken\(\) failed .*no weights here"):
        load_spec("zoo_models:broken", input_shape=(1, 3, 8, 8))
    with pytest.raises(ModelError, match="cannot import module 'no_such_pkg_xyz'"):
        load_spec("no_such_pkg_xyz:make", input_shape=(1, 3, 8, 8))


def test_cli_import_spec_draws_svg_with_one_line_warnings(tmp_path):
    (tmp_path / "zoo_models.py").write_text(ZOO + textwrap.dedent("""
        import torch

        class Branchy(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
                self.head = nn.Linear(4 * 6 * 6, 2)

            def forward(self, x):
                y = self.body(x)
                return self.head(y) if y.sum() > 0 else self.head(-y)
    """))
    out = tmp_path / "net.svg"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    res = subprocess.run([sys.executable, "-m", "nnviz.cli", "zoo_models:Branchy",
                          "--input-shape", "1,3,8,8", "-o", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and all(ln.startswith("nnviz: warning: ") for ln in lines), lines
    assert "falling back to forward hooks" in lines[1]
    svg = out.read_text()
    assert svg.startswith("<") and "Conv2d" in svg and "(1, 2)" in svg


# ---- torch stays optional --------------------------------------------------------------------


def test_import_nnviz_and_onnx_path_never_import_torch(tmp_path):
    pytest.importorskip("nnviz.loaders.onnx", reason="the ONNX loader is not in the tree yet")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph), path)
    code = textwrap.dedent(f"""
        import sys
        import nnviz
        assert "torch" not in sys.modules, "import nnviz imported torch"
        g = nnviz.load({str(path)!r})
        assert [n.op for n in g.nodes.values() if n.kind != "io"] == ["Relu"]
        nnviz.draw(g, {str(tmp_path / "relu.svg")!r})
        assert "torch" not in sys.modules, "the ONNX path imported torch"
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_import_nnviz_alone_never_imports_torch():
    code = "import sys, nnviz, nnviz.cli, nnviz.loaders; print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "False", res.stderr
