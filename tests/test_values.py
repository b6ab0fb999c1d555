"""Values on the architecture (nnviz.values): capture, statistics, flags and the overlay.

Planted faults must be found at the right box; statistics must equal a direct torch /
onnxruntime computation; bad input gets one sentence and no output file.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="value capture of PyTorch models needs torch")

from click.testing import CliRunner  # noqa: E402

from nnviz.api import draw  # noqa: E402
from nnviz.cli import main  # noqa: E402
from nnviz.errors import NnvizError  # noqa: E402
from nnviz.values import capture  # noqa: E402
from nnviz.values.stats import merge, numpy_stats, torch_stats  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import values_models as vm  # noqa: E402


def flags_of(graph) -> dict[str, list[str]]:
    return {k: v["flags"] for k, v in graph.meta["values"]["flags"].items()}


# ---- statistics -------------------------------------------------------------------------
def test_torch_stats_equal_direct_computation():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(60, 100, generator=g) * 3 + 1  # <= HIST_SAMPLE: exact histogram
    x[x.abs() < 0.05] = 0
    rec = torch_stats(x, absolute=True)
    d = x.double()
    assert rec["count"] == x.numel()
    assert rec["mean"] == pytest.approx(float(d.mean()), rel=1e-5)
    assert rec["std"] == pytest.approx(float(d.std(correction=0)), rel=1e-5)
    assert rec["min"] == pytest.approx(float(d.min()), rel=1e-5)
    assert rec["max"] == pytest.approx(float(d.max()), rel=1e-5)
    assert rec["absmax"] == pytest.approx(float(d.abs().max()), rel=1e-5)
    assert rec["absmean"] == pytest.approx(float(d.abs().mean()), rel=1e-5)
    assert rec["norm"] == pytest.approx(float(d.norm()), rel=1e-5)
    assert rec["zeros"] == pytest.approx(float((d == 0).double().mean()), rel=1e-5)
    assert sum(rec["hist"]["counts"]) == x.numel()
    direct = torch.histc(x, 32, float(x.min()), float(x.max()))
    assert rec["hist"]["counts"] == pytest.approx([int(c) for c in direct], abs=2)
    # numpy (onnxruntime, Keras) gives the same record
    rec_np = numpy_stats(x.numpy())
    for k in rec:
        if k != "hist":
            assert rec_np[k] == pytest.approx(rec[k], rel=1e-5), k
    assert rec_np["hist"]["counts"] == pytest.approx(rec["hist"]["counts"], abs=2)


def test_big_tensor_histogram_is_sampled_and_the_rest_exact():
    x = torch.randn(300_000, generator=torch.Generator().manual_seed(2)) + 100.0  # |mean|>>std
    rec = torch_stats(x)
    assert rec["hist"]["sampled"] == sum(rec["hist"]["counts"]) <= 8192
    assert rec["std"] == pytest.approx(float(x.double().std(correction=0)), rel=1e-5)
    assert rec["absmean"] is None  # only asked for weights and their gradients


def test_stats_count_nan_inf_and_describe_the_finite_rest():
    x = torch.tensor([1.0, float("nan"), 3.0, float("inf"), -float("inf"), 0.0])
    rec = torch_stats(x)
    assert (rec["nan"], rec["inf"], rec["count"]) == (1, 2, 6)
    assert rec["mean"] == pytest.approx(4 / 3, rel=1e-5)
    assert rec["max"] == 3.0 and rec["min"] == 0.0
    assert numpy_stats(x.numpy())["nan"] == 1 and numpy_stats(x.numpy())["inf"] == 2


def test_saturation_rules():
    s = torch.tensor([0.001, 0.5, 0.999, 0.2])
    assert torch_stats(s, "sigmoid")["saturated"] == pytest.approx(0.5)
    t = torch.tensor([-0.995, 0.0, 0.3, 0.999])
    assert torch_stats(t, "tanh")["saturated"] == pytest.approx(0.5)
    sm = torch.tensor([[0.995, 0.005], [0.5, 0.5]])
    assert torch_stats(sm, "softmax")["saturated"] == pytest.approx(0.5)


def test_merge_equals_stats_of_the_concatenation():
    a, b = torch.randn(100), torch.randn(37) * 5 + 2
    merged = merge([torch_stats(a), torch_stats(b)])
    whole = torch_stats(torch.cat([a, b]))
    for k in ("count", "mean", "std", "min", "max", "absmax", "absmean", "norm", "zeros"):
        assert merged[k] == pytest.approx(whole[k], rel=1e-4), k


def test_captured_values_equal_a_direct_forward_and_backward():
    model = vm.SmallCNN()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    graph = capture(model, sample=x)
    values = graph.meta["values"]
    assert model.training  # capture ran in eval mode and restored the flag
    assert all(p.grad is None for p in model.parameters())  # and left no .grad behind
    # the same computation by hand
    model.eval()
    xt = torch.from_numpy(x)
    acts = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, o))
             for n, m in model.named_modules() if n in ("conv1", "conv2", "fc")]
    out = model(xt)
    for h in hooks:
        h.remove()
    for name in ("conv1", "conv2"):
        node = graph.nodes[name]
        rec = values["tensors"][node.outputs[0]]["act"]
        assert rec["std"] == pytest.approx(float(acts[name].detach().double().std(correction=0)),
                                           rel=1e-4)
        assert rec["absmax"] == pytest.approx(float(acts[name].detach().abs().max()), rel=1e-5)
    out.mean().backward()
    for name, p in model.named_parameters():
        assert values["params"][name]["grad"]["norm"] == pytest.approx(float(p.grad.norm()),
                                                                         rel=1e-4), name
        if float(p.detach().norm()) > 0:  # BatchNorm's zero bias has no ratio
            assert values["params"][name]["ratio"] == pytest.approx(
                float(p.grad.norm() / p.detach().norm()), rel=1e-4)


def test_exported_program_gives_the_same_values_as_the_live_module():
    model = vm.SmallCNN().eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    live = capture(model, sample=x)
    ep = torch.export.export(model, (torch.from_numpy(x),))
    exported = capture(ep, sample=x)
    lv, ev = live.meta["values"], exported.meta["values"]
    for name in ("conv1.weight", "fc.weight", "bn1.weight"):
        assert ev["params"][name]["grad"]["norm"] == pytest.approx(
            lv["params"][name]["grad"]["norm"], rel=1e-4)
    # every drawn node's output has statistics
    for g in (live, exported):
        tensors = g.meta["values"]["tensors"]
        for node in g.nodes.values():
            for t in node.outputs:
                assert t in tensors, (node.id, t)


# ---- planted faults -----------------------------------------------------------------------
def test_nan_in_one_weight_points_at_that_layer():
    graph = capture(vm.NaNWeight(), input_shape=(4, 8))
    fl = flags_of(graph)
    origins = [n for n, f in fl.items() if "nan-origin" in f]
    assert origins == ["fc2"]
    assert "weight-nan" in fl["fc2"]
    # its consumers carry NaN too but are not blamed
    assert graph.meta["values"]["tensors"][graph.nodes["fc3"].outputs[0]]["act"]["nan"] > 0
    assert "nan-origin" not in fl.get("fc3", [])


def test_relu_behind_bias_minus_100_is_dead():
    graph = capture(vm.DeadReLU(), input_shape=(4, 8))
    fl = flags_of(graph)
    assert [n for n, f in fl.items() if "dead" in f] == ["relu"]


def test_twenty_layer_sigmoid_mlp_vanishes_in_the_first_layers():
    graph = capture(vm.sigmoid20(), input_shape=(4, 16))
    fl = flags_of(graph)
    vanishing = [n for n, f in fl.items() if "vanishing" in f]
    linears = [n.id for n in graph.nodes.values() if n.op == "Linear"]
    assert vanishing, fl
    assert linears[0] in vanishing and linears[-1] not in vanishing
    # the flagged layers are a prefix of the network: gradients die toward the input
    assert vanishing == linears[:len(vanishing)]
    assert not any("exploding" in f for f in fl.values())


def test_mlp_initialised_x10_explodes():
    graph = capture(vm.exploding(), input_shape=(4, 32))
    fl = flags_of(graph)
    linears = [n.id for n in graph.nodes.values() if n.op == "Linear"]
    assert all("exploding" in fl.get(n, []) for n in linears)


def test_healthy_mlp_has_no_flags():
    graph = capture(vm.mlp(32, 6), input_shape=(4, 32))
    assert flags_of(graph) == {}


# ---- the drawing ----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf", "dot", "json", "tex"])
def test_overlay_in_every_format(tmp_path, fmt):
    graph = capture(vm.NaNWeight(), input_shape=(4, 8))
    out = tmp_path / f"net.{fmt}"
    draw(graph, out, overlay={"overlay": "activations"})
    data = out.read_bytes()
    assert data
    if fmt in ("svg", "dot", "tex", "json"):
        text = data.decode()
        assert "NaN origin" in text or fmt == "json"
        assert "#d1005f" in text or fmt in ("tex", "json")
    if fmt == "json":
        doc = json.loads(data)
        node = next(n for n in doc["nodes"] if n["id"] == "fc2")
        assert node["meta"]["overlay"]["flags"] == ["nan-origin", "weight-nan"]
        assert doc["graph"]["meta"]["overlay"]["metric"] == "std"


def test_overlay_values_and_legend_in_svg(tmp_path):
    graph = capture(vm.mlp(16, 3), input_shape=(2, 16))
    out = tmp_path / "net.svg"
    draw(graph, out, overlay={"overlay": "weights", "metric": "norm"})
    svg = out.read_text()
    fc = graph.meta["values"]["params"]["0.weight"]["weight"]["norm"]
    assert "weights: norm" in svg  # legend title
    assert "norm " in svg
    norm = math.sqrt(fc ** 2 + graph.meta["values"]["params"]["0.bias"]["weight"]["norm"] ** 2)
    assert f"norm {norm:.3g}" in svg


def test_overlay_blocks_style(tmp_path):
    graph = capture(vm.SmallCNN(), input_shape=(1, 3, 8, 8))
    out = tmp_path / "blocks.svg"
    draw(graph, out, style="blocks", overlay={"overlay": "gradients", "metric": "norm"})
    svg = out.read_text()
    assert "gradients: norm" in svg and "norm " in svg


def test_overlay_is_deterministic(tmp_path):
    outs = []
    for i in range(2):
        graph = capture(vm.SmallCNN(), input_shape=(2, 3, 8, 8), seed=3)
        out = tmp_path / f"n{i}.svg"
        draw(graph, out, overlay={"overlay": "gradients", "metric": "ratio"})
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_collapsed_group_carries_the_flags_inside_it(tmp_path):
    from nnviz.passes import ViewOptions

    graph = capture(vm.mlp(8, 3, scale=1.0), input_shape=(2, 8))
    for n in graph.nodes.values():  # the first three layers into one group "body"
        if n.id in ("0", "1", "2"):
            n.group = ("body",)
    graph.ensure_group(("body",))

    def body_box(flags):
        graph.meta["values"]["flags"] = flags
        d = draw(graph, None, view=ViewOptions(collapse=("body",), depth=1),
                 overlay={"overlay": "activations"})
        return next(n for n in d.graph.nodes.values()
                    if n.kind == "group" and list(n.meta["group"])[-1] == "body")

    box = body_box({"4": {"flags": ["dead"], "group": []}})  # outside the group
    assert box.meta["overlay"]["flags"] == []
    box = body_box({"0": {"flags": ["dead"], "group": ["body"]}})
    assert box.meta["overlay"]["flags"] == ["dead"]
    assert box.meta["overlay"]["badge"] == "dead"
    # depth 0: the whole model is one box, and it carries every flag
    graph.meta["values"]["flags"] = {"4": {"flags": ["dead"], "group": []}}
    d = draw(graph, None, view=ViewOptions(depth=0), overlay={"overlay": "activations"})
    model_box = next(n for n in d.graph.nodes.values() if n.kind == "group")
    assert model_box.meta["overlay"]["flags"] == ["dead"]


# ---- CLI and bad input ----------------------------------------------------------------------
@pytest.fixture
def in_tests(monkeypatch):
    monkeypatch.chdir(HERE)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_overlay_from_import_spec(tmp_path, in_tests):
    out = tmp_path / "net.svg"
    r = run("values_models:NaNWeight", "--input-shape", "4,8", "-o", out, "--overlay",
            "activations")
    assert r.exit_code == 0, r.output
    assert "NaN origin" in out.read_text()
    assert "flagged fc2: nan-origin" in r.output


def test_cli_sample_file_and_target(tmp_path, in_tests):
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float64)  # float64: cast
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([0, 1, 2, 3]))
    out = tmp_path / "net.svg"
    r = run("values_models:DeadReLU", "-o", out, "--overlay", "gradients", "--sample",
            tmp_path / "x.npy", "--target", tmp_path / "y.npy", "--loss", "cross_entropy")
    assert r.exit_code == 0, r.output
    assert "cross-entropy" in r.output
    assert out.exists()


@pytest.mark.parametrize("case", ["shape", "raises", "nan", "dtype", "missing"])
def test_bad_input_is_one_sentence_and_no_file(tmp_path, in_tests, case):
    out = tmp_path / "net.svg"
    spec = "values_models:DeadReLU"
    if case == "shape":
        np.save(tmp_path / "x.npy", np.zeros((4, 5), np.float32))
        args = [spec, "--sample", tmp_path / "x.npy"]
    elif case == "raises":
        args = ["values_models:Raises", "--input-shape", "2,4"]
    elif case == "nan":
        x = np.zeros((4, 8), np.float32)
        x[1, 2] = np.nan
        np.save(tmp_path / "x.npy", x)
        args = [spec, "--sample", tmp_path / "x.npy"]
    elif case == "dtype":
        np.save(tmp_path / "x.npy", np.array(["a", "b"]))
        args = [spec, "--sample", tmp_path / "x.npy"]
    else:
        args = [spec, "--sample", tmp_path / "nope.npy"]
    r = run(*args, "-o", out, "--overlay", "activations")
    assert r.exit_code == 1, r.output
    err = [ln for ln in r.output.splitlines() if ln.startswith("nnviz: error")]
    assert len(err) == 1 and "Traceback" not in r.output, r.output
    assert not out.exists()
    assert not list(tmp_path.glob(".net.svg*"))


def test_overlay_options_need_an_overlay(tmp_path):
    r = run(HERE.parent / "examples" / "mlp.onnx", "-o", tmp_path / "x.svg", "--metric", "std")
    assert r.exit_code == 2


def test_gradients_overlay_refused_without_gradients(tmp_path):
    graph = capture(vm.mlp(8, 2), input_shape=(2, 8), gradients=False)
    with pytest.raises(NnvizError, match="no gradients"):
        draw(graph, tmp_path / "x.svg", overlay={"overlay": "gradients"})
    assert not (tmp_path / "x.svg").exists()


# ---- ONNX through onnxruntime -------------------------------------------------------------
def test_onnx_activations_equal_a_direct_onnxruntime_run(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="ONNX values need the 'values' extra")
    import onnx

    path = HERE.parent / "examples" / "mlp.onnx"
    graph = capture(str(path), seed=0)
    values = graph.meta["values"]
    assert values["gradients"] is False and "inference only" in values["loss"]
    model = onnx.load(str(path))
    inp = model.graph.input[0]
    want = "/act1/Relu_output_0"
    model.graph.output.append(onnx.ValueInfoProto(name=want))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = [d.dim_value or 1 for d in inp.type.tensor_type.shape.dim]  # batch -> 1
    x = np.random.Generator(np.random.PCG64(0)).standard_normal(shape).astype(np.float32)
    probs, relu = sess.run(["probs", want], {inp.name: x})
    rec = values["tensors"][want]["act"]
    assert rec["std"] == pytest.approx(float(relu.astype(np.float64).std()), rel=1e-5)
    assert rec["zeros"] == pytest.approx(float((relu == 0).mean()), rel=1e-5)
    sm = values["tensors"]["probs"]["act"]
    assert sm["max"] == pytest.approx(float(probs.max()), rel=1e-5)
    assert "saturated" in sm  # a softmax output
    out = tmp_path / "mlp.svg"
    draw(graph, out, overlay={"overlay": "activations", "metric": "zeros"})
    assert "activations: zeros" in out.read_text()
    with pytest.raises(NnvizError, match="no gradients"):
        draw(graph, tmp_path / "g.svg", overlay={"overlay": "gradients"})


def test_onnx_wrong_sample_shape_is_one_sentence(tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX values need the 'values' extra")
    np.save(tmp_path / "x.npy", np.zeros((3, 3), np.float32))
    out = tmp_path / "net.svg"
    r = run(HERE.parent / "examples" / "mlp.onnx", "-o", out, "--overlay", "activations",
            "--sample", tmp_path / "x.npy")
    assert r.exit_code == 1 and "x.npy: input" in r.output and "expects" in r.output, r.output
    assert not out.exists()


# ---- gradient flow chart ------------------------------------------------------------------
def test_grads_rows_in_forward_order_with_vanishing_marked(tmp_path, in_tests):
    out = tmp_path / "flow.json"
    r = run("grads", "values_models:sigmoid20", "--input-shape", "8,16", "-o", out)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    layers = doc["layers"]
    assert [row["layer"] for row in layers] == [str(i) for i in range(0, 41, 2)]
    assert "vanishing" in layers[0]["flags"] and not layers[-1]["flags"]
    means = [row["mean_abs"] for row in layers]
    assert means[0] < means[-1] * 1e-6  # the first layers get almost nothing
    assert "mean of the output" in doc["note"]


@pytest.mark.parametrize("ext", ["svg", "png", "pdf", "csv", "md"])
def test_grads_every_output_format(tmp_path, in_tests, ext):
    out = tmp_path / f"flow.{ext}"
    r = run("grads", "values_models:exploding", "--input-shape", "4,32", "-o", out)
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data
    if ext == "svg":
        assert b"exploding" in data and b"Gradient flow" in data
    if ext == "csv":
        assert data.decode().splitlines()[0].startswith("layer,op,mean_abs_grad")


def test_grads_without_gradients_is_one_sentence(tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX values need the 'values' extra")
    out = tmp_path / "flow.svg"
    r = run("grads", HERE.parent / "examples" / "mlp.onnx", "-o", out)
    assert r.exit_code == 1 and "no gradients" in r.output
    assert not out.exists()


# ---- Keras --------------------------------------------------------------------------------
def _keras():
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first keras import
    keras = pytest.importorskip("keras", reason="Keras values need the 'keras' extra")
    if keras.backend.backend() != "torch":
        pytest.skip("Keras gradients are computed on the torch backend")
    return keras


def test_keras_values_equal_a_direct_run(tmp_path):
    keras = _keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu",
                                                                     name="d1"),
                              keras.layers.Dense(4, activation="sigmoid", name="d2")])
    path = tmp_path / "m.keras"
    model.save(path)
    x = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    graph = capture(str(path), sample=str(tmp_path / "x.npy"))
    values = graph.meta["values"]
    h = keras.ops.convert_to_numpy(keras.Model(model.inputs, model.layers[0].output)(x))
    assert values["tensors"]["d1:0"]["act"]["std"] == pytest.approx(float(h.std()), rel=1e-5)
    assert "saturated" in values["tensors"]["d2:0"]["act"]
    # gradients on the torch backend: the kernel's gradient equals torch autograd's
    import torch

    xt = torch.from_numpy(x)
    with torch.enable_grad():
        out = model(xt, training=False)
        (g,) = torch.autograd.grad(out.mean(), [model.layers[1].kernel.value])
    assert values["params"]["d2/kernel"]["grad"]["norm"] == pytest.approx(float(g.norm()),
                                                                           rel=1e-4)
    out = tmp_path / "k.svg"
    draw(graph, out, overlay={"overlay": "gradients"})
    assert "gradients: norm" in out.read_text()


# ---- two checkpoints ------------------------------------------------------------------------
def test_diff_weights_only_the_trained_layer_changes(tmp_path, in_tests):
    model = vm.four_layers()
    torch.save(model.state_dict(), tmp_path / "old.pt")
    for p in model.parameters():
        p.requires_grad_(False)
    trained = model[2]  # the second Linear
    for p in trained.parameters():
        p.requires_grad_(True)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 8)).pow(2).mean().backward()
        opt.step()
    torch.save(model.state_dict(), tmp_path / "new.pt")
    out = tmp_path / "change.svg"
    r = run("diff", tmp_path / "old.pt", tmp_path / "new.pt", "--weights", "--model",
            "values_models:four_layers", "--input-shape", "2,8", "--capture", "hooks", "-o", out)
    assert r.exit_code == 0, r.output
    assert "frozen (3): 0, 4, 6" in r.output
    assert "most changed: 2" in r.output
    svg = out.read_text()
    assert "relative weight change" in svg and "most changed" in svg and "frozen" in svg
    js = tmp_path / "change.json"
    r = run("diff", tmp_path / "old.pt", tmp_path / "new.pt", "--weights", "--model",
            "values_models:four_layers", "--input-shape", "2,8", "--capture", "hooks", "-o", js)
    doc = json.loads(js.read_text())
    changes = {row["layer"]: row["change"] for row in doc["layers"]}
    w_old = torch.load(tmp_path / "old.pt")
    w_new = model.state_dict()
    expect = math.sqrt(sum(float((w_new[k] - w_old[k]).norm()) ** 2 for k in ("2.weight",
                                                                              "2.bias")))
    expect /= math.sqrt(sum(float(w_old[k].norm()) ** 2 for k in ("2.weight", "2.bias")))
    assert changes["2"] == pytest.approx(expect, rel=1e-5)
    assert [k for k, v in changes.items() if v] == ["2"]


def test_diff_weights_of_different_architectures_is_one_sentence(tmp_path, in_tests):
    torch.save(vm.mlp(8, 2).state_dict(), tmp_path / "a.pt")
    torch.save(vm.mlp(16, 2).state_dict(), tmp_path / "b.pt")
    out = tmp_path / "c.svg"
    r = run("diff", tmp_path / "a.pt", tmp_path / "b.pt", "--weights", "--model",
            "values_models:four_layers", "--input-shape", "2,8", "--capture", "hooks", "-o", out)
    assert r.exit_code == 1 and "same architecture" in r.output, r.output
    assert not out.exists()


# ---- HTML viewer ----------------------------------------------------------------------------
def _page_data(path: Path) -> dict:
    from nnviz.viewer.payload import read_page

    return read_page(path.read_text(encoding="utf-8"))


def test_viewer_data_has_metrics_histograms_and_flags(tmp_path):
    graph = capture(vm.NaNWeight(), input_shape=(4, 8))
    out = tmp_path / "v.html"
    draw(graph, out, overlay={"overlay": "activations"})
    vals = _page_data(out)["values"]
    keys = [m["key"] for m in vals["metrics"]]
    assert keys[:2] == ["params", "flops"] and "act:std" in keys and "grad:norm" in keys
    assert vals["start"] == "act:std"
    names = _page_data(out)["nodes"]["name"]
    flagged = {names[i] if isinstance(names[i], str) else i: b for i, b, _ in vals["flags"]}
    assert flagged == {"fc2": "NaN origin +1"}
    i = names.index("fc1")
    lo, hi, counts = vals["hist"]["act"][i]
    assert sum(counts) == 4 * 16 and lo < hi
    # a plain drawing still offers params and FLOPs as colours, and no values
    plain = tmp_path / "p.html"
    draw(capture(vm.mlp(8, 2), input_shape=(2, 8)), plain)
    assert [m["key"] for m in _page_data(plain)["values"]["metrics"]][:2] == ["params", "flops"]


def test_viewer_colour_by_and_flag_list_in_chromium(tmp_path):
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    sys.path.insert(0, str(HERE.parent / "bench"))
    from viewer_browser import browser_page, chromium_path

    if chromium_path() is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    graph = capture(vm.NaNWeight(), input_shape=(4, 8))
    out = tmp_path / "v.html"
    draw(graph, out, overlay={"overlay": "gradients"})
    with browser_page() as page:
        page.goto(out.resolve().as_uri())
        page.wait_for_selector("html[data-ready]", timeout=30000)
        assert page.evaluate("nnviz.colorKey()") == "grad:norm"
        page.select_option("#color-by", "act:std")
        assert page.evaluate("nnviz.colorKey()") == "act:std"
        assert page.evaluate("nnviz.tintOf(1)") is not None  # fc1 has a value
        assert not page.is_hidden("#legend")
        page.click("#btn-flags")
        page.click("#flag-list button")
        assert page.evaluate("nnviz.state().selection.name") == "fc2"
        assert page.locator("#details canvas.hist").count() >= 1
        page.select_option("#color-by", "kind")
        assert page.is_hidden("#legend") and page.evaluate("nnviz.tintOf(1)") is None
        assert page.console_errors == []


def test_blocks_style_shows_the_value_after_a_fused_relu_and_its_flag(tmp_path):
    graph = capture(vm.DeadReLU(), input_shape=(4, 8))
    out = tmp_path / "b.svg"
    draw(graph, out, style="blocks", overlay={"overlay": "activations", "metric": "zeros"})
    svg = out.read_text()
    assert "zeros 1" in svg  # fc1 + ReLU: the ReLU's output, all zeros
    assert "dead" in svg and "#d1005f" in svg
