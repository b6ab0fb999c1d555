"""Damaged model files: every case ends in one clean error line naming the file, or a correct
drawing. Never a traceback, an "internal error", a half-written output or a hang.

Variants come from the shipped examples (examples/*.onnx, examples/*.pt2) and a Keras model
this module builds (.keras and .h5): truncations, seeded bit flips, wrong extensions, empty
files, zero-length zip members, and structural damage built with onnx.helper / by editing the
Keras config (huge or negative dims, cycles, dangling references, duplicate names, deep
nesting, millions of declared nodes). NNVIZ_FUZZ_LONG=1 runs many more generated cases.
"""

from __future__ import annotations

import collections
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from fuzz_cases import (
    CASE_SECONDS,
    CPU_LIMIT_SIGNALS,
    EXAMPLES,
    bit_flips,
    build_keras_example,
    classify,
    cli,
    rewrite_zip,
    run_limited,
    scale,
    truncations,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

# loader -> outcome -> count; printed at the end (pytest -s) for the report
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)

ONNX_EXAMPLES = ["mlp.onnx", "resnet_block.onnx", "transformer_block.onnx"]
COMMANDS = ("draw", "summary", "stats")


@pytest.fixture(scope="module", autouse=True)
def _report_tally():
    yield
    for loader, counts in sorted(TALLY.items()):
        print(f"\n[fuzz] {loader}: {sum(counts.values())} cases, {dict(sorted(counts.items()))}")


def try_all(loader: str, model: Path, tmp: Path, commands: tuple[str, ...] = COMMANDS,
            extra: tuple[str, ...] = ()) -> list[str]:
    """Run draw/summary/stats on ``model``; each must end cleanly. Returns the outcomes."""
    results = []
    for command in commands:
        if command == "draw":
            out = tmp / f"{model.stem}.out.svg"
            if out.exists():
                out.unlink()
            res = cli([str(model), "-o", str(out), *extra])
        elif command == "diff":  # the damaged file as the "new" side of a comparison
            out = None
            res = cli(["diff", str(EXAMPLES / "mlp.onnx"), str(model), *extra])
        else:
            out = None
            res = cli([command, str(model), *extra])
        outcome = classify(res, model, out)
        TALLY[loader][f"{command}:{outcome}"] += 1
        results.append(outcome)
    return results


# ---- byte-level damage of the real examples --------------------------------------------------

@pytest.mark.parametrize("name", ONNX_EXAMPLES)
def test_truncated_onnx(name: str, tmp_path: Path) -> None:
    data = (EXAMPLES / name).read_bytes()
    # Baseline: the undamaged file passes every command, so a loader rejecting every file
    # cannot pass the damaged cases below.
    intact = tmp_path / f"intact{Path(name).suffix}"
    intact.write_bytes(data)
    assert set(try_all("onnx", intact, tmp_path, commands=(*COMMANDS, "diff"))) == {"ok"}
    offsets = truncations(data, scale(10, 120), seed=len(name))
    for off in offsets:
        case = tmp_path / f"cut{off}.onnx"
        case.write_bytes(data[:off])
        try_all("onnx", case, tmp_path, commands=(*COMMANDS, "diff"))
        case.unlink()


@pytest.mark.parametrize("name", ONNX_EXAMPLES)
def test_bit_flipped_onnx(name: str, tmp_path: Path) -> None:
    data = (EXAMPLES / name).read_bytes()
    for i, variant in enumerate(bit_flips(data, scale(10, 120), seed=len(name))):
        case = tmp_path / f"flip{i}.onnx"
        case.write_bytes(variant)
        try_all("onnx", case, tmp_path)


_MLP = (EXAMPLES / "mlp.onnx").read_bytes()


@settings(max_examples=scale(20, 400), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(1, len(_MLP)),
       flips=st.lists(st.tuples(st.integers(0, len(_MLP) - 1), st.integers(0, 7)), max_size=6),
       spliced=st.binary(max_size=16))
def test_hypothesis_onnx_bytes(tmp_path: Path, cut: int, flips: list, spliced: bytes) -> None:
    """Hypothesis mixes truncation, bit flips and inserted garbage in one file."""
    buf = bytearray(_MLP)
    for pos, bit in flips:
        buf[pos] ^= 1 << bit
    data = bytes(buf[:cut]) + spliced + bytes(buf[cut:cut + 64])
    case = tmp_path / "hyp.onnx"
    case.write_bytes(data)
    try_all("onnx", case, tmp_path, commands=("draw", "summary"))


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory) -> dict[str, Path]:
    return build_keras_example(tmp_path_factory.mktemp("keras"))


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_truncated_and_flipped_keras(kind: str, keras_files: dict, tmp_path: Path) -> None:
    data = keras_files[kind].read_bytes()
    intact = tmp_path / f"intact.{kind}"  # the baseline: the undamaged file passes
    intact.write_bytes(data)
    assert set(try_all("keras", intact, tmp_path)) == {"ok"}
    for off in truncations(data, scale(8, 80), seed=7):
        case = tmp_path / f"cut{off}.{kind}"
        case.write_bytes(data[:off])
        try_all("keras", case, tmp_path)
        case.unlink()
    for i, variant in enumerate(bit_flips(data, scale(8, 80), seed=11)):
        case = tmp_path / f"flip{i}.{kind}"
        case.write_bytes(variant)
        try_all("keras", case, tmp_path)


