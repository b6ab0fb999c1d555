"""python -m tests.zoo build [names] | report [names] [--markdown FILE]

``build`` fills ``$NNVIZ_ZOO_DIR`` (default ~/.cache/nnviz-zoo) with every route of every
model (or the named ones) and prints where the files are; ``report`` loads each artifact,
checks every invariant and prints the model x route table: boxes in the default view, our
total against the framework's count, and which invariants fail.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from .build import ZOO, Zoo, default_root


def _root() -> Path:
    return default_root() or Path.home() / ".cache" / "nnviz-zoo"


def _targets(names: list[str]) -> list[tuple[str, str]]:
    unknown = [n for n in names if n.split(":")[0] not in ZOO]
    if unknown:
        sys.exit(f"unknown zoo model(s): {', '.join(unknown)}; known: {', '.join(ZOO)}")
    out = []
    for name in names or list(ZOO):
        model, _, route = name.partition(":")
        routes = [route] if route else list(ZOO[model].routes)
        out.extend((model, r) for r in routes)
    return out


def build(names: list[str]) -> int:
    zoo = Zoo(_root(), file_truth=True)
    failed = 0
    for model, route in _targets(names):
        t = time.time()
        try:
            art = zoo.artifact(model, route)
        except Exception as exc:  # noqa: BLE001 - report every exporter failure and go on
            failed += 1
            print(f"{model:20s} {route:12s} FAILED {type(exc).__name__}: "
                  f"{str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}",
                  flush=True)
            continue
        where = art.source if isinstance(art.source, Path) else "(live object)"
        print(f"{model:20s} {route:12s} {time.time() - t:6.1f}s params {art.expected_params:>11,}"
              f"  {where}", flush=True)
    print(f"zoo files in {zoo.root}")
    return 1 if failed else 0


def report(names: list[str], markdown: str | None, json_out: str | None = None) -> int:
    from .invariants import FAMILIES, check_all

    zoo = Zoo(_root(), file_truth=True)
    rows = []
    details: dict = {}
    for model, route in _targets(names):
        entry = ZOO[model]
        try:
            art = zoo.artifact(model, route)
            graph = art.load()
            res = check_all(graph, art.expected_for(graph), entry.feed_forward,
                            layout_views=("default",))
        except Exception as exc:  # noqa: BLE001 - a row says what broke
            if os.environ.get("NNVIZ_ZOO_DEBUG"):
                traceback.print_exc()
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
            rows.append((model, route, "-", "-", "-", "-", "-",
                         f"error: {type(exc).__name__}: {first}"))
            print(" | ".join(rows[-1]), flush=True)
            continue
        details[f"{model}:{route}"] = {f: res.family(f) for f in FAMILIES}
        ours = res.totals["default"][1]
        failing = [f for f in FAMILIES if res.family(f)]
        in_file = art.truth.get("route_info", {}).get("params")
        lost = art.expected_params - art.expected_for(graph)
        rows.append((model, route, str(res.boxes["default"]), f"{ours:,}",
                     f"{art.expected_params:,}", f"{lost:,}" if lost else "",
                     f"{in_file:,}" if in_file else "", ", ".join(failing) or "all pass"))
        print(" | ".join(rows[-1]), flush=True)
    # truth: the framework's count (torch parameters(), keras count_params()), for a
    # TorchScript ONNX file its own parameter-derived weights; not in file: elements of
    # parameters the exporter folded to the part the example reads (the graph's
    # partial_params; the totals check expects truth minus these); file: the parameter-
    # derived weights of any ONNX file
    head = ("model", "route", "boxes", "our total", "truth", "not in file", "file",
            "failing invariants")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(lines)
    print(text)
    if markdown:
        Path(markdown).write_text(text + "\n")
    if json_out:
        import json

        Path(json_out).write_text(json.dumps(details, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.zoo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build artifacts into $NNVIZ_ZOO_DIR")
    b.add_argument("names", nargs="*", help="models (or model:route); default: all")
    r = sub.add_parser("report", help="the model x route table")
    r.add_argument("names", nargs="*")
    r.add_argument("--markdown", help="also write the table to this file")
    r.add_argument("--json", help="also write every problem found to this file")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        return build(args.names)
    return report(args.names, args.markdown, args.json)


if __name__ == "__main__":
    sys.exit(main())
