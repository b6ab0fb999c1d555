"""Many models at once: each drawn into one folder by a pool of worker processes.

The model-zoo and architecture-search case: ``nnviz draw a.onnx b.keras 'runs/*.pt2' -o out/``
or :func:`draw_many`. A bad file is reported and skipped; the others are still drawn. The
work is handed to any :class:`concurrent.futures.Executor`, so a zoo that outgrows one
machine runs on Dask's or Ray's executor with nothing else changed; the default is a local
process pool (one worker per core). nnviz has no scheduler of its own.

Drawing a model takes tens to hundreds of milliseconds once the code is imported, but the
imports (onnx, h5py, numpy, nnviz's layout and renderers) cost about half a second of CPU
per process: paid by every worker, they ate most of the parallel gain (1.2x on 2 cores).
The default pool therefore imports what the batch's families need once, in this process
(:func:`preload`), and forks its workers from it, when that is safe (this process runs one
OS thread: the CLI keeps numpy's BLAS pool from starting, :func:`one_thread_per_worker`);
otherwise its workers come from a fork server that made the same imports.
"""

from __future__ import annotations

import glob
import importlib
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnviz.errors import NnvizError


@dataclass(frozen=True)
class BatchResult:
    """What became of one model: its output file, or the one-sentence reason it failed."""

    source: str
    output: str | None
    error: str | None
    seconds: float
    cpu_seconds: float = 0.0  # CPU time of the worker drawing it
    worker: int = 0  # the worker's process id

    @property
    def ok(self) -> bool:
        return self.error is None


def expand_sources(sources: Iterable[str | os.PathLike]) -> list[str]:
    """Paths as given, glob patterns expanded (sorted, so runs are reproducible); each file
    once, in first-seen order. A pattern that matches nothing is kept as it is, so it is
    reported as a missing file instead of vanishing silently."""
    out: list[str] = []
    seen: set[str] = set()
    for src in sources:
        text = os.fspath(src)
        matches = sorted(glob.glob(text, recursive=True)) if glob.has_magic(text) else [text]
        for m in matches or [text]:
            if m not in seen:
                seen.add(m)
                out.append(m)
    return out


def output_paths(sources: list[str], out_dir: str | os.PathLike, fmt: str) -> list[Path]:
    """One output per source in ``out_dir``: ``stem.fmt``; when two sources share a stem
    (``a/net.onnx``, ``b/net.keras``) the later ones keep their extension (``net.keras.svg``)
    and, if that is taken too, a number (``net-2.svg``)."""
    out_dir = Path(out_dir)
    taken: set[str] = set()
    paths = []
    for src in sources:
        p = Path(src)
        for name in (f"{p.stem}.{fmt}", f"{p.name}.{fmt}"):
            if name not in taken:
                break
        else:
            k = 2
            while f"{p.stem}-{k}.{fmt}" in taken:
                k += 1
            name = f"{p.stem}-{k}.{fmt}"
        taken.add(name)
        paths.append(out_dir / name)
    return paths


def draw_one(source: str, output: str, options: dict[str, Any]) -> BatchResult:
    """Draw one model (runs in a worker; module-level so every executor can pickle it)."""
    from nnviz.api import draw

    t0, c0 = time.perf_counter(), time.process_time()

    def result(out: str | None, error: str | None) -> BatchResult:
        return BatchResult(source, out, error, time.perf_counter() - t0,
                           time.process_time() - c0, os.getpid())

    try:
        draw(source, output, **options)
    except NnvizError as exc:
        return result(None, str(exc))
    except MemoryError:
        return result(None, f"{source}: ran out of memory while drawing it")
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the others
        return result(None, f"{source}: internal error ({type(exc).__name__}: {exc}); "
                            "please report it")
    return result(output, None)