def test_keras_zero_length_and_missing_members(keras_files: dict, tmp_path: Path) -> None:
    src = keras_files["keras"]
    with zipfile.ZipFile(src) as zf:
        members = zf.namelist()
    assert "config.json" in members
    variants = {f"zero_{m.replace('/', '_')}": {m: b""} for m in members}
    variants |= {f"drop_{m.replace('/', '_')}": {m: None} for m in members}
    variants["config_not_object"] = {"config.json": b"[1, 2, 3]"}
    variants["config_null"] = {"config.json": b"null"}
    variants["config_deep"] = {"config.json": b"[" * 100_000 + b"]" * 100_000}
    variants["config_latin1"] = {"config.json": b"\xff\xfe{\x00"}
    variants["weights_garbage"] = {"model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 64}
    for label, replace in variants.items():
        case = tmp_path / f"{label}.keras"
        rewrite_zip(src, case, replace)
        outcomes = try_all("keras", case, tmp_path)
        if label.startswith(("zero_config", "drop_config", "config_")):
            assert outcomes[0] == "error", label


def _keras_config(keras_files: dict) -> dict:
    with zipfile.ZipFile(keras_files["keras"]) as zf:
        return json.loads(zf.read("config.json"))


def _layers(config: dict) -> list[dict]:
    return config["config"]["layers"]


def _keras_structural_cases(config: dict) -> dict[str, dict]:
    """Config-level damage a hand-edited or hostile .keras file could carry."""
    cases: dict[str, dict] = {}

    def variant(label: str):
        c = json.loads(json.dumps(config))
        cases[label] = c
        return c

    def dense(c: dict) -> dict:
        return next(layer for layer in _layers(c) if layer["class_name"] == "Dense")

    dense(variant("huge_units"))["config"]["units"] = 10**18
    dense(variant("negative_units"))["config"]["units"] = -7
    dense(variant("units_string"))["config"]["units"] = "many"
    c = variant("huge_input_dims")
    inp = next(layer for layer in _layers(c) if layer["class_name"] == "InputLayer")
    inp["config"]["batch_shape"] = [None, 2**62, 2**62, 3]
    c = variant("negative_input_dims")
    inp = next(layer for layer in _layers(c) if layer["class_name"] == "InputLayer")
    inp["config"]["batch_shape"] = [None, -16, 16, 3]
    # A cycle: the first real layer consumes the head's output.
    c = variant("cycle")
    first, last = _layers(c)[1], _layers(c)[-1]
    first["inbound_nodes"] = json.loads(
        json.dumps(first["inbound_nodes"]).replace(json.dumps(_layers(c)[0]["name"]),
                                                   json.dumps(last["name"])))
    # A dangling reference: a layer consumes a layer that does not exist.
    c = variant("dangling")
    head = _layers(c)[-1]
    head["inbound_nodes"] = json.loads(
        json.dumps(head["inbound_nodes"]).replace(json.dumps(_layers(c)[-2]["name"]),
                                                  json.dumps("no_such_layer")))
    c = variant("dangling_output")
    c["config"]["output_layers"] = [["ghost", 0, 0]]
    # Duplicate names: two layers called the same.
    c = variant("duplicate_names")
    for layer in _layers(c)[1:3]:
        layer["name"] = layer["config"]["name"] = "same"
    c = variant("layers_not_list")
    c["config"]["layers"] = {"a": 1}
    c = variant("layer_is_string")
    c["config"]["layers"].append("oops")
    c = variant("no_class_name")
    del _layers(c)[-1]["class_name"]
    # Deep nesting: the model wrapped in 60 levels of one-layer Functional models.
    deep = json.loads(json.dumps(config))
    for i in range(60):
        deep = {"module": "keras", "class_name": "Sequential",
                "config": {"name": f"wrap{i}", "layers": [deep]}, "registered_name": None}
    cases["nested_60"] = deep
    very = {"class_name": "Sequential", "config": {"name": "x", "layers": []}}
    for i in range(3000):
        very = {"class_name": "Sequential", "config": {"name": f"w{i}", "layers": [very]}}
    cases["nested_3000"] = very
    return cases


def test_keras_structural_damage(keras_files: dict, tmp_path: Path) -> None:
    config = _keras_config(keras_files)
    for label, c in _keras_structural_cases(config).items():
        case = tmp_path / f"{label}.keras"
        try:
            text = json.dumps(c).encode()
        except RecursionError:  # pragma: no cover - json.dumps is iterative enough here
            continue
        rewrite_zip(keras_files["keras"], case, {"config.json": text})
        try_all("keras", case, tmp_path)


PT2 = EXAMPLES / "torch_hybrid.pt2"


@pytest.mark.skipif(not PT2.exists(), reason="examples/torch_hybrid.pt2 not generated")
def test_damaged_pt2(tmp_path: Path) -> None:
    # Drawing reads the archive as data (no torch); stats reads weights through torch.
    data = PT2.read_bytes()
    with zipfile.ZipFile(PT2) as zf:
        members = zf.namelist()
    # Baseline: the undamaged archive, and damage outside the program JSON (weights, sample
    # inputs, the archive_format marker: a drawing does not read them), draw. Without it a
    # loader rejecting every file would pass the cases below.
    assert try_all("torch", PT2, tmp_path, commands=("draw", "stats")) == ["ok", "ok"]
    for m in [m for m in members if m.endswith(("weight_0", "sample_inputs/model.pt",
                                                "archive_format"))]:
        case = tmp_path / f"ok_zero_{m.replace('/', '_')}.pt2"
        rewrite_zip(PT2, case, {m: b""})
        assert try_all("torch", case, tmp_path, commands=("draw",)) == ["ok"], m
    has_torch = True
    try:
        import torch  # noqa: F401
    except ImportError:
        has_torch = False
    for off in truncations(data, scale(4, 40), seed=3):
        case = tmp_path / f"cut{off}.pt2"
        case.write_bytes(data[:off])
        try_all("torch", case, tmp_path, commands=("draw", "stats") if has_torch else ("draw",))
    for i, variant in enumerate(bit_flips(data, scale(3, 40), seed=5)):
        case = tmp_path / f"flip{i}.pt2"
        case.write_bytes(variant)
        try_all("torch", case, tmp_path, commands=("draw",))
    picks = [m for m in members if m.endswith(("models/model.json", "model_weights_config.json",
                                               "byteorder"))]
    if not scale(0, 1):
        picks = picks[:3]
    for m in picks:
        case = tmp_path / f"zero_{m.replace('/', '_')}.pt2"
        rewrite_zip(PT2, case, {m: b""})
        try_all("torch", case, tmp_path, commands=("draw",))
    # The program JSON replaced by valid JSON of the wrong shape: one sentence each.
    model_json = next(m for m in members if m.endswith("models/model.json"))
    program = json.loads(next(zipfile.ZipFile(PT2).read(m) for m in [model_json]))
    nodes = program["graph_module"]["graph"]["nodes"]
    wrong = [b'{"graph_module": 5}', b"[]", b'"text"', b"{}",
             json.dumps({**program, "graph_module": {**program["graph_module"],
                                                     "graph": {"nodes": 7}}}).encode(),
             json.dumps({**program, "graph_module": {
                 **program["graph_module"], "signature": {"input_specs": [{"a": 1, "b": 2}],
                                                          "output_specs": []}}}).encode(),
             json.dumps({**program, "graph_module": {**program["graph_module"], "graph": {
                 **program["graph_module"]["graph"],
                 "nodes": [{**nodes[0], "target": None}] + nodes[1:]}}}).encode(),
             json.dumps({**program, "graph_module": {**program["graph_module"], "graph": {
                 **program["graph_module"]["graph"],
                 "nodes": [{**nodes[0], "inputs": "x"}] + nodes[1:]}}}).encode()]
    for i, text in enumerate(wrong):
        case = tmp_path / f"wrong_json{i}.pt2"
        rewrite_zip(PT2, case, {model_json: text})
        assert try_all("torch", case, tmp_path, commands=("draw",)) == ["error"], text[:60]
    # Weight configs that lie about the stored bytes: stats says so in one sentence.
    wcfg = next(m for m in members if m.endswith("model_weights_config.json"))
    config = json.loads(zipfile.ZipFile(PT2).read(wcfg))
    first = next(iter(config["config"].values()))
    for i, lie in enumerate(({"sizes": [{"as_int": 10**12}]}, {"strides": [{"as_int": -1}]},
                             {"dtype": 99}, {"storage_offset": {"as_int": 10**9}})):
        meta = {**first["tensor_meta"], **lie}
        cfg = {"config": {**config["config"], next(iter(config["config"])): {
            **first, "tensor_meta": meta}}}
        case = tmp_path / f"lying_weights{i}.pt2"
        rewrite_zip(PT2, case, {wcfg: json.dumps(cfg).encode()})
        assert try_all("torch", case, tmp_path, commands=("stats",)) == ["error"], lie
    # Odd but well-formed metadata (module stacks, shapes, output specs) still draws.
    odd = [{**n, "metadata": {"nn_module_stack": "garbage;a,b;,,"}} for n in nodes]
    case = tmp_path / "odd_meta.pt2"
    rewrite_zip(PT2, case, {model_json: json.dumps({**program, "graph_module": {
        **program["graph_module"], "module_call_graph": [{"fqn": "", "signature": {
            "out_spec": "[1, {\"type\": 5}]"}}],
        "graph": {**program["graph_module"]["graph"], "nodes": odd,
                  "tensor_values": {}}}}).encode()})
    assert try_all("torch", case, tmp_path, commands=("draw",)) == ["ok"]


TS_DIR = Path(__file__).resolve().parent / "fixtures" / "torchscript"
TS_GATED = TS_DIR / "gated_scripted.pt"


def test_damaged_torchscript(tmp_path: Path) -> None:
    """TorchScript archives are read as data (no torch needed): damage ends in one sentence."""
    data = TS_GATED.read_bytes()
    # Baseline: the undamaged archive draws, so the cases below can tell damage from breakage.
    case = tmp_path / "intact.pt"
    case.write_bytes(data)
    assert try_all("torchscript", case, tmp_path) == ["ok", "ok", "ok"]
    for off in truncations(data, scale(6, 60), seed=11):
        case = tmp_path / f"cut{off}.pt"
        case.write_bytes(data[:off])
        try_all("torchscript", case, tmp_path, commands=("draw", "stats"))
    for i, variant in enumerate(bit_flips(data, scale(6, 60), seed=13)):
        case = tmp_path / f"flip{i}.pt"
        case.write_bytes(variant)
        try_all("torchscript", case, tmp_path, commands=("draw", "stats"))
    with zipfile.ZipFile(TS_GATED) as zf:
        members = zf.namelist()
    picks = [m for m in members if m.endswith(("data.pkl", "constants.pkl", "version", ".py",
                                               "/data/0"))]
    for m in picks if scale(0, 1) else picks[:4]:
        case = tmp_path / f"zero_{m.replace('/', '_')}.pt"
        rewrite_zip(TS_GATED, case, {m: b""})
        try_all("torchscript", case, tmp_path, commands=("draw", "stats"))
    # code that parses but means nothing: unknown calls, wrong arity, deep nesting
    code = next(m for m in members if m.endswith(".py") and
                b"class Gated" in zipfile.ZipFile(TS_GATED).read(m))
    for label, text in [("junk_calls", b"def f(:\n"),
                        ("deep", b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n"),
                        ("empty_class", b"class Gated(Module):\n  pass\n")]:
        case = tmp_path / f"{label}.pt"
        rewrite_zip(TS_GATED, case, {code: text})
        try_all("torchscript", case, tmp_path, commands=("draw",))


TFL_INT8 = Path(__file__).resolve().parent / "fixtures" / "tflite" / "mobilenet_mini_int8.tflite"
TFL_WHILE = TFL_INT8.parent / "while_loop.tflite"


@pytest.mark.parametrize("model", [TFL_INT8, TFL_WHILE], ids=lambda p: p.name)
def test_damaged_tflite(model: Path, tmp_path: Path) -> None:
    """Flatbuffer offsets point anywhere once damaged: one sentence, never a hang."""
    pytest.importorskip("tflite", reason="the .tflite reader needs the 'tflite' extra")
    data = model.read_bytes()
    case = tmp_path / "intact.tflite"
    case.write_bytes(data)
    assert try_all("tflite", case, tmp_path) == ["ok", "ok", "ok"]  # the baseline draws
    for off in truncations(data, scale(8, 80), seed=17):
        case = tmp_path / f"cut{off}.tflite"
        case.write_bytes(data[:off])
        try_all("tflite", case, tmp_path, commands=("draw", "stats"))
    for i, variant in enumerate(bit_flips(data, scale(10, 120), flips=3, seed=19)):
        case = tmp_path / f"flip{i}.tflite"
        case.write_bytes(variant)
        try_all("tflite", case, tmp_path, commands=("draw", "stats"))
    # the root table offset and a vector length pointed at the end of the file
    for label, pos in (("root", 0), ("vtable", 8)):
        variant = bytearray(data)
        variant[pos:pos + 4] = (len(data) - 2).to_bytes(4, "little")
        case = tmp_path / f"{label}.tflite"
        case.write_bytes(bytes(variant))
        try_all("tflite", case, tmp_path, commands=("draw", "stats"))


# ---- wrong extensions and empty files ---------------------------------------------------------

EXTS = [".onnx", ".keras", ".h5", ".pt2", ".pt", ".pth", ".json", ".bin", ""]


def test_wrong_extensions(keras_files: dict, tmp_path: Path) -> None:
    sources = [EXAMPLES / "mlp.onnx", keras_files["keras"], keras_files["h5"]]
    if PT2.exists() and scale(0, 1):
        sources.append(PT2)
    for src in sources:
        for ext in EXTS:
            if ext == src.suffix:
                continue
            case = tmp_path / f"{src.stem}_as{ext.replace('.', '_') or '_none'}{ext}"
            shutil.copyfile(src, case)
            try_all("wrong-extension", case, tmp_path, commands=("draw", "summary"))
            case.unlink()


def test_empty_and_junk_files(tmp_path: Path) -> None:
    for ext in EXTS:
        for label, data in [("empty", b""), ("text", b"hello, world\n"),
                            ("zeros", b"\x00" * 4096), ("zip_empty", b"PK\x05\x06" + b"\0" * 18),
                            ("hdf5_magic", b"\x89HDF\r\n\x1a\n"), ("onnx_tag", b"\x08")]:
            case = tmp_path / f"{label}{ext}"
            case.write_bytes(data)
            outcomes = try_all("empty/junk", case, tmp_path, commands=("draw", "summary"))
            assert outcomes == ["error", "error"], case.name
            case.unlink()
    # Not a file at all: a directory, a missing path.
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    try_all("empty/junk", folder, tmp_path, commands=("draw", "summary"))
    try_all("empty/junk", tmp_path / "missing.onnx", tmp_path, commands=("draw", "summary"))


# ---- structural damage in ONNX graphs ---------------------------------------------------------

OPSET = [helper.make_opsetid("", 17)]


def vi(name: str, shape, elem: int = TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, inits=(), opsets=OPSET, name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=list(opsets))


def _relu_chain(n: int):
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"r{i}") for i in range(n)]
    return _model(nodes, [vi("t0", [1, 4])], [vi(f"t{n}", [1, 4])])


