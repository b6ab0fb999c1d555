"""Passes on graphs from the real loaders: a 12-layer transformer from torch (live and via
an ONNX export) folds to one "×12" block at default settings and expands fully on request."""

from __future__ import annotations

import warnings

import pytest

from nnviz.passes import ViewOptions, annotate, prepare

torch = pytest.importorskip("torch")
nn = torch.nn

LAYERS, D, HEADS, SEQ, VOCAB = 12, 32, 4, 8, 100


class TinyBert(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(D, HEADS, 2 * D, dropout=0.0, batch_first=True)
            for _ in range(LAYERS))
        self.head = nn.Linear(D, 2)

    def forward(self, ids):
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x.mean(1))


@pytest.fixture(scope="module")
def bert_onnx(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("bert") / "bert12.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter names nodes by module scope (/layers.3/self_attn/...).
        torch.onnx.export(TinyBert().eval(), (torch.randint(0, VOCAB, (1, SEQ)),), str(path),
                          dynamo=False, input_names=["ids"], output_names=["logits"])
    return path


def test_onnx_transformer_folds_and_collapses_by_default(bert_onnx):
    from nnviz.loaders import load

    g = load(bert_onnx)
    # Default: the 12 layers are drawn once, in a "x12" frame opened one level (a layer
    # holds residuals, passes.autoview); --depth 1 makes them one "x12" box.
    view = prepare(g)
    frames = [p for p, grp in view.groups.items() if grp.attrs.get("repeat") == LAYERS]
    assert len(frames) == 1 and len(view.nodes) <= 48
    view = prepare(g, ViewOptions(depth=1))
    reps = [n for n in view.nodes.values() if n.meta.get("repeat")]
    assert len(reps) == 1 and reps[0].meta["repeat"] == LAYERS and reps[0].kind == "group"
    assert len(view.nodes) <= 10
    # The folded box still connects the embedding to the head, with shapes.
    order = view.topological_order()
    assert view.nodes[order[0]].op == "Input" and view.nodes[order[-1]].op == "Output"
    assert view.tensors[reps[0].outputs[0]].shape[-1] == D
    full = prepare(g, ViewOptions(depth=99, fold=False))
    assert len(full.nodes) == len(g.nodes) and full.total_params == g.total_params
    # Hiding noise leaves no reshape plumbing in the expanded layer.
    opened = prepare(g, ViewOptions(expand=("layers.0",), depth=99, hide_noise=True))
    assert not {n.op for n in opened.nodes.values()} & {"Reshape", "Transpose", "Shape",
                                                        "Unsqueeze", "Squeeze", "Constant"}
    layer_params = annotate(g).groups[("layers.0",)].attrs["params"]
    assert layer_params > 0


def test_torch_transformer_folds_and_flops_resolve():
    from nnviz.loaders import load

    torch.manual_seed(0)
    model = TinyBert().eval()
    g = load(model, input_shape=(1, SEQ), input_dtype="int64")
    a = annotate(g)
    assert a.meta["trainable_params"] == sum(p.numel() for p in model.parameters())
    view = prepare(g, ViewOptions(fold=True, depth=1))
    reps = [n for n in view.nodes.values() if n.meta.get("repeat") == LAYERS]
    assert len(reps) == 1
    # FLOPs of one layer by hand: q,k,v,o projections + scores + context + the MLP.
    macs = SEQ * 4 * D * D + 2 * SEQ * SEQ * D + 2 * SEQ * D * 2 * D
    layer = a.groups[("layers", "0")] if ("layers", "0") in a.groups else \
        a.groups[("layers.0",)]
    assert not layer.attrs["flops_unknown"], layer.attrs
    assert layer.attrs["macs"] == macs


def test_keras_attention_conv_lstm_flops_by_hand(tmp_path):
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from nnviz.loaders import load

    inp = keras.Input((10, 32))
    x = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, name="mha")(inp, inp)
    x = keras.layers.Conv1D(16, 3, padding="same", name="conv")(x)
    x = keras.layers.LSTM(8, name="lstm")(x)
    model = keras.Model(inp, keras.layers.Dense(2, name="fc")(x))
    model.save(tmp_path / "k.keras")
    g = annotate(load(tmp_path / "k.keras"), {"batch": 2})
    assert g.meta["params"] == model.count_params()
    macs = {n.name: n.meta["macs"] for n in g.nodes.values() if n.kind != "io"}
    tokens = 2 * 10
    # q, k, v, output projections (32 -> 4x8 and back) + Q.K^T and A.V over 10x10 positions
    assert macs["mha"] == tokens * 4 * 32 * 32 + 2 * 10 * 10 * (32 + 32)
    assert macs["conv"] == tokens * 16 * 3 * 32
    assert macs["lstm"] == tokens * (16 * 32 + 8 * 32)  # input + recurrent kernels per step
    assert macs["fc"] == 2 * 8 * 2
