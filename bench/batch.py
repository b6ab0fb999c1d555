"""Many models at once: `nnviz.draw_many` (what `nnviz draw MODELS -o DIR` runs) with 1 worker
vs one per core, each in a fresh process like a user's command.

    python -m bench.batch [--copies 8] [--jobs 2] [--zoo] [--repeat 2]

Models: the examples (ONNX, Keras, .pt2), each copied ``--copies`` times under new names;
with ``--zoo`` the real-model zoo's files instead (ONNX, .pt2, .keras, .h5 of `python -m
tests.zoo build`, in $NNVIZ_ZOO_DIR or ~/.cache/nnviz-zoo), a few seconds of drawing.

Printed per run: wall time and CPU time (the child and its workers), and the speed-up in
both. On a shared machine the wall time of the parallel run depends on how many cores the
others leave free, so each run also prints what the wall time would be with a core per
process: the parent's own CPU time (start-up, imports, pool) plus the busiest worker's CPU
time (each result's ``cpu_seconds``, summed per ``worker``). Say the load (printed from
/proc/loadavg) next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys, time
from nnviz.batch import draw_many
files, out, jobs = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if sys.argv[4] == "plain":  # the pool as it was: every worker imports what it needs
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(jobs) as pool:
        res = draw_many(files, out, executor=pool)
else:  # as `nnviz draw A B ... -o DIR` does
    from nnviz.batch import one_thread_per_worker
    one_thread_per_worker()
    res = draw_many(files, out, max_workers=jobs)
busy = {}
for r in res:
    busy[getattr(r, "worker", 0)] = busy.get(getattr(r, "worker", 0), 0.0) + \\
        getattr(r, "cpu_seconds", 0.0)
print(json.dumps({"parent_cpu": time.process_time(), "busiest": max(busy.values()),
                  "failed": [r.error for r in res if not r.ok]}))
"""


def _env(tmp: Path) -> dict[str, str]:
    """This checkout first on the path, byte code cached in ``tmp`` (as an installed package
    has it; the team machine sets PYTHONDONTWRITEBYTECODE)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONPYCACHEPREFIX": str(tmp / "pyc")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(files: list[str], out: Path, jobs: int, tmp: Path, pool: str = "default") -> dict:
    """One fresh process drawing ``files`` into ``out`` with ``jobs`` workers (``pool``
    "plain": a bare ProcessPoolExecutor, whose workers each import what they need)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(files), str(out),
                           str(jobs), pool], capture_output=True, text=True, env=_env(tmp),
                          cwd=str(REPO))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"batch run failed: {proc.stderr[-600:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    if info["failed"]:
        raise RuntimeError(f"models failed: {info['failed'][:3]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"jobs": jobs, "wall": wall, "cpu": cpu,
            "own_cores": info["parent_cpu"] + info["busiest"]}


def zoo_files() -> list[str]:
    root = Path(os.environ.get("NNVIZ_ZOO_DIR", Path.home() / ".cache" / "nnviz-zoo"))
    return sorted(str(p) for p in root.glob("*/*")
                  if p.suffix in (".onnx", ".pt2", ".keras", ".h5"))


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--zoo", action="store_true", help="the real-model zoo's files")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each, best by wall time")
    ap.add_argument("--plain-pool", action="store_true",
                    help="a bare ProcessPoolExecutor (no preloading; how it was before)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="nnviz-batch-"))
    try:
        if args.zoo:
            files = zoo_files()
            if not files:
                print("no zoo built (python -m tests.zoo build): --zoo skipped")
                return []
        else:
            files = []
            (tmp / "in").mkdir()
            for src in sorted((REPO / "examples").glob("*.onnx")) + sorted(
                    (REPO / "examples").glob("*.keras")) + sorted(
                    (REPO / "examples").glob("*.pt2")):
                for k in range(args.copies):
                    dst = tmp / "in" / f"{src.stem}_{k}{src.suffix}"
                    shutil.copy(src, dst)
                    files.append(str(dst))
        with open("/proc/loadavg") as fh:
            print(f"load average before: {fh.read().split()[:3]}")
        run(files[:2], tmp / "warm", 1, tmp)  # byte-code cache and page cache
        best = {}
        for _ in range(args.repeat):
            for jobs in (1, args.jobs):
                r = run(files, tmp / f"out{jobs}", jobs, tmp,
                        "plain" if args.plain_pool else "default")
                if jobs not in best or r["wall"] < best[jobs]["wall"]:
                    best[jobs] = r
        with open("/proc/loadavg") as fh:
            print(f"load average after: {fh.read().split()[:3]}")
        one, many = best[1], best[args.jobs]
        for r in (one, many):
            print(f"{len(files)} models, {r['jobs']} worker(s): wall {r['wall']:.2f} s, "
                  f"cpu {r['cpu']:.2f} s, with a core per process {r['own_cores']:.2f} s")
        print(f"speed-up: wall {one['wall'] / many['wall']:.2f}x, with a core per process "
              f"{one['own_cores'] / many['own_cores']:.2f}x; CPU spent "
              f"{many['cpu'] / one['cpu']:.2f}x the 1-worker run's")
        return [{**r, "models": len(files), "zoo": args.zoo} for r in (one, many)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
