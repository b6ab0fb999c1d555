"""Many models at once: `nnviz draw MODELS -o DIR` with 1 worker vs one per core.

    python -m bench.batch [--copies 8] [--jobs 2]

Draws a small zoo (the examples, each copied ``--copies`` times under new names) into a
folder, once with one worker process and once with ``--jobs`` workers, each in a fresh
process like a user's command, and prints wall times and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(files: list[str], out: Path, jobs: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnviz", "draw", *files, "-o", str(out), "-j",
                    str(jobs)], check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="nnviz-batch-"))
    try:
        files = []
        for src in sorted((REPO / "examples").glob("*.onnx")) + sorted(
                (REPO / "examples").glob("*.keras")):
            for k in range(args.copies):
                dst = tmp / "in" / f"{src.stem}_{k}{src.suffix}"
                dst.parent.mkdir(exist_ok=True)
                shutil.copy(src, dst)
                files.append(str(dst))
        serial = run(files, tmp / "out1", 1)
        parallel = run(files, tmp / f"out{args.jobs}", args.jobs)
        print(f"{len(files)} models: 1 worker {serial:.2f} s, {args.jobs} workers "
              f"{parallel:.2f} s, speed-up {serial / parallel:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
