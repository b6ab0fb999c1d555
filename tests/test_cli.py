"""The CLI end to end on the shipped examples, and its behaviour on bad input.

A few cases run the real process (exit codes, stderr as the user sees it); the rest use
click's CliRunner, which is faster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnviz.cli import main

EXAMPLE_STEMS = ["mlp", "resnet_block", "transformer_block", "transformer12"]
SVG = "{http://www.w3.org/2000/svg}"


def run_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in a real process, through the same interpreter that runs the tests."""
    env = {k: v for k, v in os.environ.items() if k != "NNVIZ_DEBUG"}
    return subprocess.run([sys.executable, "-m", "nnviz.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_one_line_error(stderr: str, names: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert names in lines[0], stderr
    assert "Traceback" not in stderr


def leftovers(directory: Path) -> list[str]:
    """Files an interrupted atomic write could leave (hidden temp files included)."""
    return sorted(p.name for p in directory.iterdir())


# ---- real processes ------------------------------------------------------------------------

def test_process_draws_svg(tmp_path, examples_dir):
    out = tmp_path / "net.svg"
    proc = run_process(str(examples_dir / "resnet_block.onnx"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(out).getroot()
    assert root.tag == SVG + "svg"
    text = out.read_text(encoding="utf-8")
    for op in ("Conv", "BatchNormalization", "MaxPool", "GlobalAveragePool", "Gemm", "Add"):
        assert op in text


def test_process_missing_file_exit_1(tmp_path):
    out = tmp_path / "net.svg"
    proc = run_process(str(tmp_path / "nope.onnx"), "-o", str(out))
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, "nope.onnx")
    assert leftovers(tmp_path) == []


def test_process_truncated_onnx_exit_1(tmp_path, examples_dir):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes((examples_dir / "transformer_block.onnx").read_bytes()[:5000])
    out = tmp_path / "net.svg"
    proc = run_process(str(bad), "-o", str(out))
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, "cut.onnx")
    assert leftovers(tmp_path) == ["cut.onnx"]


def test_process_version_and_help():
    proc = run_process("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"nnviz, version {version('nnviz')}"
    proc = run_process("--help")
    assert proc.returncode == 0
    assert "Examples:" in proc.stdout and "nnviz model.onnx -o net.svg" in proc.stdout


# ---- CliRunner -----------------------------------------------------------------------------

@pytest.mark.parametrize("stem", EXAMPLE_STEMS)
def test_examples_to_svg(tmp_path, examples_dir, stem):
    out = tmp_path / f"{stem}.svg"
    result = invoke(str(examples_dir / f"{stem}.onnx"), "-o", str(out))
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    assert root.tag == SVG + "svg"
    assert float(root.get("width", "0").rstrip("px") or 0) > 0
    assert leftovers(tmp_path) == [out.name]


@pytest.mark.parametrize("stem", ["mlp", "resnet_block", "transformer_block"])
def test_examples_to_dot_accepted_by_graphviz(tmp_path, examples_dir, stem):
    out = tmp_path / f"{stem}.dot"
    result = invoke(str(examples_dir / f"{stem}.onnx"), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.lstrip().startswith(("digraph", "strict digraph"))
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` is not installed; DOT text checked only")
    proc = subprocess.run(["dot", "-Tsvg", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ET.fromstring(proc.stdout).tag == SVG + "svg"


def test_dot_and_svg_are_deterministic(tmp_path, examples_dir):
    model = str(examples_dir / "transformer_block.onnx")
    for ext in ("svg", "dot"):
        a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
        assert invoke(model, "-o", str(a)).exit_code == 0
        assert invoke(model, "-o", str(b)).exit_code == 0
        assert a.read_bytes() == b.read_bytes()


def test_format_option_overrides_extension(tmp_path, examples_dir):
    out = tmp_path / "graph.txt"
    result = invoke(str(examples_dir / "mlp.onnx"), "-o", str(out), "--format", "dot")
    assert result.exit_code == 0, result.output
    assert "digraph" in out.read_text(encoding="utf-8")


def _bad_inputs(tmp_path: Path, examples_dir: Path) -> dict[str, Path]:
    data = (examples_dir / "resnet_block.onnx").read_bytes()
    files = {
        "not_onnx": ("notes.onnx", b"these are my notes, not a model\n"),
        "truncated": ("half.onnx", data[: len(data) // 2]),
        "empty": ("empty.onnx", b""),
        "garbage_no_ext": ("blob", bytes(range(7, 256)) * 3),
    }
    paths = {}
    inputs = tmp_path / "in"
    inputs.mkdir()
    for key, (name, content) in files.items():
        paths[key] = inputs / name
        paths[key].write_bytes(content)
    paths["directory"] = inputs / "folder.onnx"
    paths["directory"].mkdir()
    paths["missing"] = inputs / "missing.onnx"
    return paths


@pytest.mark.parametrize("case", ["not_onnx", "truncated", "empty", "garbage_no_ext",
                                  "directory", "missing"])
def test_bad_input_one_line_exit_1_no_output(tmp_path, examples_dir, case):
    bad = _bad_inputs(tmp_path, examples_dir)[case]
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "net.svg"
    result = CliRunner().invoke(main, [str(bad), "-o", str(out)])
    assert result.exit_code == 1, (result.output, result.exception)
    assert_one_line_error(result.stderr, bad.name)
    assert result.stdout == ""
    assert leftovers(outdir) == []


def test_failure_keeps_previous_output(tmp_path, examples_dir):
    bad = _bad_inputs(tmp_path, examples_dir)["truncated"]
    out = tmp_path / "net.svg"
    out.write_text("previous drawing", encoding="utf-8")
    result = CliRunner().invoke(main, [str(bad), "-o", str(out)])
    assert result.exit_code == 1
    assert out.read_text(encoding="utf-8") == "previous drawing"
    assert leftovers(tmp_path) == ["in", "net.svg"]


def test_unknown_output_extension(tmp_path, examples_dir):
    out = tmp_path / "net.xyz"
    result = CliRunner().invoke(main, [str(examples_dir / "mlp.onnx"), "-o", str(out)])
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "net.xyz")
    assert leftovers(tmp_path) == []


def test_unwritable_output_directory(tmp_path, examples_dir):
    out = tmp_path / "no" / "such" / "dir" / "net.svg"
    result = CliRunner().invoke(main, [str(examples_dir / "mlp.onnx"), "-o", str(out)])
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "net.svg")


def test_usage_errors_exit_2(examples_dir):
    result = CliRunner().invoke(main, [str(examples_dir / "mlp.onnx")])  # no -o
    assert result.exit_code == 2
    result = CliRunner().invoke(main, [str(examples_dir / "mlp.onnx"), "-o", "x.svg",
                                       "--direction", "diagonal"])
    assert result.exit_code == 2


def test_help_texts():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Draw neural network architectures" in result.output
    result = invoke("draw", "--help")
    assert result.exit_code == 0
    for option in ("--output", "--format", "--direction", "--engine", "--theme"):
        assert option in result.output
