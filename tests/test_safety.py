"""Files from strangers: nnviz never reads outside the model's folder and never runs code from
a model file (pickles, Keras Lambda layers, custom-object modules) unless told to trust it.

Each payload is first shown to be live (loading it the unsafe way creates a marker file), so
the "marker was not created" assertions below can fail.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
from fuzz_cases import EXAMPLES, classify, cli, rewrite_zip

COMMANDS = ("draw", "summary", "stats")


def run_all(model: Path, tmp: Path, commands=COMMANDS) -> list[str]:
    outcomes = []
    for command in commands:
        if command == "draw":
            out = tmp / "out.svg"
            res = cli([str(model), "-o", str(out)])
        else:
            out = None
            res = cli([command, str(model)])
        outcomes.append(classify(res, model, out))
        if out is not None and out.exists():
            out.unlink()
    return outcomes


# ---- ONNX external data outside the model folder -----------------------------------------

class OpenWatch:
    """Records every open of a watched file through Python's open functions."""

    def __init__(self, watched: list[Path]):
        self.watched = {os.path.realpath(p) for p in watched}
        self.hits: list[str] = []

    def _check(self, file) -> None:
        if isinstance(file, (str, bytes, os.PathLike)):
            path = os.fsdecode(os.fspath(file))
            if os.path.realpath(path) in self.watched:
                self.hits.append(path)

    def install(self, monkeypatch) -> None:
        real_open, real_io_open, real_os_open = builtins.open, io.open, os.open

        def wopen(file, *a, **k):
            self._check(file)
            return real_open(file, *a, **k)

        def wio_open(file, *a, **k):
            self._check(file)
            return real_io_open(file, *a, **k)

        def wos_open(file, *a, **k):
            self._check(file)
            return real_os_open(file, *a, **k)

        monkeypatch.setattr(builtins, "open", wopen)
        monkeypatch.setattr(io, "open", wio_open)
        monkeypatch.setattr(os, "open", wos_open)


def _external_model(locations: dict[str, str]):
    """An MLP whose weights W1/W2 live in external files at the given locations."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    inits = []
    for name, loc in locations.items():
        t = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[4, 4])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", loc), ("offset", "0"), ("length", "64")):
            t.external_data.add(key=k, value=v)
        inits.append(t)
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"], name="fc1"),
             helper.make_node("MatMul", ["h", "W2"], ["y"], name="fc2")]
    g = helper.make_graph(nodes, "ext", [helper.make_tensor_value_info("x", 1, [1, 4])],
                          [helper.make_tensor_value_info("y", 1, [1, 4])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_external_data_outside_the_folder_is_never_opened(tmp_path: Path, monkeypatch) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.bin"
    secret.write_bytes(b"\x00" * 64)  # a valid 4x4 float32 payload: only refusal stops a read
    folder = tmp_path / "models" / "deep"
    folder.mkdir(parents=True)
    (folder / "link.bin").symlink_to(secret)
    (folder / "ok.bin").write_bytes(b"\x00" * 64)
    cases = {
        "relative": {"W1": "ok.bin", "W2": "../../outside/secret.bin"},
        "absolute": {"W1": str(secret), "W2": "ok.bin"},
        "symlink": {"W1": "ok.bin", "W2": "link.bin"},
        "dotdot_inside": {"W1": "sub/../../../outside/secret.bin", "W2": "ok.bin"},
    }
    watch = OpenWatch([secret])
    watch.install(monkeypatch)
    for label, locs in cases.items():
        model = folder / f"{label}.onnx"
        model.write_bytes(_external_model(locs).SerializeToString())
        draw, summary, stats = run_all(model, folder)
        # The drawing needs no weight bytes at all; stats refuses the location.
        assert draw == summary == "ok", label
        assert stats == "error", label
        res = cli(["stats", str(model)])
        assert "outside the model's folder" in res.stderr, (label, res.stderr)
    assert watch.hits == [], f"opened a file outside the model folder: {watch.hits}"
    # The watch itself works: reading the secret through open() is seen.
    with open(secret, "rb"):
        pass
    assert watch.hits


def test_external_data_inside_the_folder_is_read_by_stats(tmp_path: Path) -> None:
    """The control case: a confined location is read (so the refusals above are meaningful)."""
    import numpy as np

    (tmp_path / "w.bin").write_bytes(np.full(16, 2.0, np.float32).tobytes())
    model = tmp_path / "inside.onnx"
    model.write_bytes(_external_model({"W1": "w.bin", "W2": "w.bin"}).SerializeToString())
    res = cli(["stats", str(model), "--format", "json"])
    assert res.code == 0, res.stderr
    assert '"W1"' in res.stdout and "2" in res.stdout


def test_external_data_fifo_outside_is_never_opened_by_c_code(tmp_path: Path) -> None:
    """C/C++ code (onnx's own loaders, shape inference) bypasses Python's open: a FIFO outside
    the folder would block any reader forever, so a subprocess finishing in time proves nobody
    opened it."""
    from fuzz_cases import run_limited

    outside = tmp_path / "outside"
    outside.mkdir()
    fifo = outside / "trap.bin"
    os.mkfifo(fifo)
    folder = tmp_path / "m"
    folder.mkdir()
    model = folder / "trap.onnx"
    model.write_bytes(_external_model({"W1": "../outside/trap.bin",
                                       "W2": str(fifo)}).SerializeToString())
    out = folder / "trap.svg"
    res = run_limited([model, "-o", out], mem_mb=2048, wall=60)
    assert classify(res, model, out) == "ok"
    res = run_limited(["stats", model], mem_mb=2048, wall=60)
    assert classify(res, model) == "error"


# ---- pickles --------------------------------------------------------------------------------

class Payload:
    """Unpickling this creates the marker file: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _evil_torch_file(path: Path, marker: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"model": Payload(marker), "w": torch.zeros(2)}, path)