def preload_modules(sources: Iterable[str | os.PathLike], fmt: str = "svg",
                    options: dict[str, Any] | None = None) -> list[str]:
    """The modules drawing these files imports that cost time to import: the drawing path
    (api, the layout engine or paper style, the renderer of ``fmt``), each file family's
    reader and the third-party modules it names (``Loader.imports``), and numpy (the graph
    scene's title-band index and most readers use it). Routed by extension only: a file
    whose family needs sniffing just imports its reader in the worker."""
    from nnviz.layout import ENGINES, STYLES
    from nnviz.loaders import EXTENSIONS
    from nnviz.render import ALIASES, FORMATS

    options = options or {}
    mods = ["numpy", "nnviz.api", "nnviz.passes", "nnviz.render.build"]
    style = STYLES.get(options.get("style") or "graph")
    engine = style or ENGINES.get(options.get("engine") or "layered")
    if engine:
        mods.append(engine.partition(":")[0])
    render = FORMATS.get(ALIASES.get(fmt, fmt))
    if render:
        mods.append(render)
    for src in sources:
        for spec in EXTENSIONS.get(Path(src).suffix.lower(), ())[:1]:
            mods += [spec.load_file.partition(":")[0], *spec.imports]
    return list(dict.fromkeys(mods))


def preload(modules: Iterable[str]) -> None:
    """Import ``modules`` now (those not installed are skipped: the worker says what is
    missing for the file that needs it, in one sentence)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - an optional extra not installed
            continue


def one_thread_per_worker() -> None:
    """For a process that only hands models to workers (the CLI): numerical libraries loaded
    from now on start no thread pools of their own. The drawing does no linear algebra,
    OpenBLAS's pool (started by ``import numpy``) would make this process multi-threaded,
    so not safely forkable, and N workers would each start a pool as big as the machine.
    Variables the user set are kept. Call it before numpy is imported."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _threads() -> int | None:
    """OS threads of this process (Linux), None when unknown. Forking is safe with one: no
    other thread can hold a lock the child would inherit locked (OpenMP pools, loggers)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:
        return os.cpu_count() or 1


def default_pool(max_workers: int, modules: list[str]) -> ProcessPoolExecutor:
    """A local process pool whose workers start with ``modules`` imported: forked from this
    process after importing them here when it runs one thread, else (a threaded program:
    torch, Jupyter) from a fork server that imports them, else the platform's default."""
    if sys.platform.startswith("linux") and _threads() == 1:
        preload(modules)
        if _threads() == 1:  # an import may have started a thread
            return ProcessPoolExecutor(max_workers, mp_context=multiprocessing.get_context(
                "fork"))
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(modules)
        return ProcessPoolExecutor(max_workers, mp_context=ctx)
    return ProcessPoolExecutor(max_workers)


def draw_many(sources: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
              fmt: str = "svg", executor: Executor | None = None,
              max_workers: int | None = None,
              on_result: Callable[[BatchResult], None] | None = None,
              **options: Any) -> list[BatchResult]:
    """Draw every model in ``sources`` (paths or glob patterns) into ``out_dir`` as ``fmt``.

    ``options`` are :func:`nnviz.draw`'s keyword arguments (style, theme, view, ...); they
    must be picklable for process pools. Returns one result per source, in source order;
    ``on_result`` is called as each one finishes (progress). With ``executor`` None a local
    process pool with ``max_workers`` (default: the cores this process may use, at most one
    per model; :func:`default_pool`) is used and shut down afterwards; a single model is drawn
    in this process.
    """
    files = expand_sources(sources)
    if not files:
        return []
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    outputs = [os.fspath(p) for p in output_paths(files, out_dir, fmt)]
    results: list[BatchResult | None] = [None] * len(files)

    def done(i: int, res: BatchResult) -> None:
        results[i] = res
        if on_result is not None:
            on_result(res)

    own = executor is None and len(files) > 1
    if executor is None and not own:
        done(0, draw_one(files[0], outputs[0], options))
        return [r for r in results if r is not None]
    pool = executor or default_pool(max_workers or min(len(files), _cores()),
                                    preload_modules(files, fmt, options))
    try:
        futures = {pool.submit(draw_one, f, o, options): i
                   for i, (f, o) in enumerate(zip(files, outputs))}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died (killed, OOM)
                res = BatchResult(files[i], None, f"{files[i]}: the worker drawing it "
                                  f"stopped ({type(exc).__name__})", 0.0)
            done(i, res)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in results if r is not None]
