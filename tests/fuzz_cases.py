"""Helpers for the robustness suite: damaged-file generators, CLI runners and outcome checks.

Most cases run in-process through click's CliRunner (imports are paid once); a handful run as
real subprocesses under a CPU-time and an address-space limit the kernel enforces
(``run_limited``). Time is CPU time, never wall time: on a shared machine a healthy run can
wait for a core longer than a hang would take alone.
``NNVIZ_FUZZ_LONG=1`` multiplies the number of generated cases.
"""

from __future__ import annotations

import io
import logging
import math
import os
import random
import resource
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
LONG = os.environ.get("NNVIZ_FUZZ_LONG") == "1"
# CPU seconds per case: far above a normal draw (< 1 s of CPU), far below "hangs".
CASE_SECONDS = 60.0 if LONG else 30.0


def scale(short: int, long: int) -> int:
    """How many generated cases: ``short`` in CI, ``long`` behind NNVIZ_FUZZ_LONG=1."""
    return long if LONG else short


# ---- damage generators ------------------------------------------------------------------------

def truncations(data: bytes, count: int, seed: int = 0) -> list[int]:
    """Deterministic truncation offsets: the first bytes, the end, and seeded ones between."""
    n = len(data)
    fixed = [1, 2, 4, 8, 16, n // 2, n - 1]
    rng = random.Random(seed)
    extra = [rng.randrange(1, n) for _ in range(max(0, count - len(fixed)))]
    return sorted({o for o in fixed + extra if 0 < o < n})


def bit_flips(data: bytes, count: int, flips: int = 4, seed: int = 0) -> list[bytes]:
    """``count`` variants, each with ``flips`` random bits flipped (seeded, reproducible)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(flips):
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        out.append(bytes(buf))
    return out


def rewrite_zip(src: Path | bytes, dst: Path, replace: dict[str, bytes | None]) -> None:
    """Copy a zip, replacing members (``None`` drops one; new names are added)."""
    data = src.read_bytes() if isinstance(src, Path) else src
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename in replace:
                new = replace[info.filename]
                if new is not None:
                    zout.writestr(info.filename, new)
            else:
                zout.writestr(info, zin.read(info.filename))
        for name, new in replace.items():
            if new is not None and name not in zin.namelist():
                zout.writestr(name, new)


# ---- running the CLI --------------------------------------------------------------------------

@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float  # CPU seconds (user + system) the case took, not wall time
    exception: BaseException | None = None


def cli(args: list[str]) -> Outcome:
    """Run the nnviz CLI in-process. An exception escaping run_guarded is kept, not raised."""
    from nnviz.cli import main

    runner = CliRunner()
    # Library loggers (torch logs whole tracebacks on a damaged archive) write to the stream
    # their handler captured at import time, which CliRunner cannot see: record every log
    # record that reaches a handler and count it as stderr output.
    logged: list[str] = []
    real_call = logging.Logger.callHandlers

    def spy(self, record):
        if record.levelno >= logging.WARNING:
            logged.append(f"LOG {record.name}: {record.getMessage()}"
                          + (" Traceback" if record.exc_info else ""))
        return real_call(self, record)

    logging.Logger.callHandlers = spy
    t0 = time.process_time()
    try:
        res = runner.invoke(main, [str(a) for a in args], catch_exceptions=True)
    finally:
        logging.Logger.callHandlers = real_call
    exc = res.exception if not isinstance(res.exception, SystemExit) else None
    stderr = res.stderr + "".join(line.replace("\n", " ") + "\n" for line in logged)
    return Outcome(res.exit_code, res.stdout, stderr, time.process_time() - t0, exc)


def _limit(mem_mb: int, cpu_seconds: float):
    def apply() -> None:
        limit = mem_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        # The kernel sends SIGXCPU at the soft limit and SIGKILL at the hard one: a runaway
        # child dies after this much CPU however loaded the machine is.
        cpu = max(1, math.ceil(cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    return apply


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


# Signals a child dies of when it runs out of its CPU budget (soft, then hard limit).
CPU_LIMIT_SIGNALS = (-signal.SIGXCPU, -signal.SIGKILL)


def run_limited(args: list, cpu_seconds: float = CASE_SECONDS, mem_mb: int = 3072,
                env: dict | None = None, cwd: Path | None = None,
                module: str | None = "nnviz.cli", wall: float | None = None) -> Outcome:
    """Run ``python -m nnviz.cli ARGS`` under RLIMIT_CPU and RLIMIT_AS (bounded CPU time and
    memory, enforced by the kernel). ``seconds`` in the result is the child's CPU time; a
    child over its budget is killed (return code in :data:`CPU_LIMIT_SIGNALS`). The wall
    timeout (``wall``; default many times the budget) only catches a child blocked without
    using CPU (subprocess.TimeoutExpired).

    ``module=None`` runs ``python ARGS`` (e.g. ``-c CODE ...``)."""
    full_env = {**os.environ, **(env or {})}
    head = [sys.executable, "-m", module] if module else [sys.executable]
    before = _children_cpu()
    proc = subprocess.run([*head, *map(str, args)], capture_output=True, text=True,
                          timeout=wall or max(600, 20 * cpu_seconds), env=full_env,
                          preexec_fn=_limit(mem_mb, cpu_seconds), cwd=cwd)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, _children_cpu() - before)


# ---- outcome checks ---------------------------------------------------------------------------

def leftovers(out: Path) -> list[str]:
    """Temp files atomic_write would leave beside ``out`` if it failed to clean up."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*"))


