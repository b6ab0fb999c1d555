"""Determinism: every output format is byte-identical across two runs of the CLI in separate
processes with different PYTHONHASHSEED values (set/dict-order or hash dependence, timestamps
or memory addresses in the output would all show up here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_cases import EXAMPLES, build_keras_example

from nnviz.render import FORMATS as _FORMAT_TABLE

FORMATS = sorted(_FORMAT_TABLE)  # every registered output format
# One process runs every command through the real CLI entry point (click, run_guarded) so the
# test pays the import cost once per hash seed instead of once per format.
DRIVER = r"""
import hashlib, json, sys
from pathlib import Path
from click.testing import CliRunner
from nnviz.cli import main

model, outdir, extra = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
digests = {}
runner = CliRunner()
for fmt in extra["formats"]:
    out = outdir / f"net.{fmt}"
    res = runner.invoke(main, [model, "-o", str(out), *extra["args"]])
    assert res.exit_code == 0, (fmt, res.stderr)
    digests[fmt] = hashlib.sha256(out.read_bytes()).hexdigest()
for cmd in extra["reports"]:
    res = runner.invoke(main, [*cmd, model])
    assert res.exit_code == 0, (cmd, res.stderr)
    digests[" ".join(cmd)] = hashlib.sha256(res.stdout.encode()).hexdigest()
print(json.dumps(digests))
"""
REPORTS = [["summary", "--format", "json"], ["summary", "--format", "csv"],
           ["summary", "--format", "markdown"], ["stats", "--format", "json"]]


def _run(model: Path, outdir: Path, seed: str, formats: list[str], args: list[str],
         reports: list[list[str]]) -> dict[str, str]:
    outdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONHASHSEED": seed, "KERAS_BACKEND": "torch"}
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(model), str(outdir),
         json.dumps({"formats": formats, "args": args, "reports": reports})],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compare(model: Path, tmp_path: Path, formats=FORMATS, args=(), reports=REPORTS) -> None:
    a = _run(model, tmp_path / "a", "0", list(formats), list(args), reports)
    b = _run(model, tmp_path / "b", "4242", list(formats), list(args), reports)
    assert set(a) == set(b)
    differ = sorted(k for k in a if a[k] != b[k])
    for fmt in differ:  # show the first differing line to make the failure actionable
        if fmt in FORMATS and fmt not in ("png", "pdf"):
            la = (tmp_path / "a" / f"net.{fmt}").read_text().splitlines()
            lb = (tmp_path / "b" / f"net.{fmt}").read_text().splitlines()
            first = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), None)
            if first is not None:
                print(fmt, first, la[first][:300], "|", lb[first][:300])
    assert not differ, f"{model.name}: outputs differ across PYTHONHASHSEED: {differ}"
    # Also not accidentally empty/identical-by-failure: different formats differ.
    assert len({a[f] for f in formats}) == len(formats)


def test_onnx_every_format_is_deterministic(tmp_path: Path) -> None:
    _compare(EXAMPLES / "transformer_block.onnx", tmp_path)


def test_onnx_paper_styles_and_options_are_deterministic(tmp_path: Path) -> None:
    _compare(EXAMPLES / "resnet_block.onnx", tmp_path, formats=["svg", "pdf", "tex"],
             args=["--style", "blocks", "--direction", "LR"], reports=[])


def test_keras_is_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    paths = build_keras_example(tmp_path)
    _compare(paths["keras"], tmp_path / "k", formats=["svg", "json", "html"],
             reports=[["summary", "--format", "json"]])
    _compare(paths["h5"], tmp_path / "h", formats=["svg", "dot"], reports=[])


@pytest.mark.skipif(not (EXAMPLES / "torch_hybrid.pt2").exists(), reason="no .pt2 example")
def test_pt2_is_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _compare(EXAMPLES / "torch_hybrid.pt2", tmp_path, formats=["svg", "json", "html"],
             reports=[["summary", "--format", "json"], ["stats", "--format", "json"]])

