"""The import graph of nnviz/ follows the pipeline: no cycle, no arrow from a stage to a later one.

Every import counts, also those inside functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nnviz"

# Stage order, lowest first. A module may import its own stage and the stages before it.
STAGES: list[tuple[str, ...]] = [
    ("ir", "kinds", "errors", "fileio", "text", "theme", "util", "escape", "symbolic",
     "shape_math", "shape_rules", "canon"),  # neutral
    ("loaders",),
    ("passes",),
    ("values",),  # values captured from a run, annotated on the graph like a pass
    ("layout",),
    ("viewer",),
    ("render",),
    ("reports",),
    ("api", "batch", "cli", "__main__", ""),  # "" is the package itself (nnviz/__init__.py)
]
RANK = {name: i for i, names in enumerate(STAGES) for name in names}
# Modules whose stage is not their package's: the gradient-flow chart draws with the renderers.
MODULE_STAGE = {"nnviz.values.gradflow": "reports"}
# Specific arrows that the stage order allows but that cross a boundary inside a stage pair.
FORBIDDEN = [("nnviz.render.paper", "nnviz.layout.neurons"),
             ("nnviz.layout.dot", "nnviz.render.dot"), ("nnviz.ir", "nnviz.api")]
# Known arrows against the order, each with the reason it is not fixed yet. The list may only
# shrink: a new arrow fails the test, and so does an entry that no longer exists.
KNOWN: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - node.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base
                           for a in node.names]
            for t in targets:
                while t and t not in mods:  # `import nnviz.x.y` names a module or its package
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def stage(module: str) -> str:
    if module in MODULE_STAGE:
        return MODULE_STAGE[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_has_a_stage() -> None:
    unknown = sorted({stage(m) for m in import_graph()} - set(RANK))
    assert not unknown, f"modules outside the stage list (add them to STAGES): {unknown}"


def test_no_arrow_from_a_lower_stage_to_a_higher_one() -> None:
    graph = import_graph()
    against = {(m, t) for m, ts in graph.items() for t in ts
               if RANK.get(stage(t), 0) > RANK.get(stage(m), 0)}
    bad = sorted(f"{m} -> {t}" for m, t in against - KNOWN)
    assert not bad, "imports against the pipeline:\n" + "\n".join(bad)
    stale = sorted(f"{m} -> {t}" for m, t in KNOWN - against)
    assert not stale, f"fixed, remove from KNOWN: {stale}"


def test_no_forbidden_arrow() -> None:
    graph = import_graph()
    bad = [f"{a} -> {b}" for a, b in FORBIDDEN if b in graph.get(a, ())]
    assert not bad, bad


def test_no_import_cycle() -> None:
    graph = import_graph()
    # Package __init__ files re-export their children; an edge child -> own package is the
    # child reaching a sibling through the package, which is a real edge, so it stays.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_arrows(tmp_path, monkeypatch) -> None:
    """The tests above can fail: a planted upward import and a planted cycle are found."""
    graph = import_graph()
    assert "nnviz.ir" in graph["nnviz.api"]  # a module-level import
    assert "nnviz.api" in graph["nnviz.cli"]  # an import inside a function
    fake = tmp_path / "nnviz"
    (fake / "loaders").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "ir.py").write_text("from nnviz.loaders import x\n")
    (fake / "loaders" / "__init__.py").write_text("")
    (fake / "loaders" / "x.py").write_text("def f():\n    from nnviz import ir\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    planted = import_graph()
    assert planted["nnviz.ir"] == {"nnviz.loaders.x"}
    assert planted["nnviz.loaders.x"] == {"nnviz.ir"}


def test_no_framework_test_outside_the_loaders() -> None:
    """Passes, layouts, the viewer and the renderers read ``graph.conventions`` (declared per
    loader), never the framework tag itself."""
    bad = []
    for sub in ("passes", "layout", "viewer", "render"):
        for path in sorted((PACKAGE / sub).rglob("*.py")):
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if '"framework"' in line or "'framework'" in line:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_conventions_come_from_the_loader_table() -> None:
    from nnviz.ir import CONVENTIONS, Graph
    from nnviz.loaders import LOADERS

    for spec in LOADERS:
        assert Graph("g", meta={"framework": spec.tag}).conventions == CONVENTIONS[spec.tag]
    keras = Graph("k", meta={"framework": "keras"}).conventions
    assert keras.data_layout == "channels_last" and keras.weight_layout == "spatial_in_out"
    assert Graph("t", meta={"framework": "torch"}).conventions.flatten_start_dim == 1
    assert Graph("x", meta={"framework": "unknown"}).conventions.data_layout == "channels_first"


# Framework spellings of node attributes: only loaders/ reads them; everything after the
# loaders reads the canonical names of nnviz.canon (Node.canon).
FRAMEWORK_SPELLINGS = {
    "kernel_shape", "kernel_size", "pool_size", "filters", "out_channels", "in_channels",
    "units", "out_features", "in_features", "strides", "dilations", "dilation_rate", "pads",
    "auto_pad", "data_format", "keepdim", "keep_dims", "target_shape", "transA", "transB",
    "permutation", "dim0", "dim1", "fused_activation_function", "stride_h", "stride_w",
    "filter_height", "filter_width", "dilation_h_factor", "dilation_w_factor",
}


def _framework_spellings() -> set[str]:
    """The fixed list above plus every spelling the loaders' table translates (so a name
    added there is checked too), minus the names that are canonical themselves."""
    from nnviz.canon import CANON
    from nnviz.loaders import canon_attrs

    names = set(FRAMEWORK_SPELLINGS)
    for table in (canon_attrs._SPATIAL, canon_attrs._SCALAR, canon_attrs._BOOL):
        for spellings in table.values():
            names.update(spellings)
    # ONNX's "group" is also the IR's scope-tree field and a node kind everywhere
    return names - set(CANON) - {"group"}


def _read_constants(tree: ast.AST) -> list[ast.Constant]:
    """String constants in the places an attribute is read: ``attrs["x"]``, a call argument
    (``attrs.get("x")``, ``attr(node, "x", "y")``), a comparison (``"x" in attrs``) or a
    literal tuple/list/set (an alias list). Keys of nnviz's own dicts (a neuron column's
    ``"units"``) are not attribute reads."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            base = node.value
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            parts = [node.slice] if name == "attrs" else []
        elif isinstance(node, ast.Call):
            parts = list(node.args)
        elif isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            parts = list(node.elts)
        else:
            continue
        found += [p for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
    return found


def alias_reads(package: Path) -> list[str]:
    """Framework attribute names read in modules outside ``loaders/``."""
    spellings = _framework_spellings()
    bad = set()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] == "loaders":
            continue
        for c in _read_constants(ast.parse(path.read_text(encoding="utf-8"))):
            if c.value in spellings:
                bad.add(f"{rel.as_posix()}:{c.lineno}: {c.value!r}")
    return sorted(bad)


def test_no_framework_attribute_names_outside_the_loaders() -> None:
    bad = alias_reads(PACKAGE)
    assert not bad, "framework attribute names read outside loaders/ (use Node.canon):\n" + \
        "\n".join(bad)


def test_the_alias_check_can_fail(tmp_path) -> None:
    fake = tmp_path / "nnviz"
    (fake / "passes").mkdir(parents=True)
    (fake / "loaders").mkdir()
    (fake / "passes" / "x.py").write_text(
        "def f(node):\n    return node.attrs.get('strides') or {'units': 3}\n"
        "def g(node, col):\n    return 'filters' in node.attrs or node.attrs['pads'] or "
        "col['units']\n"
        "K = ('kernel_shape', 'kernel_size')\n")
    (fake / "loaders" / "y.py").write_text("K = ('kernel_shape', 'kernel_size')\n")
    assert alias_reads(fake) == ["passes/x.py:2: 'strides'", "passes/x.py:4: 'filters'",
                                 "passes/x.py:4: 'pads'", "passes/x.py:5: 'kernel_shape'",
                                 "passes/x.py:5: 'kernel_size'"]