def check_output_file(out: Path) -> None:
    """A written drawing must be a complete, parseable file of its format."""
    data = out.read_bytes()
    ext = out.suffix
    if ext == ".svg":
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
    elif ext == ".json":
        import json

        json.loads(data)
    elif ext == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")
    elif ext == ".pdf":
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    else:
        assert data


def classify(res: Outcome, model: Path, out: Path | None = None) -> str:
    """Assert ``res`` is a clean outcome and say which: "ok" (a correct file) or "error".

    Clean error: exit 1, exactly one stderr line "nnviz: error: <model file>: ...", no
    traceback, not an "internal error", no output file or temp file left behind.
    """
    where = f"{model.name}: exit {res.code}, stderr={res.stderr!r}, exc={res.exception!r}"
    assert res.exception is None, f"exception escaped the CLI: {where}"
    assert "Traceback" not in res.stderr + res.stdout, where
    assert res.code not in CPU_LIMIT_SIGNALS, f"killed at its CPU limit: {where}"
    assert res.seconds < CASE_SECONDS, f"took {res.seconds:.1f} s of CPU: {where}"
    if out is not None:
        assert leftovers(out) == [], f"temp files left: {leftovers(out)}: {where}"
    if res.code == 0:
        if out is not None:
            assert out.exists(), where
            check_output_file(out)
        return "ok"
    assert res.code == 1, where
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line: {where}"
    assert lines[0].startswith("nnviz: error: "), where
    assert "internal error" not in lines[0], where
    assert model.name in lines[0], f"the message does not name the file: {where}"
    if out is not None:
        assert not out.exists(), f"an output file was left on failure: {where}"
    return "error"


# ---- example models -----------------------------------------------------------------------

def build_keras_example(directory: Path) -> dict[str, Path]:
    """A small functional Keras model (conv + dense, a nested block) as .keras and .h5.

    Uses examples/*.keras when the Keras engineer has shipped one; otherwise builds it with
    keras on the torch backend.
    """
    shipped = sorted(EXAMPLES.glob("*.keras"))
    paths: dict[str, Path] = {}
    if shipped:
        paths["keras"] = shipped[0]
        h5 = sorted(EXAMPLES.glob("*.h5"))
        if h5:
            paths["h5"] = h5[0]
            return paths
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    from keras import layers as L

    inp = keras.Input((16, 16, 3), name="image")
    x = L.Conv2D(8, 3, padding="same", name="stem_conv")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    sub_in = keras.Input((16, 16, 8))
    y = L.Conv2D(8, 3, padding="same", activation="relu", name="block_conv")(sub_in)
    block = keras.Model(sub_in, L.Add(name="block_add")([sub_in, y]), name="block")
    x = block(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    out = L.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inp, out, name="small_cnn")
    if "keras" not in paths:
        paths["keras"] = directory / "small_cnn.keras"
        model.save(paths["keras"])
    paths["h5"] = directory / "small_cnn.h5"
    model.save(paths["h5"])
    return paths


def parse_svg(data: bytes | str) -> ET.Element:
    return ET.fromstring(data)
