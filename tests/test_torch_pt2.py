""".pt2 archives read as data (nnviz/loaders/torch_pt2.py): no torch import, no unpickling.

Real models exported at test time: a torchvision-style ResNet-18, transformers GPT-2 / BERT /
Llama from tiny configs (GPT-2's ``CausalLMOutputWithCrossAttentions`` output is what makes
``torch.export.load`` fail without transformers), and an encoder with a non-persistent mask
buffer and a frozen embedding. The live capture of the same model must draw the same graph.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from nnviz.ir import Graph
from nnviz.loaders import load_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
REPO = EXAMPLES.parent

# Runs in a fresh interpreter where `import torch` fails: drawing a .pt2 must not need it.
NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTorch())
    import nnviz
    from nnviz.cli import main

    path, out = sys.argv[1], sys.argv[2]
    g = nnviz.load(path)
    print(g.total_params, len(g.nodes))
    try:
        main([path, "-o", out])
    except SystemExit as exc:
        assert not exc.code, exc.code
    main(["summary", path, "--format", "markdown"], standalone_mode=False)
    main(["stats", path], standalone_mode=False)  # weights: raw bytes, memory-mapped
    assert "torch" not in sys.modules
""")


def run_without_torch(path: Path, out: Path) -> list[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO)] + sys.path))
    res = subprocess.run([sys.executable, "-c", NO_TORCH, str(path), str(out)],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert out.exists() and out.stat().st_size > 0
    return res.stdout.splitlines()


def role_total(graph: Graph, role: str) -> int:
    seen: dict[str, int] = {}
    for node in graph.nodes.values():
        for p in node.params:
            if p.role == role:
                seen.setdefault(p.name, p.count or 0)
    return sum(seen.values())


def signature(graph: Graph) -> list:
    """Everything a drawing shows of each node: id, op, kind, group, wiring, params, attrs."""
    return [(n.id, n.op, n.kind, n.group, n.inputs, n.outputs, n.attrs,
             [(p.name, p.role, p.trainable, p.shape, p.dtype) for p in n.params])
            for n in graph.nodes.values()]


# ---- without torch ---------------------------------------------------------------------------


@pytest.mark.skipif(not (EXAMPLES / "torch_hybrid.pt2").exists(), reason="no .pt2 example")
def test_shipped_pt2_draws_with_torch_blocked(tmp_path):
    lines = run_without_torch(EXAMPLES / "torch_hybrid.pt2", tmp_path / "hybrid.svg")
    total = int(lines[0].split()[0])
    # HybridNet's parameters() (conv stem, 2 residual blocks, a transformer layer, head).
    assert total == 46_986
    assert any(line.startswith("| **Total** |") and "46,986" in line for line in lines)
    svg = (tmp_path / "hybrid.svg").read_text()
    assert "TransformerEncoderLayer" in svg or "encoder" in svg


def test_program_json_is_all_that_is_read(tmp_path):
    """Weights, sample inputs and configs can be missing: the program JSON is the model."""
    pytest.importorskip("torch")
    src = EXAMPLES / "torch_hybrid.pt2"
    if not src.exists():
        pytest.skip("no .pt2 example")
    only = tmp_path / "only_program.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(only, "w") as zout:
        for name in zin.namelist():
            if name.endswith("models/model.json"):
                zout.writestr(name, zin.read(name))
    assert load_file(only).total_params == load_file(src).total_params == 46_986


# ---- real models -----------------------------------------------------------------------------

torch_needed = pytest.mark.skipif(
    __import__("importlib").util.find_spec("torch") is None,
    reason="building the models needs the torch extra")


@pytest.fixture(scope="module")
def resnet18_pt2(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import torch_real_models as R

    torch.manual_seed(0)
    model = R.resnet18().eval()
    program = torch.export.export(model, (torch.randn(1, 3, 32, 32),))
    path = tmp_path_factory.mktemp("r18") / "resnet18.pt2"
    torch.export.save(program, path)
    return model, program, path


@torch_needed
def test_resnet18_pt2_counts_and_boxes(resnet18_pt2):
    import torch_real_models as R

    model, program, path = resnet18_pt2
    g = load_file(path)
    assert g.name == "ResNet" and g.meta["framework"] == "torch"
    assert g.total_params == R.RESNET18_PARAMS == R.param_count(model)
    assert role_total(g, "buffer") == R.RESNET18_BUFFERS
    # Each call of a module is its own box: BasicBlock calls self.relu twice.
    block = [n.id for n in g.nodes.values() if n.group == ("layer1", "0")]
    assert block == ["layer1.0.conv1", "layer1.0.bn1", "layer1.0.relu", "layer1.0.conv2",
                     "layer1.0.bn2", "add_", "layer1.0.relu@1"]
    assert g.nodes["layer1.0.relu@1"].meta["call"] == 1
    # `out += identity` writes in place: its result (not the stale input) feeds the ReLU.
    add = g.nodes["add_"]
    assert g.nodes["layer1.0.relu@1"].inputs == [add.outputs[0]]
    assert g.nodes["layer1.0.bn2"].outputs[0] in add.inputs
    assert g.nodes["maxpool"].outputs[0] in add.inputs  # the identity skip
    assert g.tensors[g.outputs[0]].shape == (1, 1000)
    # The live capture of the same module draws the same graph.
    from nnviz.loaders.torch import load_object

    live = load_object(program)
    assert signature(live) == signature(g)


@torch_needed
def test_resnet18_pt2_read_as_data_is_faster_than_torch_export_load(resnet18_pt2):
    torch = pytest.importorskip("torch")
    _, _, path = resnet18_pt2
    t0 = time.perf_counter()
    load_file(path)
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    torch.export.load(path)
    theirs = time.perf_counter() - t0
    print(f"\n[pt2] ResNet-18: read as data {ours:.2f} s, torch.export.load {theirs:.2f} s")
    assert ours < theirs  # ~0.2 s vs ~2.5 s here; the load alone, before any drawing


def _hf(name: str):
    pytest.importorskip("torch")
    pytest.importorskip("transformers", reason="the Hugging Face models need transformers")
    import torch_real_models as R

    return getattr(R, name)()


@torch_needed
@pytest.mark.parametrize("which", ["gpt2", pytest.param("bert", marks=pytest.mark.slow),
                                   pytest.param("llama", marks=pytest.mark.slow)])
def test_hugging_face_exports_draw_with_framework_totals(which, tmp_path):
    import torch
    import torch_real_models as R

    from nnviz.loaders.torch import load_object

    model = _hf(which)
    program = R.export_hf(model)
    path = tmp_path / f"{which}.pt2"
    torch.export.save(program, path)
    g = load_file(path)
    # Tied weights (GPT-2's and Llama's lm_head / embedding when tied) count once, as in
    # model.parameters(), and both boxes say so.
    assert g.total_params == R.param_count(model)
    assert role_total(g, "param") == R.param_count(model)
    if which == "gpt2":
        assert g.nodes["lm_head"].meta["shared_params"] == {"transformer.wte.weight": ["wte"]}
        assert g.nodes["transformer.wte"].meta["shared_params"] == {
            "transformer.wte.weight": ["lm_head"]}
    blocks = {"gpt2": ("transformer", "h.1"), "bert": ("encoder", "layer.1"),
              "llama": ("model", "layers.1")}[which]
    assert blocks in g.groups
    assert g.name == type(model).__name__
    live = load_object(program)
    assert signature(live) == signature(g)
    # Drawn live the way users call it (no use_cache=False): the KV-cache output that export
    # cannot flatten is turned off, so it is still the export capture, the same drawing.
    user = load_object(model, input_shape=(1, 8), input_dtype="int64")
    assert user.meta["capture"] == "torch.export"
    assert signature(user) == signature(g)


@torch_needed
def test_gpt2_pt2_draws_with_torch_blocked(tmp_path):
    import torch
    import torch_real_models as R

    model = _hf("gpt2")
    path = tmp_path / "gpt2.pt2"
    torch.export.save(R.export_hf(model), path)
    lines = run_without_torch(path, tmp_path / "gpt2.svg")
    assert int(lines[0].split()[0]) == R.param_count(model)
    assert "shared with lm_head" in (tmp_path / "gpt2.svg").read_text()  # the tied weight
    # At depth 2 the folded blocks are one box named by their range: "h.0 … h.1", not the
    # dotted-name cut "0 … h.1".
    from click.testing import CliRunner

    from nnviz.cli import main

    out = tmp_path / "gpt2_depth2.svg"
    res = CliRunner().invoke(main, [str(path), "-o", str(out), "--depth", "2"])
    assert res.exit_code == 0, res.output
    svg = out.read_text()
    assert "h.0 \u2026 h.1" in svg and ">0 \u2026" not in svg


@torch_needed
def test_non_persistent_buffer_and_frozen_params_in_pt2(tmp_path):
    import torch
    import torch_real_models as R

    model = R.CausalEncoder().eval()
    path = tmp_path / "causal.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(2, 10, dtype=torch.long),)),
                      path)
    g = load_file(path)
    assert g.total_params == R.param_count(model)
    emb = g.nodes["emb"]
    assert [(p.name, p.role, p.trainable) for p in emb.params] == [("emb.weight", "param",
                                                                     False)]
    masks = [p for n in g.nodes.values() for p in n.params if p.name == "causal_mask"]
    assert masks and {p.role for p in masks} == {"buffer"}
    assert role_total(g, "buffer") == 64 * 64


@torch_needed
def test_in_place_slice_write_keeps_its_data_flow(tmp_path):
    """``y[:, :4] = fc(x)`` is slice + copy_ in the saved program: readers of y must see the
    write (an edge from the Linear), with y's own shape."""
    import torch
    from test_torch import InPlace

    path = tmp_path / "inplace.pt2"
    torch.export.save(torch.export.export(InPlace(), (torch.randn(2, 4),)), path)
    g = load_file(path)
    pred = g.predecessors()
    seen: set[str] = set()
    todo = [next(n.id for n in g.nodes.values() if n.op == "Output")]
    while todo:
        for p in pred[todo.pop()]:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    assert "fc" in seen
    copy = next(n for n in g.nodes.values() if n.op == "aten.copy_")
    assert [g.tensors[t].shape for t in copy.outputs] == [(2, 4), (2, 8)]
    assert g.tensors[g.outputs[0]].shape == (2, 8)


@torch_needed
def test_fallback_walk_matches_the_serialized_route(monkeypatch):
    """When torch cannot serialize a program, the in-memory walk draws the same boxes."""
    import torch
    import torch_real_models as R

    from nnviz.loaders import torch_capture
    from nnviz.loaders.torch import load_object

    model = R.CausalEncoder().eval()
    x = torch.zeros(2, 10, dtype=torch.long)
    ref = load_object(model, example_input=x)
    monkeypatch.setattr(torch_capture, "_serialized", lambda ep: None)
    walked = load_object(model, example_input=x)
    assert signature(walked) == signature(ref)


def test_legacy_and_multi_program_archives(tmp_path):
    """Archives from older torch (serialized_exported_program.json) and with several
    programs (the one named "model" is drawn)."""
    src = EXAMPLES / "torch_hybrid.pt2"
    if not src.exists():
        pytest.skip("no .pt2 example")
    with zipfile.ZipFile(src) as zin:
        program = zin.read("torch_hybrid/models/model.json")
    legacy = tmp_path / "legacy.pt2"
    with zipfile.ZipFile(legacy, "w") as zout:
        zout.writestr("serialized_exported_program.json", program)
        zout.writestr("version", "1")
    two = tmp_path / "two.pt2"
    tiny = json.loads(program)
    tiny["graph_module"]["graph"]["nodes"] = []
    with zipfile.ZipFile(two, "w") as zout:
        zout.writestr("arch/models/aaa.json", json.dumps(tiny))
        zout.writestr("arch/models/model.json", program)
    assert load_file(legacy).total_params == load_file(two).total_params == 46_986


def test_symbolic_sizes_read_as_torch_prints_them():
    from nnviz.loaders.torch_pt2 import sym_text

    sym = "Symbol('s77', positive=True, integer=True)"
    assert sym_text(sym) == "s77"
    assert sym_text(f"Mul(Integer(2), {sym})") == "2*s77"
    assert sym_text(f"Add({sym}, Integer(-1))") == "s77 - 1"
    assert sym_text(f"FloorDiv(Add({sym}, Integer(1)), Integer(2))") == "FloorDiv(s77 + 1, 2)"
    assert sym_text(f"Mul(Symbol('s0'), Add({sym}, Integer(1)))") == "s0*(s77 + 1)"
    assert sym_text("Max(Integer(1), Symbol('s2'))") == "Max(1, s2)"
    for odd in ("Mul(", "Integer(2)) x", "'unterminated", "a = b"):
        assert sym_text(odd) == odd  # shown as written, never an exception


@torch_needed
def test_weights_read_as_data_equal_torch_export_load(resnet18_pt2, tmp_path):
    """`nnviz stats` reads each weight's stored bytes (memory-mapped, strided as the config
    says) without torch; the values are torch.export.load's, bfloat16 and fp16 included."""
    import numpy as np
    import torch

    from nnviz.loaders import iter_weights, torch_pt2
    from nnviz.loaders.weights import _torch_tensor

    mixed = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    mixed[0].to(torch.bfloat16)
    mixed[1].to(torch.float16)
    mixed.register_buffer("view", torch.arange(12.0).reshape(3, 4).t())  # a strided buffer

    class Mixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = mixed

        def forward(self, x):
            y = self.m[1](self.m[0](x.to(torch.bfloat16)).to(torch.float16))
            return y.float().sum() + self.m.view.sum()

    path = tmp_path / "mixed.pt2"
    torch.export.save(torch.export.export(Mixed(), (torch.randn(2, 4),)), path)
    for archive in (resnet18_pt2[2], path):
        assert torch_pt2.plain_weights(archive)
        ours = {w.name: w for w in iter_weights(archive)}
        ep = torch.export.load(archive)
        theirs = {n: _torch_tensor(n, t) for n, t in
                  list(ep.state_dict.items()) + list(ep.constants.items())}
        assert ours.keys() == theirs.keys()
        for name, w in ours.items():
            assert (w.shape, w.dtype) == (theirs[name].shape, theirs[name].dtype), name
            assert np.array_equal(np.asarray(w.values), theirs[name].values), name
    assert {w.dtype for w in iter_weights(path)} >= {"bfloat16", "float16"}