def test_pickled_torch_files_are_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "MARKER"
    files = []
    for ext in (".pt", ".pth", ".bin"):
        f = tmp_path / f"evil{ext}"
        _evil_torch_file(f, marker)
        files.append(f)
    legacy = tmp_path / "legacy.pt"  # the pre-1.6 non-zip format: a bare pickle stream
    torch.save({"m": Payload(marker)}, legacy, _use_new_zipfile_serialization=False)
    files.append(legacy)
    raw = tmp_path / "raw.pkl.pt"
    raw.write_bytes(pickle.dumps(Payload(marker)))
    files.append(raw)
    for f in files:
        outcomes = run_all(f, tmp_path)
        assert outcomes == ["error"] * 3, f.name
        assert not marker.exists(), f"loading {f.name} ran code from the file"
    res = cli(["summary", str(files[0])])
    assert "--trust-pickle" in res.stderr
    # The payload is live: loading it the unsafe way runs it.
    torch.load(files[0], weights_only=False)
    assert marker.read_text() == "pwned"


@pytest.mark.skipif(not (EXAMPLES / "torch_hybrid.pt2").exists(), reason="no .pt2 example")
def test_pickles_inside_a_pt2_archive_never_run(tmp_path: Path) -> None:
    """A .pt2 carries torch.save'd members (sample inputs, weights, constants): a hostile one
    swaps in a pickle payload; drawing and stats must not execute it."""
    torch = pytest.importorskip("torch")
    marker = tmp_path / "MARKER"
    src = EXAMPLES / "torch_hybrid.pt2"
    with zipfile.ZipFile(src) as zf:
        members = zf.namelist()
    buf = io.BytesIO()
    torch.save({"x": Payload(marker)}, buf)
    evil = buf.getvalue()
    targets = [m for m in members if m.endswith(("sample_inputs/model.pt", "weights/weight_0",
                                                  "weights/weight_1"))]
    assert targets
    for m in targets:
        case = tmp_path / f"evil_{m.rsplit('/', 1)[-1]}.pt2"
        rewrite_zip(src, case, {m: evil})
        run_all(case, tmp_path, commands=("draw", "stats"))
        assert not marker.exists(), f"a pickle in {m} ran"
    # nnviz reads the program JSON and the weights' raw bytes, never a pickle, even with
    # --trust-pickle. Control: the payload is live (an unsafe load runs it).
    sample = next(m for m in targets if m.endswith("sample_inputs/model.pt"))
    case = tmp_path / "evil_trusted.pt2"
    rewrite_zip(src, case, {sample: evil})
    cli([str(case), "-o", str(tmp_path / "t.svg"), "--trust-pickle"])
    cli(["stats", str(case), "--trust-pickle"])
    assert not marker.exists()
    torch.load(io.BytesIO(evil), weights_only=False)
    assert marker.exists()


