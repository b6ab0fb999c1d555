"""Many models at once (issue 19): `nnviz draw a b 'c/*' -o out/` and nnviz.draw_many."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nnviz.batch import draw_many, expand_sources, output_paths

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture()
def zoo(tmp_path: Path) -> Path:
    src = tmp_path / "models"
    src.mkdir()
    for name in ("mlp.onnx", "resnet_block.onnx", "keras_resnet_mini.keras"):
        shutil.copy(EXAMPLES / name, src / name)
    (src / "broken.onnx").write_bytes(b"\x08\x07 not really a model")
    return src


class CountingExecutor(ThreadPoolExecutor):
    """Any concurrent.futures.Executor will do (Dask's, Ray's): this one counts submits."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_a_bad_file_is_reported_and_the_rest_are_drawn(zoo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    seen = []
    with CountingExecutor() as pool:
        results = draw_many([str(zoo / "*.onnx"), str(zoo / "keras_resnet_mini.keras")], out,
                            executor=pool, on_result=seen.append)
        assert pool.submitted == 4
    assert [Path(r.source).name for r in results] == [
        "broken.onnx", "mlp.onnx", "resnet_block.onnx", "keras_resnet_mini.keras"]
    assert len(seen) == 4
    bad, *good = results
    assert not bad.ok and bad.output is None
    assert "broken.onnx" in bad.error and "\n" not in bad.error
    assert all(r.ok for r in good)
    assert sorted(p.name for p in out.iterdir()) == [
        "keras_resnet_mini.svg", "mlp.svg", "resnet_block.svg"]
    # the same bytes as drawing each model alone
    import nnviz

    for r in good:
        alone = tmp_path / ("alone_" + Path(r.output).name)
        nnviz.draw(r.source, alone)
        assert Path(r.output).read_bytes() == alone.read_bytes()


def test_default_process_pool(zoo: Path, tmp_path: Path) -> None:
    results = draw_many([zoo / "mlp.onnx", zoo / "resnet_block.onnx"], tmp_path / "o",
                        fmt="png", max_workers=2)
    assert [r.ok for r in results] == [True, True]
    assert all(Path(r.output).read_bytes().startswith(b"\x89PNG") for r in results)


def test_names_never_collide(tmp_path: Path) -> None:
    srcs = ["a/net.onnx", "b/net.keras", "c/net.keras", "d/other.onnx"]
    names = [p.name for p in output_paths(srcs, tmp_path, "svg")]
    assert names == ["net.svg", "net.keras.svg", "net-2.svg", "other.svg"]


def test_a_pattern_matching_nothing_is_reported_not_dropped(tmp_path: Path) -> None:
    pattern = str(tmp_path / "nothing-*.onnx")
    assert expand_sources([pattern]) == [pattern]
    (res,) = draw_many([pattern], tmp_path / "o")
    assert not res.ok and "nothing-*.onnx" in res.error


def test_cli_batch(zoo: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    proc = subprocess.run([sys.executable, "-m", "nnviz", "draw", str(zoo / "*.onnx"),
                           str(zoo / "keras_resnet_mini.keras"), "-o", str(out), "-j", "2"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("nnviz: error: ") and "broken.onnx" in lines[0]
    assert lines[1] == f"nnviz: drew 3 of 4 models into {out}"
    assert "Traceback" not in proc.stderr
    assert len(list(out.glob("*.svg"))) == 3
    # all good: exit 0
    proc = subprocess.run([sys.executable, "-m", "nnviz", str(zoo / "mlp.onnx"),
                           str(zoo / "resnet_block.onnx"), "-o", str(out), "-f", "json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "mlp.json").exists() and (out / "resnet_block.json").exists()


_POOL_PROBE = """
import os, sys, threading, time
from nnviz.batch import default_pool, draw_many, one_thread_per_worker, preload_modules

def imported():  # what a worker has imported before it draws anything
    return sorted(m for m in ("onnx", "nnviz.loaders.onnx", "h5py") if m in sys.modules)

if __name__ == "__main__":
    if sys.argv[1] == "threaded":  # a program with a thread of its own (torch, Jupyter)
        threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    else:
        one_thread_per_worker()  # as the CLI does
    mods = preload_modules([sys.argv[2], "net.keras"])
    pool = default_pool(2, mods)
    print(pool._mp_context.get_start_method(), "onnx" in sys.modules)
    print(*pool.submit(imported).result())
    pool.shutdown()
    (res,) = draw_many([sys.argv[2]], sys.argv[3])
"""


@pytest.mark.parametrize("parent, start, preloaded_here", [
    ("cli", "fork", True), ("threaded", "forkserver", False)])
def test_workers_start_with_the_imports_done(tmp_path: Path, parent: str, start: str,
                                             preloaded_here: bool) -> None:
    # The imports (onnx, h5py, numpy: ~0.5 s of CPU) are made once, not once per worker:
    # here before forking when this process runs one thread, else in the fork server.
    script = tmp_path / "probe.py"
    script.write_text(_POOL_PROBE)
    proc = subprocess.run([sys.executable, str(script), parent, str(EXAMPLES / "mlp.onnx"),
                           str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.strip().splitlines()
    assert first == f"{start} {preloaded_here}"
    assert second.split() == ["h5py", "nnviz.loaders.onnx", "onnx"]


def test_results_say_which_worker_spent_how_much(zoo: Path, tmp_path: Path) -> None:
    results = draw_many([zoo / "mlp.onnx", zoo / "resnet_block.onnx"], tmp_path / "o",
                        max_workers=2)
    assert all(r.ok and r.cpu_seconds > 0 and r.worker not in (0, os.getpid())
               for r in results)
