"""Reports beside the pipeline: text about a model rather than a drawing of it.

- ``summary``: layers with type, output shape, params, FLOPs (reads the passes' annotations).
- ``diff``: added, removed and changed layers between two graphs.
- ``stats``: per-tensor weight statistics (reads weights through the loader table).

All of them write through :mod:`nnviz.reports.writer` (one markdown table with one escaping,
one CSV and one JSON writer, one rich-table builder, one way to print or write a file). Each
module lists its formats in ``FORMATS``, which the CLI's ``--format`` choices read.
"""

# report -> its output formats (the CLI's --format choices). Here, not in the modules, so the
# CLI reads them without importing numpy or the passes.
FORMATS: dict[str, tuple[str, ...]] = {
    "summary": ("table", "csv", "json", "markdown"),
    "diff": ("table", "json", "markdown"),
    "stats": ("table", "json", "csv", "markdown"),
}
