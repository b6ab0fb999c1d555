"""TorchScript archives (torch.jit.save) read as data: graph, hierarchy, counts, safety.

The fixtures in tests/fixtures/torchscript/ come from tools/make_torchscript_fixtures.py; the
expected parameter counts come from PyTorch itself (the same model classes rebuilt here).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import pytest
from fuzz_cases import classify, cli, rewrite_zip

import nnviz
from nnviz.errors import ModelError
from nnviz.loaders import load_file, loader_for
from nnviz.loaders import pickle_data as pd

FIX = Path(__file__).resolve().parent / "fixtures" / "torchscript"
RESNET = FIX / "resnet18_w8_traced.pt"
RESNET_SCRIPTED = FIX / "resnet18_w8_scripted.pth"
GATED = FIX / "gated_scripted.pt"
GATED_PTL = FIX / "gated_mobile.ptl"
GPT2 = FIX / "gpt2_tiny_traced.pt"
QUANT = FIX / "quantized_scripted.pt"
ALL = [RESNET, RESNET_SCRIPTED, GATED, GATED_PTL, GPT2, QUANT]


def torch_count(model) -> tuple[int, int]:
    """PyTorch's convention: parameters() counted, buffers() listed separately."""
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return params, buffers


def buffers_of(graph) -> int:
    seen: dict[str, int] = {}
    for n in graph.nodes.values():
        for p in n.params:
            if p.role == "buffer":
                seen[p.name] = p.count or 0
    return sum(seen.values())


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_fixtures_are_routed_to_the_torchscript_reader(path: Path) -> None:
    assert loader_for(path).name == "torchscript"


def test_resnet18_traced_counts_and_hierarchy() -> None:
    torch = pytest.importorskip("torch", reason="PyTorch's own counts need torch")
    from torchscript_models import ResNet18

    del torch
    g = load_file(RESNET)
    params, buffers = torch_count(ResNet18(width=8, num_classes=10))
    assert g.total_params == params == 177_362
    assert buffers_of(g) == buffers
    ops = [n.op for n in g.nodes.values()]
    assert ops.count("Conv2d") == 20 and ops.count("BatchNorm2d") == 20
    assert ops.count("aten::add") == 8  # one residual add per BasicBlock
    assert ("layer2", "0", "downsample") in g.groups
    assert g.groups[("layer1", "0")].op == "BasicBlock"
    # the traced input shape is recorded in the archive; the passes carry it through
    assert g.tensors["x"].shape == (1, 3, 64, 64)
    prepared = nnviz.prepare(g, nnviz.ViewOptions(depth=99, fold=False))
    fc = prepared.nodes["fc"]
    assert prepared.tensors[fc.outputs[0]].shape == (1, 10)
    assert prepared.tensors[prepared.nodes["conv1"].outputs[0]].shape == (1, 8, 32, 32)


def test_scripted_and_traced_resnet_draw_the_same_layers() -> None:
    a, b = load_file(RESNET), load_file(RESNET_SCRIPTED)
    assert a.total_params == b.total_params
    layers = lambda g: [(n.id, n.op) for n in g.nodes.values() if n.kind != "io"]  # noqa: E731
    assert layers(a) == layers(b)


def test_scripted_model_takes_input_shape_from_the_user() -> None:
    """A scripted archive records no input shape: --input-shape gives it, a traced one's
    recorded shape wins."""
    res = cli(["summary", str(RESNET_SCRIPTED), "--input-shape", "1,3,64,64"])
    assert res.code == 0 and "(1, 10)" in res.stdout, res.stderr
    g = nnviz.prepare(load_file(RESNET_SCRIPTED, input_shape=(1, 3, 64, 64)),
                      nnviz.ViewOptions(depth=99, fold=False))
    assert g.tensors[g.nodes["fc"].outputs[0]].shape == (1, 10)
    assert "capture" not in g.meta and g.meta["input_shape"] == [[1, 3, 64, 64]]
    traced = load_file(RESNET, input_shape=(2, 3, 32, 32))
    assert traced.tensors["x"].shape == (1, 3, 64, 64)


def test_gpt2_traced_counts() -> None:
    pytest.importorskip("transformers", reason="the GPT-2 reference count needs transformers")
    from torchscript_models import gpt2_tiny

    g = load_file(GPT2)
    params, _ = torch_count(gpt2_tiny())
    assert g.total_params == params
    assert ("transformer", "h", "1", "attn") in g.groups
    assert g.groups[("transformer", "h", "0", "attn")].op == "GPT2Attention"
    ops = {n.op for n in g.nodes.values()}
    assert {"Conv1D", "LayerNorm", "Embedding", "aten::scaled_dot_product_attention"} <= ops
    lm = g.nodes["lm_head"]  # tied to the token embedding: counted once
    assert [p.name for p in lm.params] == ["transformer.wte.weight"]
    assert g.tensors["input_ids"].shape == (1, 16) and g.tensors["input_ids"].dtype == "int64"


