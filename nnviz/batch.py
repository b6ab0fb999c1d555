"""Many models at once: each drawn into one folder by a pool of worker processes.

The model-zoo and architecture-search case: ``nnviz draw a.onnx b.keras 'runs/*.pt2' -o out/``
or :func:`draw_many`. A bad file is reported and skipped; the others are still drawn. The
work is handed to any :class:`concurrent.futures.Executor`, so a zoo that outgrows one
machine runs on Dask's or Ray's executor with nothing else changed; the default is a local
process pool (one worker per core). nnviz has no scheduler of its own.
"""

from __future__ import annotations

import glob
import os
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

    t0 = time.perf_counter()
    try:
        draw(source, output, **options)
    except NnvizError as exc:
        return BatchResult(source, None, str(exc), time.perf_counter() - t0)
    except MemoryError:
        return BatchResult(source, None, f"{source}: ran out of memory while drawing it",
                           time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the others
        return BatchResult(source, None, f"{source}: internal error ({type(exc).__name__}: "
                           f"{exc}); please report it", time.perf_counter() - t0)
    return BatchResult(source, output, None, time.perf_counter() - t0)


def draw_many(sources: Iterable[str | os.PathLike], out_dir: str | os.PathLike, *,
              fmt: str = "svg", executor: Executor | None = None,
              max_workers: int | None = None,
              on_result: Callable[[BatchResult], None] | None = None,
              **options: Any) -> list[BatchResult]:
    """Draw every model in ``sources`` (paths or glob patterns) into ``out_dir`` as ``fmt``.

    ``options`` are :func:`nnviz.draw`'s keyword arguments (style, theme, view, ...); they
    must be picklable for process pools. Returns one result per source, in source order;
    ``on_result`` is called as each one finishes (progress). With ``executor`` None a local
    process pool with ``max_workers`` (default: the number of cores, at most one per model)
    is used and shut down afterwards; a single model is drawn in this process.
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
    pool = executor or ProcessPoolExecutor(
        max_workers=max_workers or min(len(files), os.cpu_count() or 1))
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