def _nested_if(depth: int):
    """``depth`` If nodes, each holding the next in its then-branch."""
    inner = helper.make_graph([helper.make_node("Relu", ["x"], ["y0"], name="leaf")], "leaf",
                              [], [vi("y0", [1, 4])])
    for d in range(depth):
        other = helper.make_graph([helper.make_node("Identity", ["x"], [f"e{d}"])], f"else{d}",
                                  [], [vi(f"e{d}", [1, 4])])
        node = helper.make_node("If", ["c"], [f"y{d + 1}"], name=f"if{d}", then_branch=inner,
                                else_branch=other)
        inner = helper.make_graph([node], f"level{d}", [], [vi(f"y{d + 1}", [1, 4])])
    return helper.make_model(
        helper.make_graph(list(inner.node), "nested",
                          [vi("x", [1, 4]), vi("c", [], TensorProto.BOOL)],
                          [vi(f"y{depth}", [1, 4])]), opset_imports=OPSET)


def onnx_structural_cases() -> dict[str, bytes]:
    cases: dict[str, onnx.ModelProto | bytes] = {}
    w = helper.make_tensor("W", TensorProto.FLOAT, [4, 4], [0.0] * 16)
    mm = helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")
    cases["ok_baseline"] = _model([mm], [vi("x", [1, 4])], [vi("y", [1, 4])], [w])
    # Huge dims: declared only (no data), so nothing may try to allocate them.
    huge = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[2**40, 2**40])
    huge.data_location = TensorProto.EXTERNAL
    huge.external_data.add(key="location", value="huge.bin")
    cases["huge_weight_dims"] = _model([mm], [vi("x", [2**62, 4])], [vi("y", None)], [huge])
    cases["huge_input_dims"] = _model([mm], [vi("x", [2**63 - 1, 2**63 - 1])],
                                      [vi("y", None)], [w])
    neg = onnx.TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[-4, 4])
    cases["negative_weight_dims"] = _model([mm], [vi("x", [-1, 4])], [vi("y", None)], [neg])
    cases["negative_input_dims"] = _model([mm], [vi("x", [-5, -7])], [vi("y", None)], [w])
    reshape = helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")
    shape_bad = helper.make_tensor("s", TensorProto.INT64, [3], [2**62, -3, 0])
    cases["absurd_reshape"] = _model([reshape], [vi("x", [1, 4])], [vi("y", None)], [shape_bad])
    # Cycles: a <-> b, and a self loop.
    cases["cycle"] = _model(
        [helper.make_node("Add", ["x", "b_out"], ["a_out"], name="a"),
         helper.make_node("Relu", ["a_out"], ["b_out"], name="b")],
        [vi("x", [1, 4])], [vi("b_out", [1, 4])])
    cases["self_loop"] = _model([helper.make_node("Add", ["x", "y"], ["y"], name="self")],
                                [vi("x", [1, 4])], [vi("y", [1, 4])])
    # Dangling references: inputs nobody produces, outputs nobody produces.
    cases["dangling_input"] = _model(
        [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")],
        [vi("x", [1, 4])], [vi("y", [1, 4])])
    cases["dangling_output"] = _model([mm], [vi("x", [1, 4])], [vi("nowhere", [1, 4])], [w])
    cases["no_nodes"] = _model([], [vi("x", [1, 4])], [vi("x", [1, 4])])
    cases["empty_graph"] = _model([], [], [])
    # Duplicate names: node names, tensor producers, inputs, initializers.
    cases["duplicate_node_names"] = _model(
        [helper.make_node("Relu", ["x"], ["a"], name="dup"),
         helper.make_node("Relu", ["a"], ["y"], name="dup")], [vi("x", [1, 4])],
        [vi("y", [1, 4])])
    cases["duplicate_outputs"] = _model(
        [helper.make_node("Relu", ["x"], ["y"], name="r1"),
         helper.make_node("Sigmoid", ["x"], ["y"], name="r2")], [vi("x", [1, 4])],
        [vi("y", [1, 4])])
    cases["duplicate_inputs"] = _model([mm], [vi("x", [1, 4]), vi("x", [2, 4])],
                                       [vi("y", [1, 4]), vi("y", [1, 4])], [w, w])
    cases["input_is_initializer"] = _model([mm], [vi("x", [1, 4]), vi("W", [4, 4])],
                                           [vi("y", [1, 4])], [w])
    cases["empty_names"] = _model([helper.make_node("Relu", [""], [""], name="")],
                                  [vi("", [1])], [vi("", [1])])
    cases["unknown_op_and_domain"] = _model(
        [helper.make_node("Frobnicate", ["x"], ["y"], name="f", domain="evil.corp",
                          weird=b"\x00\xff" * 10)],
        [vi("x", [1, 4])], [vi("y", None)],
        opsets=OPSET + [helper.make_opsetid("evil.corp", 2**40)])
    cases["opset_absurd"] = _model([mm], [vi("x", [1, 4])], [vi("y", [1, 4])], [w],
                                   opsets=[helper.make_opsetid("", 2**62)])
    cases["opset_negative"] = _model([mm], [vi("x", [1, 4])], [vi("y", [1, 4])], [w],
                                     opsets=[helper.make_opsetid("", -3)])
    cases["wrong_arity"] = _model([helper.make_node("Conv", [], ["y"], name="c", kernel_shape=[
        -3, 2**40], strides=[0, 0], pads=[-1] * 40, group=0)], [], [vi("y", None)])
    cases["nested_if_20"] = _nested_if(20)
    cases["long_chain_3000"] = _relu_chain(3000)
    cases["fanout_1000"] = _model(
        [helper.make_node("Relu", ["x"], [f"o{i}"], name=f"n{i}") for i in range(1000)],
        [vi("x", [1, 4])], [vi(f"o{i}", [1, 4]) for i in range(1000)])
    out: dict[str, bytes] = {}
    for label, m in cases.items():
        out[label] = m if isinstance(m, bytes) else m.SerializeToString()
    # Deeper than protobuf's own recursion limit: build the bytes by hand.
    out["nested_if_150"] = _deep_if_bytes(150)
    out["nested_if_3000"] = _deep_if_bytes(3000)
    return out


def _len_delim(field: int, payload: bytes) -> bytes:
    def varint(v: int) -> bytes:
        b = bytearray()
        while True:
            byte = v & 0x7F
            v >>= 7
            if v:
                b.append(byte | 0x80)
            else:
                b.append(byte)
                return bytes(b)
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def _deep_if_bytes(depth: int) -> bytes:
    """A ModelProto whose If nodes nest ``depth`` deep (GraphProto.node -> NodeProto.attribute
    -> AttributeProto.g -> GraphProto ...), written directly in the wire format."""
    graph = _len_delim(1, _len_delim(4, b"Relu") + _len_delim(1, b"x") + _len_delim(2, b"y"))
    for _ in range(depth):
        # AttributeProto: name (1), type (20, varint tag 0xA0 0x01) = GRAPH (5), g (6)
        attr = _len_delim(1, b"then_branch") + b"\xa0\x01\x05" + _len_delim(6, graph)
        node = (_len_delim(1, b"c") + _len_delim(2, b"y") + _len_delim(4, b"If")
                + _len_delim(5, attr))
        graph = _len_delim(1, node)
    return b"\x08\x08" + _len_delim(7, graph) + _len_delim(8, bytes([2 << 3, 17]))


def _many_nodes_bytes(count: int) -> bytes:
    """A ModelProto declaring ``count`` Relu nodes (a chain): a tiny file, an absurd drawing."""
    parts = [_len_delim(1, _len_delim(1, b"t%d" % i) + _len_delim(2, b"t%d" % (i + 1))
                        + _len_delim(4, b"Relu")) for i in range(count)]
    graph = b"".join(parts) + _len_delim(2, b"chain")
    return b"\x08\x08" + _len_delim(7, graph) + _len_delim(8, bytes([2 << 3, 17]))


def test_onnx_structural_damage(tmp_path: Path) -> None:
    results = {}
    for label, data in onnx_structural_cases().items():
        case = tmp_path / f"{label}.onnx"
        case.write_bytes(data)
        # Summary of thousands of rows is rich-table bound (seconds): draw only for those.
        big = label.startswith(("long_chain", "fanout"))
        results[label] = try_all("onnx-structure", case, tmp_path,
                                 commands=("draw",) if big else COMMANDS)
    assert results["ok_baseline"] == ["ok", "ok", "ok"]
    # Cycles and dangling references are drawable (a cycle is not the user's fault to fix
    # first): they must never crash the layered layout.
    assert results["cycle"][0] == "ok"
    assert results["dangling_input"][0] == "ok"


# ---- real subprocesses: bounded CPU time and address space -----------------------------------

def test_subprocess_limits_are_enforced() -> None:
    """The limits the subprocess cases rely on are real: a child spinning forever is killed
    by the kernel at its CPU budget, and one allocating past its address space gets a
    MemoryError. Neither depends on how busy the machine is."""
    spin = run_limited(["-c", "while True: pass"], cpu_seconds=1, module=None)
    assert spin.code in CPU_LIMIT_SIGNALS, spin
    assert 0.9 <= spin.seconds < 5, spin.seconds  # stopped at its budget, not by the wall
    grab = run_limited(["-c", "b = bytearray(1 << 30)"], mem_mb=512, module=None)
    assert grab.code == 1 and "MemoryError" in grab.stderr, grab
    small = run_limited(["-c", "b = bytearray(1 << 20)"], mem_mb=512, module=None)
    assert small.code == 0 and small.seconds < CASE_SECONDS, small


def test_subprocess_limits(tmp_path: Path) -> None:
    """A handful of cases through the real CLI under RLIMIT_CPU and RLIMIT_AS: each ends
    with one clean error within its CPU budget (``classify``: not killed at the limit, CPU
    seconds under CASE_SECONDS), whatever the machine's load."""
    data = (EXAMPLES / "transformer_block.onnx").read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 3])
    deep = tmp_path / "deep.onnx"
    deep.write_bytes(_deep_if_bytes(5000))
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    cases = [(cut, "error"), (deep, "error"), (empty, "error")]
    if PT2.exists():  # torch logs through its own stderr handler: only a real process shows it
        cut_pt2 = tmp_path / "cut.pt2"
        cut_pt2.write_bytes(PT2.read_bytes()[:50_000])
        cases.append((cut_pt2, "error"))
    for model, expect in cases:
        out = tmp_path / f"{model.stem}.svg"
        res = run_limited([model, "-o", out], mem_mb=2048)
        outcome = classify(res, model, out)
        TALLY["subprocess"][outcome] += 1
        assert outcome == expect, (model.name, res.stderr)