# ---- Keras: Lambda layers and custom objects ----------------------------------------------

@pytest.fixture(scope="module")
def keras_lambda_files(tmp_path_factory) -> tuple[dict[str, Path], Path]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    d = tmp_path_factory.mktemp("lambda")
    marker = d / "MARKER"
    # A real lambda, so keras stores its marshalled bytecode in the file (a named function
    # would be stored by name only).
    hostile = eval(f"lambda x: (open({str(marker)!r}, 'w').write('pwned'), x)[1]")

    inp = keras.Input((4,), name="x")
    y = keras.layers.Dense(4, name="fc")(inp)
    y = keras.layers.Lambda(hostile, name="evil_lambda")(y)
    model = keras.Model(inp, keras.layers.Dense(2, name="head")(y), name="lambda_net")
    paths = {"keras": d / "lambda_net.keras", "h5": d / "lambda_net.h5"}
    model.save(paths["keras"])
    model.save(paths["h5"])
    marker.unlink(missing_ok=True)  # building the model traced the Lambda once
    return paths, marker


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_keras_lambda_is_never_deserialized(keras_lambda_files, kind: str,
                                           tmp_path: Path) -> None:
    paths, marker = keras_lambda_files
    outcomes = run_all(paths[kind], tmp_path)
    assert outcomes[:2] == ["ok", "ok"], outcomes  # the architecture is drawable
    assert not marker.exists(), "a Keras Lambda layer was executed"
    svg = (tmp_path / "x.svg")
    cli([str(paths[kind]), "-o", str(svg)])
    assert "evil_lambda" in svg.read_text()


def test_keras_lambda_payload_is_live(keras_lambda_files) -> None:
    """Control: keras itself, with safe_mode off, does run the Lambda."""
    import keras
    import numpy as np

    paths, marker = keras_lambda_files
    model = keras.saving.load_model(paths["keras"], safe_mode=False)
    model(np.zeros((1, 4), np.float32))
    assert marker.exists()
    marker.unlink()


def test_keras_custom_object_module_is_never_imported(tmp_path: Path, monkeypatch) -> None:
    """A config naming a custom layer in a module on sys.path: importing that module would run
    its code; nnviz reads the config as data and must not import it."""
    from fuzz_cases import build_keras_example

    pkg = tmp_path / "evilpkg_nnviz"
    pkg.mkdir()
    marker = tmp_path / "MARKER"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('pwned')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    src = build_keras_example(tmp_path)["keras"]
    import json

    with zipfile.ZipFile(src) as zf:
        config = json.loads(zf.read("config.json"))
    layer = config["config"]["layers"][-1]
    layer["module"] = "evilpkg_nnviz"
    layer["class_name"] = "Boom"
    layer["registered_name"] = "evilpkg_nnviz>Boom"
    case = tmp_path / "custom.keras"
    rewrite_zip(src, case, {"config.json": json.dumps(config).encode()})
    run_all(case, tmp_path)
    assert not marker.exists(), "a custom-object module from the config was imported"
    import importlib

    importlib.import_module("evilpkg_nnviz")  # control: importing it does run the code
    assert marker.exists()
