"""The one writer of the reports: markdown tables, CSV, JSON, rich tables, stdout or file."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nnviz.escape import md_escape
from nnviz.fileio import atomic_write


@dataclass(frozen=True)
class Column:
    title: str
    align: str = "left"  # "left" or "right"
    fold: bool = True  # rich: wrap long cells instead of cutting them


def markdown_table(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> list[str]:
    """Header, alignment row and one line per row; every cell escaped."""
    def line(cells: Sequence[Any]) -> str:
        return "|" + "|".join(f" {md_escape(c)} " for c in cells) + "|"

    out = [line([c.title for c in columns]),
           "|" + "|".join("--:" if c.align == "right" else ":--" for c in columns) + "|"]
    out += [line(r) for r in rows]
    return out


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def json_text(doc: Any, default: Callable[[Any], Any] | None = None) -> str:
    return json.dumps(doc, indent=2, default=default) + "\n"


def rich_table(columns: Sequence[Column], title: str | None = None) -> Any:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for c in columns:
        if c.fold:
            table.add_column(c.title, justify=c.align, overflow="fold")  # type: ignore[arg-type]
        else:
            table.add_column(c.title, justify=c.align)  # type: ignore[arg-type]
    return table


def emit(text: str, output: str | os.PathLike | None = None) -> None:
    """Print ``text``, or write it to ``output`` atomically."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write(output, text)
