"""Atomic output: write to a temp file beside the target, then rename over it.

A failed or interrupted render never leaves a half-written file and never clobbers the
previous output.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nnviz.errors import NnvizError


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    target = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:  # missing folder, read-only disk: the user's to fix, one sentence
        raise NnvizError(f"{path}: cannot write the output file ({exc.strerror or exc})") \
            from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise NnvizError(f"{path}: cannot write the output file ({exc.strerror or exc})") \
                from None
        raise
    return target
