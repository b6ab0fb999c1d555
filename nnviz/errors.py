"""User-facing errors: one clear sentence, exit code 1, never a traceback."""

from __future__ import annotations

from pathlib import Path


class NnvizError(Exception):
    """A problem with the user's input (model file, options). The message is one sentence."""

    exit_code = 1


class ModelError(NnvizError):
    """A model file that is missing, damaged or of an unknown kind."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}{problem}")


class MissingDependency(NnvizError):
    """An optional extra is needed for this input or output."""

    def __init__(self, what: str, extra: str, package: str):
        super().__init__(
            f"{what} needs the optional package '{package}'; install it with "
            f"pip install 'nnviz[{extra}]'"
        )
