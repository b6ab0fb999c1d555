"""Quoting user strings for the text formats nnviz writes, used by more than one stage.

The DOT quoting is shared by the dot layout engine (it feeds Graphviz) and the DOT renderer;
the markdown cell escaping by every report (reports.writer) and the weight diff.
"""

from __future__ import annotations

import re
from typing import Any

# Bidi overrides too (as in scene.clean_text): they could make a name read backwards.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def quote(text: str) -> str:
    """A DOT double-quoted string; backslashes, quotes and newlines escaped.

    Other control characters and lone surrogates (possible in names from JSON configs) become
    spaces: Graphviz stops at a NUL, and a surrogate cannot be written as UTF-8 at all.
    """
    text = (str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "")
            .replace("\n", "\\n"))
    return f'"{_CONTROL.sub(" ", text)}"'


def text_quote(text: str) -> str:
    """A quoted DOT string shown as text: Graphviz reads ``&...;`` as an HTML entity (and
    copies ``&#0;`` into its SVG, which no XML parser accepts), so ``&`` is written ``&amp;``."""
    return quote(str(text).replace("&", "&amp;"))


def md_escape(text: Any) -> str:
    """A markdown table cell: a ``|`` would end the cell."""
    return str(text).replace("|", "\\|")


def xml_escape(text: str) -> str:
    """``xml.sax.saxutils.escape``: &, < and > as entities. Written out because importing
    ``xml.sax.saxutils`` imports ``urllib.request`` (20-50 ms of every SVG drawing)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def xml_quoteattr(text: str) -> str:
    """``xml.sax.saxutils.quoteattr``: escaped (newline, return and tab as character
    references) and quoted, with single quotes when the value holds only double ones."""
    text = xml_escape(text).replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' in text:
        if "'" in text:
            return '"' + text.replace('"', "&quot;") + '"'
        return "'" + text + "'"
    return '"' + text + '"'
