"""Themes are data files (JSON) in templates/themes; a user can pass their own file."""

from __future__ import annotations

import json
from copy import deepcopy
from functools import lru_cache
from pathlib import Path
from typing import Any

from nnviz.errors import NnvizError


def templates_dir() -> Path:
    """templates/ inside the installed package (wheel) or at the repo root (editable)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise NnvizError("nnviz's templates folder is missing; reinstall nnviz")


def builtin_themes() -> list[str]:
    return sorted(p.stem for p in (templates_dir() / "themes").glob("*.json"))


def _merge(base: dict, over: dict) -> dict:
    out = deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


@lru_cache(maxsize=32)
def _load_file(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


class Theme(dict):
    """A theme dict with helpers; missing keys fall back to the default theme."""

    def kind_style(self, kind: str) -> dict[str, Any]:
        kinds = self["kinds"]
        return kinds.get(kind) or kinds["other"]

    def paper_kind_style(self, kind: str) -> dict[str, Any]:
        """Fill and stroke of a kind in the paper styles: ``paper.kinds`` (stronger colours
        than the graph boxes, which carry text inside), else the graph style's."""
        own = self.get("paper", {}).get("kinds", {})
        return {**self.kind_style(kind), **own[kind]} if kind in own else self.kind_style(kind)


def load_theme(name_or_path: str | Path | None = None) -> Theme:
    """A built-in theme by name (default, paper, dark, ...) or a user's JSON file."""
    default_path = templates_dir() / "themes" / "default.json"
    base = json.loads(_load_file(str(default_path)))
    if name_or_path in (None, "", "default"):
        return Theme(base)
    path = Path(str(name_or_path))
    if not path.suffix and not path.exists():
        path = templates_dir() / "themes" / f"{name_or_path}.json"
        if not path.exists():
            raise NnvizError(
                f"unknown theme '{name_or_path}'; built-in themes are: "
                f"{', '.join(builtin_themes())}"
            )
    try:
        data = json.loads(_load_file(str(path)))
    except FileNotFoundError:
        raise NnvizError(f"{path}: theme file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NnvizError(f"{path}: theme file is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise NnvizError(f"{path}: theme file must hold a JSON object")
    return Theme(_merge(base, data))


def paper_settings(theme: Theme, style: str) -> dict[str, Any]:
    """The theme's settings for a paper style, with built-in fallbacks for old theme files."""
    defaults = {
        "neurons": {"radius": 8, "unit_gap": 5, "layer_gap": 80, "max_units": 12,
                    "proportions": "auto", "connection": "#9ca3af",
                    "connection_width": 0.6, "stroke_width": 1.2},
        "blocks": {"gap": 20, "min_height": 10, "max_height": 120, "min_thickness": 3,
                   "max_thickness": 36, "depth_ratio": 0.45, "vector_width": 6,
                   "proportions": "auto", "stroke_width": 0.8, "arc": "#555555",
                   "label_wrap": 96},
    }[style]
    return {**defaults, **theme.get("paper", {}).get(style, {})}


# The paper styles' sizes that draw the network (largest box, neuron circles, the gaps
# between columns); the text, the smallest boxes and the line widths stay as they are.
PAPER_SIZES = {"blocks": ("max_height", "max_thickness", "vector_width"),
               "neurons": ("radius", "unit_gap", "layer_gap")}


def scale_paper(theme: Theme, factor: float, label_wrap: float | None = None) -> Theme:
    """``theme`` with the paper styles' boxes and neuron circles ``factor`` times their size
    and the text unchanged: at a printed width a figure whose boxes are smaller next to its
    text prints that text larger. The smallest boxes keep their size (min_height,
    min_thickness), so a 7x7 map stays visible, and proportions between boxes hold above it.
    ``label_wrap`` (px) narrows the labels' lines when it is less than the theme's."""
    blocks = paper_settings(theme, "blocks")
    narrower = label_wrap is not None and label_wrap < float(blocks["label_wrap"])
    if factor == 1.0 and not narrower:
        return theme
    paper = dict(theme.get("paper", {}))
    for style, keys in PAPER_SIZES.items():
        cfg = paper_settings(theme, style)
        paper[style] = {**paper.get(style, {}),
                        **{k: round(float(cfg[k]) * factor, 2) for k in keys}}
    if narrower:
        paper["blocks"]["label_wrap"] = label_wrap
    return Theme({**theme, "paper": paper})
