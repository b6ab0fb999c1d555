"""Command line: `nnviz MODEL -o OUT` draws; subcommands summary, diff, stats, view.

Exit codes: 0 ok, 1 a problem with the model or input (one sentence on stderr naming the
file), 2 usage errors (click's own).
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import click

from nnviz.errors import NnvizError
from nnviz.layout import DIRECTIONS, ENGINES, STYLES
from nnviz.passes import ViewOptions
from nnviz.render import FORMAT_TABLE, format_names
from nnviz.reports import FORMATS as REPORT_FORMATS

EXAMPLES = """
\b
Examples:
  nnviz model.onnx -o net.svg
  nnviz model.keras -o net.png --direction LR --theme paper
  nnviz model.onnx -o net.pdf --depth 2
  nnviz lenet.onnx -o fig.pdf --style blocks --theme paper
  nnviz mlp.onnx -o fig.tex --style neurons --tikz-snippet
  nnviz mypkg.models:make_net --input-shape 1,3,224,224 -o net.svg
  nnviz summary model.onnx --format markdown
  nnviz diff old.onnx new.onnx
  nnviz stats model.onnx
  nnviz view model.onnx
"""


def _fail(message: str) -> None:
    click.echo(f"nnviz: error: {message}", err=True)
    sys.exit(1)


def run_guarded(fn: Callable[[], Any], debug: bool = False) -> Any:
    """Run a command body: user errors become one line and exit 1, never a traceback."""
    try:
        return fn()
    except NnvizError as exc:
        if debug:
            traceback.print_exc()
        _fail(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    except KeyboardInterrupt:
        click.echo("nnviz: interrupted", err=True)
        sys.exit(130)
    except MemoryError:
        _fail("ran out of memory; try --depth to collapse groups or a smaller model")
    except RecursionError:
        _fail("the model is nested too deeply to process")
    except Exception as exc:  # an unexpected failure: still one line, details with --debug
        if debug or os.environ.get("NNVIZ_DEBUG"):
            traceback.print_exc()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _fail(f"internal error ({type(exc).__name__}{': ' + text if text else ''}); "
              "rerun with --debug for details and please report it")


class DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, runs the `draw` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h",
                                                                     "--version"):
            args = ["draw", *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("nnviz", "MODEL -o OUTPUT [OPTIONS] | COMMAND [ARGS]...")


def _parse_dims(values: tuple[str, ...]) -> dict[str, int]:
    dims = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.strip().lstrip("-").isdigit():
            raise click.BadParameter(f"expected NAME=INT, got {item!r}", param_hint="--dim")
        dims[name.strip()] = int(value)
    return dims


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}",
                                 param_hint="--input-shape") from None
    if not shape or any(d <= 0 for d in shape):
        raise click.BadParameter(f"expected positive sizes, got {text!r}",
                                 param_hint="--input-shape")
    return shape


def view_options(f: Callable) -> Callable:
    """Options shared by the drawing, summary and viewer: what to show."""
    opts = [
        click.option("--depth", type=click.IntRange(0), default=None,
                      help="Draw the groups N levels down as single boxes, like torchinfo/"
                           "torchview (1: the model's direct children; 0: one box). Default: "
                           "automatic (README: 'Big models')."),
        click.option("--expand", multiple=True, metavar="PATH",
                     help="Always expand this group (e.g. encoder/layer.3). Repeatable."),
        click.option("--collapse", multiple=True, metavar="PATH",
                     help="Always collapse this group. Repeatable."),
        click.option("--fold/--no-fold", default=None,
                     help="Fold repeated identical blocks into one box with a xN badge "
                          "(default: automatic on big graphs)."),
        click.option("--hide-noise", is_flag=True,
                     help="Hide shape-plumbing ops (Reshape, Transpose, Cast, ...)."),
        click.option("--dim", "dims", multiple=True, metavar="NAME=INT",
                     help="Value of a symbolic dimension, e.g. --dim batch=1. Repeatable."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def load_options(f: Callable) -> Callable:
    opts = [
        click.option("--input-shape", default=None, metavar="1,3,224,224",
                     help="Example input shape for a PyTorch model or import spec."),
        click.option("--input-dtype", default="float32", show_default=True,
                     help="Example input dtype for --input-shape."),
        click.option("--trust-pickle", is_flag=True,
                     help="Allow loading pickled PyTorch files (runs code from the file!)."),
        click.option("--aten", is_flag=True,
                     help="PyTorch: show the ATen-level graph instead of modules."),
        click.option("--capture", type=click.Choice(["auto", "export", "fx", "hooks"]),
                     default="auto", show_default=True,
                     help="PyTorch: how to capture a live model (auto: a forward-hooks run "
                          "when it provably draws what torch.export would, else torch.export, "
                          "torch.fx, then forward hooks)."),
        click.option("--debug", is_flag=True, help="Show tracebacks for errors."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def sample_options(f: Callable) -> Callable:
    """Options saying what to run a model on, for the value overlays (nnviz.values)."""
    opts = [
        click.option("--sample", default=None, type=click.Path(dir_okay=False),
                     help="Input sample: .npy, .npz (one array per input) or a .pt tensor "
                          "file (read with weights_only). Default: generated from "
                          "--input-shape/--input-dtype (or the model's own input shapes).'"),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed for a generated sample: N(0, 1) floats, uniform integers."),
        click.option("--int-range", default=None, metavar="LOW,HIGH",
                     help="Range of generated integer inputs, HIGH exclusive (default 0,100, "
                          "capped at the smallest torch nn.Embedding)."),
        click.option("--target", default=None, type=click.Path(dir_okay=False),
                     help="Expected output (.npy/.npz/.pt) for the loss; default loss: the "
                          "mean of the outputs."),
        click.option("--loss", default=None, type=click.Choice(["cross_entropy", "mse"]),
                     help="Loss against --target for the gradients."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _capture_kwargs(kw: dict) -> dict:
    from nnviz.values.inputs import parse_int_range

    return {"sample": kw.get("sample"), "input_shape": _parse_shape(kw.get("input_shape")),
            "input_dtype": kw.get("input_dtype") or "float32", "seed": kw.get("seed") or 0,
            "int_range": parse_int_range(kw.get("int_range")), "target": kw.get("target"),
            "loss": kw.get("loss"), "load_options": _loader_kwargs(kw)}


def _loader_kwargs(kw: dict) -> dict:
    out: dict[str, Any] = {}
    shape = _parse_shape(kw.get("input_shape"))
    if shape is not None:
        out["input_shape"] = shape
        out["input_dtype"] = kw.get("input_dtype") or "float32"
    if kw.get("trust_pickle"):
        out["trust_pickle"] = True
    if kw.get("aten"):
        out["aten"] = True
    if kw.get("capture") not in (None, "auto"):
        out["capture"] = kw["capture"]
    return out


def _view(kw: dict) -> ViewOptions:
    return ViewOptions(depth=kw.get("depth"), expand=tuple(kw.get("expand") or ()),
                       collapse=tuple(kw.get("collapse") or ()), fold=kw.get("fold"),
                       hide_noise=bool(kw.get("hide_noise")), dims=_parse_dims(kw.get("dims", ())))


@click.group(cls=DefaultGroup, help="Draw neural network architectures.\n" + EXAMPLES,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="nnviz", prog_name="nnviz")
def main() -> None:
    # Warnings meant for users (e.g. a PyTorch capture fallback) print as one line.
    warnings.formatwarning = _format_warning


def _format_warning(message: Any, category: Any, filename: str, lineno: int,
                    line: str | None = None) -> str:
    return f"nnviz: warning: {message}\n"


@main.command("draw", help="Draw MODEL to OUTPUT (format from the extension); several models "
              "or a glob pattern: each into the folder OUTPUT, in parallel.\n" + EXAMPLES)
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output file: " + " ".join(f.extensions[0] for f in FORMAT_TABLE) +
                   " (a folder for several models)")
@click.option("-f", "--format", "fmt", default=None,
              type=click.Choice(format_names(with_aliases=True)),
              help="Force the output format.")
@click.option("--engine", default="layered", show_default=True,
              type=click.Choice(list(ENGINES)), help="Layout engine.")
@click.option("--direction", default=None,
              type=click.Choice(list(DIRECTIONS), case_sensitive=False),
              help="Flow direction (default: TB for graphs, LR for the paper styles).")
@click.option("--theme", default=None, help="Theme name (default, paper, dark) or a JSON file.")
@click.option("--style", default="graph", show_default=True,
              type=click.Choice(list(STYLES)),
              help="Graph drawing, or a paper style: 3-D blocks or neuron diagram.")
@click.option("--proportions", default=None,
              type=click.Choice(["auto", "sqrt", "linear", "log"]),
              help="Paper styles: how box and column sizes follow tensor sizes (default "
                   "auto: linear where nothing would be clamped, else sqrt; clamped so "
                   "small maps stay visible).")
@click.option("--rows", type=click.IntRange(min=1, max=50), default=None,
              help="Paper styles left to right: wrap the boxes into at most N rows "
                   "(default: one, or as many as --width needs for readable text; an "
                   "encoder-decoder such as a UNet is drawn as a U unless N is given).")
@click.option("--width", "print_width", default=None, metavar="LENGTH",
              help="Scale the figure to a printed width (3.3in for a paper column, 6.9in "
                   "for a full-width figure; cm, mm, pt and px too) and report the "
                   "smallest font size.")
@click.option("--dpi", type=float, default=None, help="PNG resolution (default 96, or 300 "
              "with --width).")
@click.option("--scale", type=float, default=None, help="PNG scale factor.")
@click.option("--tikz-snippet", is_flag=True, help="TikZ: write only the tikzpicture.")
@click.option("--embed-font", is_flag=True,
              help="SVG: embed the (subset) font so browsers without DejaVu Sans match.")
@click.option("--force", is_flag=True, help="Draw even absurdly large graphs.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Several models: worker processes (default: one per core).")
@click.option("--overlay", default=None, type=click.Choice(["activations", "gradients",
                                                            "weights"]),
              help="Run the model on one sample and colour each box by its values "
                   "(flags NaN origin, dead, saturated, vanishing/exploding layers).")
@click.option("--metric", default=None,
              type=click.Choice(["std", "absmax", "zeros", "norm", "ratio", "mean"]),
              help="What --overlay shows (default: std for activations, norm for gradients "
                   "and weights; ratio = |grad| / |weight|).")
@click.option("--colormap", default="viridis", show_default=True,
              type=click.Choice(["viridis", "cividis"]), help="Colour scale of --overlay.")
@sample_options
@view_options
@load_options
def draw_cmd(models: tuple[str, ...], output: str, fmt: str | None, engine: str, direction: str,
             theme: str | None, style: str, proportions: str | None, rows: int | None,
             print_width: str | None, dpi: float | None, scale: float | None,
             tikz_snippet: bool, embed_font: bool, force: bool, jobs: int | None,
             overlay: str | None, metric: str | None, colormap: str, **kw: Any) -> None:
    import glob

    from nnviz.api import draw
    from nnviz.render import format_for

    render_opts: dict[str, Any] = {}
    if dpi is not None:
        render_opts["dpi"] = dpi
    if scale is not None:
        render_opts["scale"] = scale
    if tikz_snippet:
        render_opts["snippet"] = True
    if embed_font:
        render_opts["embed_font"] = True
    if print_width is not None:
        render_opts["width"] = print_width

    if overlay is None and (metric or kw.get("sample") or kw.get("target")):
        raise click.UsageError("--metric, --sample and --target go with --overlay")
    options = dict(engine=engine, direction=direction, theme=theme, style=style,
                   view=_view(kw), load_options=_loader_kwargs(kw), force=force,
                   proportions=proportions, rows=rows, **render_opts)
    if len(models) > 1 or glob.has_magic(models[0]):
        if overlay is not None:
            raise click.UsageError("--overlay draws one model at a time")
        sys.exit(_draw_many(models, output, fmt or "svg", jobs, options))
    model = models[0]
    if os.path.isdir(output):
        raise click.BadParameter(f"File '{output}' is a directory.",
                                 param_hint="'-o' / '--output'")

    def body() -> None:
        format_for(output, fmt)  # fail on a bad extension before the slow work
        source: Any = model
        if overlay is not None:
            from nnviz.values import capture

            source = capture(model, gradients=overlay != "weights" or metric == "ratio",
                             **_capture_kwargs(kw))
            options["overlay"] = {"overlay": overlay, "metric": metric, "colormap": colormap}
            if kw.get("fold") is None:
                options["view"].fold = False  # a folded "x12" box would show one block's values
            _echo_values(source)
        drawing = draw(source, output, fmt=fmt, **options)
        if drawing.width_in is not None and drawing.smallest_font_pt is not None:
            flow = drawing.flow_note()
            click.echo(f"nnviz: {output}: {drawing.width_in:.2f} in wide, smallest text "
                       f"{drawing.smallest_font_pt:.1f} pt" + (f" ({flow})" if flow else ""),
                       err=True)

    run_guarded(body, kw.get("debug", False))


def _draw_many(models: tuple[str, ...], out_dir: str, fmt: str, jobs: int | None,
               options: dict[str, Any]) -> int:
    """Batch mode of `draw`: every model into ``out_dir``; a bad file is reported in one line
    and skipped. Exit 0 when all were drawn, 1 when any failed."""
    from nnviz.batch import draw_many, expand_sources, one_thread_per_worker

    one_thread_per_worker()  # this process stays forkable; workers do not oversubscribe
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        _fail(f"{out_dir}: several models are drawn into a folder, and this is a file")
    files = expand_sources(models)
    failed = 0

    def report(res: Any) -> None:
        nonlocal failed
        if not res.ok:
            failed += 1
            click.echo(f"nnviz: error: {res.error}", err=True)

    from nnviz.layout.layered.progress import LayoutProgress

    progress = LayoutProgress(len(files), what="drawing models", delay=0.0)

    def on_result(res: Any) -> None:
        report(res)
        progress.advance()

    try:
        results = draw_many(files, out_dir, fmt=fmt, max_workers=jobs, on_result=on_result,
                            **options)
    except OSError as exc:
        _fail(f"{out_dir}: cannot write there ({exc.strerror or exc})")
    finally:
        progress.close()
    drawn = sum(r.ok for r in results)
    click.echo(f"nnviz: drew {drawn} of {len(results)} models into {out_dir}", err=True)
    return 1 if failed else 0


def _echo_values(graph: Any) -> None:
    """What the values came from, and what is flagged, on stderr (stdout stays clean)."""
    values = graph.meta.get("values", {})
    click.echo(f"nnviz: values from {values.get('sample', 'a sample')}; "
               f"{values.get('loss', '')}", err=True)
    for nid, entry in values.get("flags", {}).items():
        click.echo(f"nnviz: flagged {nid}: {', '.join(entry['flags'])}", err=True)


@main.command("summary", help="Print a table of layers: type, output shape, params, FLOPs.")
@click.argument("model")
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(REPORT_FORMATS["summary"]))
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write to a file instead of stdout.")
@view_options
@load_options
def summary_cmd(model: str, fmt: str, output: str | None, **kw: Any) -> None:
    def body() -> None:
        from nnviz.loaders import load
        from nnviz.reports.summary import summarize

        graph = load(model, **_loader_kwargs(kw))
        summarize(graph, _view(kw), fmt=fmt, output=output)

    run_guarded(body, kw.get("debug", False))


@main.command("diff", help="Compare two models: added, removed and changed layers.")
@click.argument("old")
@click.argument("new")
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(REPORT_FORMATS["diff"]))
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write a drawing of the differences (.svg/.png/.html) or the report.")
@click.option("--weights", "weights", is_flag=True,
              help="Compare weight values of two checkpoints of one architecture: colour "
                   "each layer by ||W_new - W_old|| / ||W_old||, list frozen and most-changed "
                   "layers.")
@click.option("--model", "arch", default=None, metavar="PKG.MODULE:FACTORY",
              help="--weights of two state-dict .pt files: the model to draw them on.")
@load_options
def diff_cmd(old: str, new: str, fmt: str, output: str | None, weights: bool,
             arch: str | None, **kw: Any) -> None:
    def body() -> int:
        if weights:
            from nnviz.api import diff_weights

            return diff_weights(old, new, output=output, fmt=fmt, model=arch,
                                load_options=_loader_kwargs(kw))
        if arch:
            raise click.UsageError("--model goes with --weights")
        from nnviz.api import diff_models

        return diff_models(old, new, fmt=fmt, output=output, load_options=_loader_kwargs(kw))

    changed = run_guarded(body, kw.get("debug", False))
    sys.exit(1 if changed and os.environ.get("NNVIZ_DIFF_EXIT_CODE") else 0)


@main.command("stats", help="Weight statistics; flags NaN/Inf, all-zero and exploding tensors.")
@click.argument("model")
@click.option("--format", "fmt", default="table", show_default=True,
              type=click.Choice(REPORT_FORMATS["stats"]))
@click.option("--strict", is_flag=True, help="Exit 3 when any tensor is flagged.")
@load_options
def stats_cmd(model: str, fmt: str, strict: bool, **kw: Any) -> None:
    def body() -> int:
        from nnviz.reports.stats import weight_stats_report

        return weight_stats_report(model, fmt=fmt, load_options=_loader_kwargs(kw))

    flagged = run_guarded(body, kw.get("debug", False))
    if strict and flagged:
        sys.exit(3)


@main.command("grads", help="Gradient flow chart: mean and max |grad| per layer, in forward "
                            "order, on a log scale; vanishing/exploding layers marked.\n\n"
                            "\b\nExamples:\n  nnviz grads pkg.models:net --input-shape 8,3,32,32 "
                            "-o flow.svg\n  nnviz grads model.pt2 --sample x.npz --format csv")
@click.argument("model")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Chart (.svg .png .pdf) or rows (.json .csv .md); default: a table.")
@click.option("--format", "fmt", default=None,
              type=click.Choice(["table", "json", "csv", "markdown", "svg", "png", "pdf"]),
              help="Force the output format.")
@sample_options
@load_options
def grads_cmd(model: str, output: str | None, fmt: str | None, **kw: Any) -> None:
    def body() -> None:
        from nnviz.values import capture
        from nnviz.values.gradflow import write_grad_flow

        graph = capture(model, **_capture_kwargs(kw))
        _echo_values(graph)
        write_grad_flow(graph, output, fmt)

    run_guarded(body, kw.get("debug", False))


@main.command("view", help="Write the interactive HTML viewer to a temp file and open it.")
@click.argument("model")
@click.option("--theme", default=None, help="Theme name or JSON file.")
@click.option("--no-browser", is_flag=True, help="Only print the file path.")
@view_options
@load_options
def view_cmd(model: str, theme: str | None, no_browser: bool, **kw: Any) -> None:
    def body() -> None:
        import tempfile
        import webbrowser
        from pathlib import Path

        from nnviz.api import draw

        stem = Path(model).stem or "model"
        out = Path(tempfile.mkdtemp(prefix="nnviz-")) / f"{stem}.html"
        draw(model, out, theme=theme, view=_view(kw), load_options=_loader_kwargs(kw))
        opened = False
        if not no_browser:
            try:
                opened = webbrowser.open(out.as_uri())
            except webbrowser.Error:
                opened = False
        if opened:
            click.echo(f"Opened {out}")
        else:
            click.echo(f"Wrote {out}; open it in a web browser (file://{out})")

    run_guarded(body, kw.get("debug", False))


if __name__ == "__main__":  # pragma: no cover
    main()
