"""Atomic output: a failed, interrupted or killed render never clobbers the previous file and
never leaves a temp file behind (temp file + rename in nnviz.fileio.atomic_write)."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fuzz_cases import EXAMPLES, cli, leftovers

from nnviz import fileio
from nnviz.render import FORMAT_TABLE, FORMATS

MODEL = EXAMPLES / "mlp.onnx"
PREVIOUS = b"PREVIOUS OUTPUT - must survive a failed render\n"
EXT = {f.name: f.extensions[0].lstrip(".") for f in FORMAT_TABLE}


def _previous(path: Path) -> None:
    path.write_bytes(PREVIOUS)


def _assert_untouched(out: Path) -> None:
    assert out.read_bytes() == PREVIOUS
    assert leftovers(out) == [], leftovers(out)


def _one_line_error(res) -> str:
    assert res.exception is None, repr(res.exception)
    assert res.code == 1, (res.code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnviz: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_renderer_failing_midway_leaves_previous_file(fmt: str, tmp_path: Path,
                                                      monkeypatch) -> None:
    module = importlib.import_module(FORMATS[fmt])
    real = module.render
    calls = []

    def broken(graph, layout, theme, **options):
        calls.append(fmt)
        real(graph, layout, theme, **options)  # do the real work, then fail at the end
        raise RuntimeError("renderer exploded midway")

    monkeypatch.setattr(module, "render", broken)
    out = tmp_path / f"net.{EXT[fmt]}"
    _previous(out)
    line = _one_line_error(cli([str(MODEL), "-o", str(out)]))
    assert calls == [fmt]
    assert "renderer exploded midway" in line
    _assert_untouched(out)


def test_write_failing_midway_removes_temp_and_keeps_previous(tmp_path: Path,
                                                             monkeypatch) -> None:
    """The bytes are half written when the disk 'fills up'."""
    out = tmp_path / "net.svg"
    _previous(out)
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    line = _one_line_error(cli([str(MODEL), "-o", str(out)]))
    assert "net.svg" in line and "No space left" in line
    _assert_untouched(out)


def test_rename_failing_keeps_previous(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "net.png"
    _previous(out)

    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fileio.os, "replace", no_replace)
    line = _one_line_error(cli([str(MODEL), "-o", str(out)]))
    assert "net.png" in line
    _assert_untouched(out)


def test_interrupt_during_write_cleans_up(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "net.pdf"
    _previous(out)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", interrupted)
    res = cli([str(MODEL), "-o", str(out)])
    assert res.code == 130 and "interrupted" in res.stderr and "Traceback" not in res.stderr
    _assert_untouched(out)


@pytest.mark.parametrize("command", ["summary", "stats"])
def test_text_reports_are_atomic_too(command: str, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "report.md"
    _previous(out)

    def no_replace(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fileio.os, "replace", no_replace)
    args = [command, str(MODEL), "--format", "markdown"]
    if command == "summary":
        args += ["-o", str(out)]
        line = _one_line_error(cli(args))
        assert "report.md" in line
        _assert_untouched(out)
    else:
        # stats writes to stdout from the CLI; its file output goes through the library
        from nnviz.reports.stats import weight_stats_report

        with pytest.raises(Exception) as info:
            weight_stats_report(str(MODEL), fmt="markdown", output=out)
        from nnviz.errors import NnvizError

        assert isinstance(info.value, NnvizError), repr(info.value)
        _assert_untouched(out)


def test_bad_output_locations_are_one_line(tmp_path: Path) -> None:
    line = _one_line_error(cli([str(MODEL), "-o", str(tmp_path / "missing" / "net.svg")]))
    assert "internal error" not in line and "net.svg" in line, line
    # A directory as output is a usage error: click's own message and exit 2, no traceback.
    res = cli([str(MODEL), "-o", str(tmp_path)])
    assert res.code == 2 and "is a directory" in res.stderr and "Traceback" not in res.stderr
    res = cli(["summary", str(MODEL), "-o", str(tmp_path / "missing" / "s.md")])
    line = _one_line_error(res)
    assert "internal error" not in line and "s.md" in line, line


def test_killed_process_leaves_previous_output(tmp_path: Path) -> None:
    """SIGKILL while the new bytes are being written: the target still holds the old file (a
    temp file may remain, as after any kill -9, but it is never the target)."""
    out = tmp_path / "net.svg"
    _previous(out)
    flag = tmp_path / "writing"
    code = (
        "import os, time, nnviz.fileio as f\n"
        "real = os.fdopen\n"
        "class Slow:\n"
        "    def __init__(s, fh): s.fh = fh\n"
        "    def __enter__(s): return s\n"
        "    def __exit__(s, *e): s.fh.close()\n"
        "    def write(s, d):\n"
        "        s.fh.write(d[:100]); s.fh.flush()\n"
        f"        open({str(flag)!r}, 'w').close(); time.sleep(60)\n"
        "f.os.fdopen = lambda fd, mode: Slow(real(fd, mode))\n"
        "from nnviz.cli import main\n"
        f"main([{str(MODEL)!r}, '-o', {str(out)!r}])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not flag.exists():
            assert proc.poll() is None, "the renderer exited before writing"
            assert time.monotonic() < deadline, "the render never started writing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert out.read_bytes() == PREVIOUS
    temps = leftovers(out)
    assert len(temps) == 1 and temps[0].endswith(".tmp")  # the half-written one, not `out`


def test_success_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    out = tmp_path / "net.svg"
    _previous(out)
    res = cli([str(MODEL), "-o", str(out)])
    assert res.code == 0, res.stderr
    assert out.read_bytes().startswith(b"<svg")
    assert leftovers(out) == []
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
