"""Shared fixtures. Keep this small; add fixtures with surgical edits."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    """The shipped example ONNX models (regenerate with `python examples/make_examples.py`)."""
    return EXAMPLES
