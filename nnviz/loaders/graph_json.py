"""nnviz's own graph JSON (``Graph.to_json``) read back as a Graph: no framework needed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nnviz.errors import ModelError
from nnviz.ir import Graph
from nnviz.loaders.canon_attrs import canonicalize


def load_file(path: str | os.PathLike, **options: Any) -> Graph:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(path, f"is not valid JSON ({exc})") from None
    if isinstance(data, dict) and ("schema" in data or "layout" in data):
        raise ModelError(path, "is a laid-out drawing (nnviz's JSON output), not a model; draw "
                               "the model file it came from, or save a graph with Graph.to_json")
    try:
        if not isinstance(data, dict):
            raise TypeError("top level is not an object")
        graph = Graph.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(path, f"is not a valid nnviz graph JSON ({type(exc).__name__}: "
                               f"{exc})") from None
    if not any(node.canon for node in graph.nodes.values()):
        # saved before nodes had canonical attributes: derive them as its loader would
        canonicalize(graph)
    return graph
