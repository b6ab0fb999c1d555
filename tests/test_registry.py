"""The stage registries: one table each, read by the CLI, the API and every command alike."""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
from pathlib import Path

import click
import pytest
from fuzz_cases import EXAMPLES

from nnviz import cli, loaders
from nnviz.kinds import KINDS
from nnviz.loaders import (
    LOADERS,
    iter_weights,
    load,
    loader_for,
    loader_for_object,
    resolve,
)

# nnviz/__init__ binds the names `layout` and `render` to the stage functions: the packages.
layout = importlib.import_module("nnviz.layout")
render = importlib.import_module("nnviz.render")

FILES = {"onnx": EXAMPLES / "mlp.onnx", "keras": EXAMPLES / "keras_resnet_mini.keras",
         "torch": EXAMPLES / "torch_hybrid.pt2",
         "torchscript": Path(__file__).parent / "fixtures" / "torchscript" / "gated_scripted.pt",
         "tflite": Path(__file__).parent / "fixtures" / "tflite" / "mobilenet_mini_int8.tflite"}


def test_loader_table_is_consistent() -> None:
    names = [spec.name for spec in LOADERS]
    assert len(names) == len(set(names))
    exts = [e for spec in LOADERS for e in spec.extensions]
    assert all(e == e.lower() and e[0] == "." for e in exts)
    for ext, claimants in loaders.EXTENSIONS.items():
        # a shared extension is decided by recognisers: all but the last claimant need one
        assert all(spec.sniff is not None for spec in claimants[:-1]), ext
    for spec in LOADERS:
        refs = [spec.load_file, spec.load_object, spec.file_weights, spec.object_weights]
        for ref in filter(None, refs):
            assert callable(resolve(ref)), ref
        if spec.file_weights:  # every file weight reader takes the trust_pickle keyword
            assert "trust_pickle" in inspect.signature(resolve(spec.file_weights)).parameters


@pytest.mark.parametrize("name", sorted(FILES))
def test_sniffing_routes_like_the_extension(name: str, tmp_path: Path) -> None:
    """A file without a telling extension reaches the same loader, and the graph says which."""
    src = FILES[name]
    assert loader_for(src).name == name
    anon = tmp_path / "model.bin"
    shutil.copyfile(src, anon)
    assert loader_for(anon).name == name
    graph = load(anon)
    assert graph.meta["framework"] == loader_for(anon).tag
    # one kind vocabulary: every loader maps its ops into it
    assert {n.kind for n in graph.nodes.values()} <= set(KINDS)


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_loaders_declared_imports_are_what_reading_its_file_imports(name: str) -> None:
    """``Loader.imports`` (what a batch imports once before forking its workers) names
    third-party modules reading the family's file really imports, in a fresh process."""
    import subprocess
    import sys

    spec = loaders.BY_NAME[name]
    for mod in spec.imports:
        pytest.importorskip(mod, reason=f"the {name} loader's extra is not installed")
    code = ("import sys\nfrom nnviz.loaders import load\nbefore = set(sys.modules)\n"
            f"load({str(FILES[name])!r})\n"
            "print(*sorted(m for m in set(sys.modules) - before if '.' not in m))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(
                              Path(__file__).resolve().parent.parent)}, check=True)
    assert set(spec.imports) <= set(proc.stdout.split())


def test_graph_json_round_trip_is_sniffed(tmp_path: Path) -> None:
    graph = load(FILES["onnx"])
    anon = tmp_path / "graph.data"
    anon.write_text(graph.to_json(), encoding="utf-8")
    assert loader_for(anon).name == "json"
    again = load(anon)
    assert [n.id for n in again.nodes.values()] == [n.id for n in graph.nodes.values()]


def test_keras_on_torch_backend_is_keras_for_every_command() -> None:
    """With the torch backend a keras.Model is also a torch.nn.Module: drawing and stats must
    both read it as keras (stats used to take the torch route and report torch-side names)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras", reason="keras is an optional extra")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="seq")
    assert loader_for_object(model).name == "keras"
    assert load(model).meta["framework"] == "keras"
    names = sorted(w.name for w in iter_weights(model))
    assert names == ["seq/d/bias", "seq/d/kernel"], names


def test_unknown_object_is_one_sentence() -> None:
    with pytest.raises(loaders.ModelError, match="cannot draw an object of type object"):
        load(object())
    with pytest.raises(loaders.ModelError, match="cannot read weights from an object"):
        list(iter_weights(object()))


def _choices(command: click.Command, name: str) -> list[str]:
    (param,) = [p for p in command.params if p.name == name]
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


def test_cli_choices_come_from_the_registries() -> None:
    draw = cli.main.commands["draw"]
    assert _choices(draw, "fmt") == render.format_names(with_aliases=True)
    assert set(_choices(draw, "fmt")) == set(render.FORMATS) | set(render.ALIASES)
    assert _choices(draw, "engine") == list(layout.ENGINES)
    assert _choices(draw, "style") == list(layout.STYLES)
    assert _choices(draw, "direction") == list(layout.DIRECTIONS)
    (out,) = [p for p in draw.params if p.name == "output"]
    for f in render.FORMAT_TABLE:
        assert f.extensions[0] in (out.help or "")


def test_every_format_extension_and_alias_resolves() -> None:
    for f in render.FORMAT_TABLE:
        assert callable(resolve(f.module + ":render"))
        for ext in f.extensions:
            assert render.format_for(f"x{ext}") == f.name
            assert render.format_for(f"X{ext.upper()}") == f.name
        for alias in (f.name, *f.aliases):
            assert render.format_for("", alias) == f.name
    for ref in [*layout.ENGINES.values(), *filter(None, layout.STYLES.values())]:
        assert callable(resolve(ref)), ref


def test_report_format_choices_come_from_the_reports_table() -> None:
    from nnviz.reports import FORMATS as REPORTS

    for command in ("summary", "diff", "stats"):
        assert _choices(cli.main.commands[command], "fmt") == list(REPORTS[command])
