"""prepare(..., owned=True) annotates the graph in place and gives the same view as the
copying default, which never mutates its input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nnviz.passes import ViewOptions, prepare

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("options", [ViewOptions(), ViewOptions(depth=99, fold=False),
                                     ViewOptions(depth=1), ViewOptions(hide_noise=True)])
def test_owned_prepare_equals_copying_prepare(options):
    pytest.importorskip("onnx", reason="the example is an ONNX file")
    import nnviz

    path = EXAMPLES / "transformer12.onnx"
    kept = nnviz.load(path)
    before = json.dumps(kept.to_dict(), sort_keys=True, default=str)
    copied = prepare(kept, options)
    assert json.dumps(kept.to_dict(), sort_keys=True, default=str) == before  # not mutated
    owned = prepare(nnviz.load(path), options, owned=True)
    assert json.dumps(owned.to_dict(), sort_keys=True, default=str) == \
        json.dumps(copied.to_dict(), sort_keys=True, default=str)