def test_subprocess_absurd_node_count(tmp_path: Path) -> None:
    """Hundreds of thousands of declared nodes (a 5 MB file): refused with advice, in bounded
    time and memory. CI lowers MAX_DRAWN_NODES to keep the run short; the long run uses the
    real limit with 2 million declared nodes."""
    count = scale(30_000, 2_000_000)
    limit = scale(10_000, 200_000)
    many = tmp_path / "many.onnx"
    many.write_bytes(_many_nodes_bytes(count))
    out = tmp_path / "many.svg"
    code = ("import sys, nnviz.api as api; from nnviz.cli import main; "
            f"api.MAX_DRAWN_NODES = {limit}; sys.argv[0] = 'nnviz'; main()")
    res = run_limited(["-c", code, many, "-o", out], cpu_seconds=scale(150, 1800),
                      mem_mb=scale(3072, 8192), module=None)
    outcome = classify(res, many, out)
    TALLY["subprocess"][outcome] += 1
    assert outcome == "error", res.stderr
    assert "--depth" in res.stderr and "--force" in res.stderr, res.stderr


# ---- absurd drawings through the library: refused with advice unless forced ------------------

def _chain_graph(n: int):
    from nnviz.ir import Graph, Node, Tensor

    g = Graph(name="chain")
    g.add_tensor(Tensor("t0", (1, 4), "float32"))
    g.add_node(Node("in", "Input", "io", outputs=["t0"]))
    g.inputs.append("t0")
    for i in range(n):
        g.add_tensor(Tensor(f"t{i + 1}", (1, 4), "float32"))
        g.add_node(Node(f"relu{i}", "Relu", "activation", inputs=[f"t{i}"],
                        outputs=[f"t{i + 1}"]))
    g.add_node(Node("out", "Output", "io", inputs=[f"t{n}"]))
    g.outputs.append(f"t{n}")
    return g


