"""The real-model zoo through every route, against the fidelity invariants (issue 14).

Each zoo model (tests/zoo: transformers models from small configs, torchvision-style CNNs,
keras.applications, small nets with one structural feature each) is built with random
weights, exported through every route a user takes, loaded by nnviz and checked: the drawing
is a quotient of the operator graph in every view, nothing of a module call or a folded block
is left outside its box, no cycle or upward edge in a feed-forward model, and every total is
the framework's own count. One test per (model, route, family of invariants), so a bug in one
family does not hide the others. A few cheap artifacts run in CI; the rest are ``slow``.
Artifacts are built once per session (or reused from ``$NNVIZ_ZOO_DIR``).

Known bugs are ``xfail(strict=True)``: the moment a fix lands the test fails as XPASS, and
the mark has to go.
"""

from __future__ import annotations

from typing import Any

import pytest
from zoo.build import ZOO, Zoo, default_root
from zoo.invariants import FAMILIES, check_all

pytestmark = pytest.mark.filterwarnings("ignore")

# The CI subset (~90 s on 2 cores): one transformer and one CNN from the PyTorch 2.x default
# exporter, the CNN also live and as .pt2, one Keras application, the causal-mask encoder.
FAST = {
    ("gpt2", "onnx_dynamo"),
    ("resnet18", "onnx_dynamo"),
    ("resnet18", "live"),
    ("resnet18", "pt2"),
    ("keras_mobilenet_v2", "keras"),
    ("causal_encoder", "live"),
}

# The issue-14 bugs that break a family today, by artifact. A test here is xfail(strict):
# when the fix lands it XPASSes, which fails, and its line goes.
KNOWN: dict[tuple[str, str, str], str] = {}


def _needs(entry: Any, route: str) -> None:
    if entry.framework == "keras":
        import zoo.keras_models  # noqa: F401 - picks the torch backend before keras loads

        pytest.importorskip("keras", reason="the keras zoo models need keras")
        return
    pytest.importorskip("torch", reason="the PyTorch zoo models need torch")
    if entry.name in ("gpt2", "bert", "llama", "vit", "t5", "clip"):
        pytest.importorskip("transformers", reason="the Hugging Face zoo models need transformers")
    if route.startswith("onnx"):
        pytest.importorskip("onnxscript", reason="torch.onnx.export needs onnxscript")


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> Zoo:
    return Zoo(default_root() or tmp_path_factory.mktemp("zoo"))


_RESULTS: dict[tuple[str, str], Any] = {}


def result(zoo: Zoo, name: str, route: str) -> Any:
    """Load + check once per artifact and session; every family's test reads the result."""
    key = (name, route)
    if key not in _RESULTS:
        entry = ZOO[name]
        try:
            art = zoo.artifact(name, route)
            graph = art.load()
            _RESULTS[key] = check_all(graph, art.expected_for(graph), entry.feed_forward,
                                      layout_views=("default",))
        except Exception as exc:  # noqa: BLE001 - every family's test reports it
            _RESULTS[key] = exc
    return _RESULTS[key]


def _cases():
    for name, entry in ZOO.items():
        for route in entry.routes:
            for family in FAMILIES:
                marks = [] if (name, route) in FAST else [pytest.mark.slow]
                why = KNOWN.get((name, route, family)) or KNOWN.get((name, route, "*"))
                if why:
                    marks.append(pytest.mark.xfail(strict=True, reason=f"issue 14: {why}"))
                yield pytest.param(name, route, family, marks=marks,
                                   id=f"{name}-{route}-{family}")


@pytest.mark.parametrize("name,route,family", list(_cases()))
def test_zoo_invariants(zoo, name, route, family):
    _needs(ZOO[name], route)
    res = result(zoo, name, route)
    if isinstance(res, Exception):
        raise res
    problems = res.family(family)
    assert not problems, f"{name} via {route}:\n" + "\n".join(problems)


def test_zoo_is_complete():
    """Every model goes through every route of its framework that the exporter supports; a
    route left out says why."""
    for entry in ZOO.values():
        every = ("live", "pt2", "onnx_dynamo", "onnx_ts") if entry.framework == "torch" else \
            ("live", "keras", "h5")
        assert set(entry.routes) | set(entry.broken) == set(every), entry.name
        assert all(why.strip() for why in entry.broken.values())


def test_fast_subset_is_small():
    assert len(FAST) <= 6 and all(m in ZOO and r in ZOO[m].routes for m, r in FAST)


def test_gpt2_default_view_is_one_fold(zoo):
    """The GPT-2 export's default drawing has its blocks as one ``×N`` box."""
    _needs(ZOO["gpt2"], "onnx_dynamo")
    from zoo.torch_models import gpt2

    import nnviz

    layers = gpt2()[0].config.n_layer
    view = nnviz.prepare(zoo.artifact("gpt2", "onnx_dynamo").load())
    # the fold is a "×N" box, or a "×N" frame when the automatic view opens it
    folds = [(n.meta["repeat"], n.meta.get("group_op") or "") for n in view.nodes.values()
             if n.meta.get("repeat")]
    folds += [(grp.attrs["repeat"], grp.op or grp.attrs.get("class", ""))
              for grp in view.groups.values() if grp.attrs.get("repeat")]
    assert [(n, op.rsplit(".", 1)[-1]) for n, op in folds] == [(layers, "GPT2Block")]