@pytest.mark.parametrize("path", [GATED, GATED_PTL], ids=lambda p: p.name)
def test_control_flow_groups(path: Path) -> None:
    torch = pytest.importorskip("torch", reason="PyTorch's own counts need torch")
    from torchscript_models import Gated

    del torch
    g = load_file(path)
    assert g.total_params == torch_count(Gated())[0]
    assert buffers_of(g) == torch_count(Gated())[1]
    assert g.groups[("if",)].op == "prim::If" and g.groups[("loop",)].op == "prim::Loop"
    then = [n.op for n in g.nodes.values() if n.group[:2] == ("if", "then")]
    other = [n.op for n in g.nodes.values() if n.group[:2] == ("if", "else")]
    assert then == ["Linear"] and other == ["Linear", "GELU"]
    merge = next(n for n in g.nodes.values() if n.op == "prim::If")
    assert set(merge.inputs) >= {"a", "b.1"}
    assert [n.op for n in g.nodes.values() if n.group == ("loop",)] == \
        ["Linear", "aten::relu", "aten::add"]
    # LayerNorm's eval-mode code path is what is drawn: no training-only branches
    assert "steps" not in g.inputs  # an int argument is not a tensor input


def test_quantized_modules_restore_their_packed_weights() -> None:
    """Quantized Conv2d/Linear are saved through __getstate__ (a tuple) and hold their int8
    weights in torch.classes packed params: __setstate__ is read symbolically to recover them.
    They are not nn.Parameters, so PyTorch's parameters() total is 0 and they are buffers."""
    torch = pytest.importorskip("torch", reason="PyTorch's own counts need torch")
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch build has no fbgemm quantized engine")
    from torchscript_models import quantized_net

    g = load_file(QUANT)
    params, _ = torch_count(quantized_net())
    assert g.total_params == params == 0
    conv = g.nodes["conv"]
    assert conv.op == "Conv2d"
    assert conv.attrs["stride"] == [2, 2] and conv.attrs["padding"] == [1, 1]
    assert [(p.shape, p.dtype, p.role) for p in conv.params] == \
        [((8, 3, 3, 3), "int8", "buffer"), ((8,), "float32", "buffer")]
    assert isinstance(conv.attrs["output_scale"], float)
    fc = g.nodes["fc"]
    assert [p.shape for p in fc.params] == [(10, 512), (10,)]
    assert buffers_of(g) == 8 * 27 + 8 + 10 * 512 + 10 + 2  # + the input QuantStub's scale/zp


def test_scripted_library_code_folds_to_the_called_path(tmp_path: Path) -> None:
    """nn.TransformerEncoder scripted: optional masks left at their None default fold their
    checks away; the fast path and the slow path stay as if-branches; tuples merged across
    branches (MultiheadAttention's result) keep their tensors, so every layer is connected."""
    torch = pytest.importorskip("torch", reason="scripting needs torch")
    from torch import nn

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    path = tmp_path / "enc.pt"
    torch.jit.save(torch.jit.script(enc), path)
    g = load_file(path)
    assert g.total_params == torch_count(enc)[0]
    assert g.inputs == ["src"]  # mask, src_key_padding_mask, is_causal: defaults
    ops = [n.op for n in g.nodes.values()]
    assert ops.count("aten::_transformer_encoder_layer_fwd") == 2
    assert ops.count("aten::scaled_dot_product_attention") == 2
    consumed = {t for n in g.nodes.values() for t in n.inputs}
    for n in g.nodes.values():
        if n.op in ("Dropout", "LayerNorm", "Linear"):
            assert n.inputs, f"{n.id} lost its input"
            assert any(t in consumed for t in n.outputs), f"{n.id} feeds nothing"


def test_real_resnet18_traced_at_test_time(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="tracing needs torch")
    from torchscript_models import ResNet18

    torch.manual_seed(0)
    model = ResNet18(width=16).eval()
    path = tmp_path / "resnet18.pt"
    torch.jit.save(torch.jit.trace(model, torch.randn(1, 3, 32, 32)), path)
    assert load_file(path).total_params == torch_count(model)[0]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NNVIZ_SLOW") != "1", reason="set NNVIZ_SLOW=1 (~70 s)")
def test_full_resnet18_and_gpt2_small(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="tracing needs torch")
    pytest.importorskip("transformers", reason="GPT-2 needs transformers")
    from torchscript_models import ResNet18
    from transformers import GPT2Config, GPT2LMHeadModel

    model = ResNet18().eval()
    path = tmp_path / "resnet18.pt"
    torch.jit.save(torch.jit.trace(model, torch.randn(1, 3, 224, 224)), path)
    assert load_file(path).total_params == torch_count(model)[0] == 11_689_512
    gpt = GPT2LMHeadModel(GPT2Config(torchscript=True, use_cache=False)).eval()
    path = tmp_path / "gpt2.pt"
    torch.jit.save(torch.jit.trace(gpt, torch.zeros(1, 8, dtype=torch.long), strict=False), path)
    res = cli([str(path), "-o", str(tmp_path / "gpt2.svg")])
    assert classify(res, path, tmp_path / "gpt2.svg") == "ok"
    assert load_file(path).total_params == torch_count(gpt)[0]


# ---- what runs when a file is read: nothing ---------------------------------------------------