def test_max_drawn_nodes_refuses_unless_forced(monkeypatch, tmp_path: Path) -> None:
    import nnviz.api as api
    from nnviz.errors import NnvizError

    monkeypatch.setattr(api, "MAX_DRAWN_NODES", 150)
    out = tmp_path / "chain.svg"
    with pytest.raises(NnvizError) as info:
        api.draw(_chain_graph(300), out)
    message = str(info.value)
    assert "--depth" in message and "--force" in message and "302" in message
    assert not out.exists()
    api.draw(_chain_graph(300), out, force=True)
    assert out.read_bytes().count(b"Relu") >= 300
    # Through the CLI with a file: one line naming it.
    graph_file = tmp_path / "chain.json"
    graph_file.write_text(_chain_graph(300).to_json())
    res = cli([str(graph_file), "-o", str(tmp_path / "c.svg")])
    assert classify(res, graph_file, tmp_path / "c.svg") == "error"
    assert "--depth" in res.stderr
    res = cli([str(graph_file), "-o", str(tmp_path / "c.svg"), "--force"])
    assert classify(res, graph_file, tmp_path / "c.svg") == "ok"


# ---- hypothesis: structural mutations of real models -----------------------------------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                   max_size=3),
    max_leaves=6)


def _json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _json_paths(value[k], (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_paths(v, (*prefix, i))


def _set_path(doc, path, new):
    if not path:
        return new
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return doc


@pytest.fixture(scope="module")
def keras_config_paths(keras_files):
    config = _keras_config(keras_files)
    return config, list(_json_paths(config))


@settings(max_examples=scale(30, 600), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hypothesis_keras_config_mutations(keras_files, keras_config_paths, tmp_path: Path,
                                           data) -> None:
    """Any JSON value anywhere in config.json: a drawing or one clean sentence."""
    config, paths = keras_config_paths
    doc = json.loads(json.dumps(config))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        try:
            doc = _set_path(doc, path, data.draw(_JSON_VALUES))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed that path
    case = tmp_path / "mut.keras"
    rewrite_zip(keras_files["keras"], case, {"config.json": json.dumps(doc).encode()})
    try_all("keras-config-mutation", case, tmp_path, commands=("draw", "summary"))


_OPS = ["Conv", "Gemm", "MatMul", "Reshape", "Transpose", "Split", "Concat", "Slice", "Gather",
        "MaxPool", "AveragePool", "BatchNormalization", "LayerNormalization", "Softmax",
        "ReduceMean", "Resize", "Pad", "Expand", "Tile", "Einsum", "LSTM", "Attention",
        "ConvTranspose", "Flatten", "Squeeze", "Unsqueeze", "TopK", "Loop", "If", "Scan"]
_ATTR_VALUES = (st.integers(-(2**40), 2**40) | st.lists(st.integers(-(2**33), 2**33), max_size=6)
                | st.text(max_size=6) | st.floats(allow_nan=True, width=32))


@settings(max_examples=scale(30, 600), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hypothesis_onnx_graph_mutations(tmp_path: Path, data) -> None:
    """Real graphs with nodes retyped, attributes and dims set to nonsense, inputs rewired:
    shape inference, FLOP counting, layout and rendering must all cope."""
    name = data.draw(st.sampled_from(["mlp.onnx", "resnet_block.onnx"]))
    m = onnx.load(EXAMPLES / name, load_external_data=False)
    nodes = m.graph.node
    tensors = sorted({t for n in nodes for t in (*n.input, *n.output)}
                     | {i.name for i in m.graph.initializer})
    for _ in range(data.draw(st.integers(1, 4))):
        node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        what = data.draw(st.sampled_from(["op", "attr", "input", "dim", "drop"]))
        if what == "op":
            node.op_type = data.draw(st.sampled_from(_OPS))
        elif what == "attr":
            key = data.draw(st.sampled_from(["kernel_shape", "strides", "pads", "group", "axis",
                                             "perm", "dilations", "transB", "mode", "axes"]))
            value = data.draw(_ATTR_VALUES)
            kept = [a for a in node.attribute if a.name != key]
            del node.attribute[:]
            node.attribute.extend([*kept, helper.make_attribute(key, value)])
        elif what == "input" and node.input:
            node.input[data.draw(st.integers(0, len(node.input) - 1))] = \
                data.draw(st.sampled_from(tensors + ["", "ghost"]))
        elif what == "dim" and m.graph.initializer:
            init = m.graph.initializer[data.draw(st.integers(0, len(m.graph.initializer) - 1))]
            if init.dims:
                init.dims[data.draw(st.integers(0, len(init.dims) - 1))] = \
                    data.draw(st.integers(-(2**62), 2**62))
        elif what == "drop" and len(nodes) > 1:
            del nodes[data.draw(st.integers(0, len(nodes) - 1))]
    case = tmp_path / f"mut_{name}"
    case.write_bytes(m.SerializeToString())
    try_all("onnx-graph-mutation", case, tmp_path)


def test_h5_model_config_damage(keras_files: dict, tmp_path: Path) -> None:
    """Legacy .h5: the model_config attribute replaced by junk, deep nesting or wrong types,
    and weight datasets with absurd shapes."""
    h5py = pytest.importorskip("h5py")
    import numpy as np

    variants = {
        "junk": "not json {",
        "number": "42",
        "deep": "[" * 50_000 + "]" * 50_000,
        "empty_object": "{}",
        "bytes_attr": np.void(b"\x00\xff"),
        "int_attr": np.int64(7),
        "cycle": None,  # filled in below
    }
    with h5py.File(keras_files["h5"], "r") as h5:
        raw = h5.attrs["model_config"]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    cfg = json.loads(text)
    layers = cfg["config"]["layers"]
    layers[1]["inbound_nodes"] = json.loads(json.dumps(layers[1]["inbound_nodes"]).replace(
        json.dumps(layers[0]["name"]), json.dumps(layers[-1]["name"])))
    variants["cycle"] = json.dumps(cfg)
    for label, value in variants.items():
        case = tmp_path / f"{label}.h5"
        shutil.copyfile(keras_files["h5"], case)
        with h5py.File(case, "r+") as h5:
            del h5.attrs["model_config"]
            h5.attrs["model_config"] = value
        try_all("keras", case, tmp_path)
    # A weight dataset declared with an absurd shape (h5 allows a huge, unallocated maxshape).
    case = tmp_path / "huge_weight.h5"
    shutil.copyfile(keras_files["h5"], case)
    with h5py.File(case, "r+") as h5:
        names: list[str] = []
        h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        target = sorted(names)[0]
        del h5[target]
        h5.create_dataset(target, shape=(2**31, 2**20), dtype="float32", chunks=(1, 1024))
    try_all("keras", case, tmp_path)