class _Payload:
    """Unpickling this runs ``os.system`` (plain pickle.loads would create the marker)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("member", ["data.pkl", "constants.pkl"])
def test_pickle_payload_does_not_run(member: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker), protocol=2)
    # the payload is real: the standard unpickler runs it
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    root = zipfile.ZipFile(GATED).namelist()[0].split("/")[0]
    crafted = tmp_path / f"crafted_{member.replace('.', '_')}.pt"
    rewrite_zip(GATED, crafted, {f"{root}/{member}": payload})
    for command in (["summary"], ["stats"], []):
        args = [*command, str(crafted)] + ([] if command else ["-o", str(tmp_path / "o.svg")])
        res = cli(args)
        classify(res, crafted, None if command else tmp_path / "o.svg")
        assert not marker.exists(), f"{member} payload ran during {command or 'draw'}"
    assert isinstance(pd.loads(payload), pd.Call)  # recorded, not called


def test_restricted_reader_never_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__
    imported: list[str] = []

    def spy(name, *a, **k):
        imported.append(name)
        return real(name, *a, **k)

    data = pickle.dumps({"f": print, "g": Path}, protocol=4)
    monkeypatch.setattr(builtins, "__import__", spy)
    value = pd.loads(data)
    monkeypatch.setattr(builtins, "__import__", real)
    assert value == {"f": pd.Global("builtins", "print"), "g": pd.Global("pathlib", "Path")}
    assert "pathlib" not in imported


def test_stats_reads_the_same_values_as_torch() -> None:
    torch = pytest.importorskip("torch", reason="the reference values come from torch.jit.load")
    from nnviz.loaders.torchscript import iter_weights

    ref = dict(torch.jit.load(str(RESNET)).state_dict())
    got = {w.name: w for w in iter_weights(RESNET)}
    assert set(ref) == set(got)
    for name, t in ref.items():
        assert got[name].shape == tuple(t.shape)
        assert (got[name].values == t.numpy()).all(), name
    res = cli(["stats", str(GPT2)])
    assert res.code == 0, res.stderr


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_summary_html_and_determinism(path: Path, tmp_path: Path) -> None:
    res = cli(["summary", str(path)])
    assert res.code == 0 and "Total params" in res.stdout, res.stderr
    outs = []
    for i in range(2):
        out = tmp_path / f"{i}.svg"
        assert cli([str(path), "-o", str(out)]).code == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    html = tmp_path / "v.html"
    assert cli([str(path), "-o", str(html)]).code == 0
    assert b"<html" in html.read_bytes()[:2000].lower()


def test_diff_two_torchscript_files(tmp_path: Path) -> None:
    res = cli(["diff", str(RESNET), str(RESNET_SCRIPTED)])
    assert res.code == 0, res.stderr
    res = cli(["diff", str(RESNET), str(GPT2), "-o", str(tmp_path / "d.svg")])
    assert res.code == 0 and (tmp_path / "d.svg").exists(), res.stderr


def root_code(path: Path) -> str:
    """The code/ member defining the root module's class (Gated)."""
    with zipfile.ZipFile(path) as zf:
        return next(n for n in zf.namelist() if n.endswith(".py") and "/code/" in n and
                    b"class Gated" in zf.read(n))


def test_damaged_members_get_one_sentence(tmp_path: Path) -> None:
    root = zipfile.ZipFile(GATED).namelist()[0].split("/")[0]
    cases = {
        "no_code": {n: None for n in zipfile.ZipFile(GATED).namelist() if "/code/" in n},
        "bad_code": {root_code(GATED): b"class (:\n"},
        "cut_pickle": {f"{root}/data.pkl": zipfile.ZipFile(GATED).read(f"{root}/data.pkl")[:40]},
        "not_module": {f"{root}/data.pkl": pickle.dumps([1, 2, 3], protocol=2)},
    }
    for name, change in cases.items():
        bad = tmp_path / f"{name}.pt"
        rewrite_zip(GATED, bad, change)
        with pytest.raises(ModelError) as err:
            load_file(bad)
            pytest.fail(f"{name} was not refused")
        assert bad.name in str(err.value) and "\n" not in str(err.value)


def test_recursive_code_is_refused(tmp_path: Path) -> None:
    main = root_code(GATED)
    src = zipfile.ZipFile(GATED).read(main).decode()
    looped = src.replace("x0 = (proj).forward(x, )", "x0 = (self).forward(x, steps, )", 1)
    assert looped != src
    bad = tmp_path / "recursive.pt"
    rewrite_zip(GATED, bad, {main: looped.encode()})
    with pytest.raises(ModelError, match="nest too deeply"):
        load_file(bad)


def test_pickle_reader_rejects_garbage() -> None:
    for data in (b"", b"\x80\x02", b"\x80\x02(.", b"\xff", b"\x80\x02h\x05.", b"\x80\x02t."):
        with pytest.raises(pd.PickleDataError):
            pd.loads(data)
    assert pd.loads(pickle.dumps([1, "a", 2.5, None, True, (1, 2), {"k": b"v"}], 5)) == \
        [1, "a", 2.5, None, True, (1, 2), {"k": b"v"}]
