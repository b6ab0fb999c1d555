"""PyTorch loader: live nn.Module, torch.export ``.pt2`` files and ``package.module:factory``.

A live module is first run once with forward hooks (``torch_capture.capture_fast``); that
capture is kept when its module-level drawing is provably the one torch.export gives, which
skips export's seconds of start-up and tracing. Otherwise it is captured with ``torch.export``
(the ATen graph with shapes); when export cannot capture it, ``torch.fx`` symbolic tracing,
then the eager run with forward hooks, each fallback announced with a
:class:`CaptureFallbackWarning`. By default leaf module calls
(``nn.Linear``, ``nn.Conv2d``, a user's module that calls no child) are one node with their
parameters, functional ops between them stay, and the module paths give the group tree;
``aten=True`` draws every captured op instead.

Files: ``.pt2`` is read as data (``torch_pt2``). ``.pt``/``.pth`` files are opened with
``torch.load(weights_only=True)`` only, which cannot run code: a state_dict gets a message that
it holds no architecture, and a pickled whole model is refused unless ``trust_pickle=True``.

torch is imported only inside these functions (via ``torch_capture``), never by ``import nnviz``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nnviz.errors import MissingDependency, ModelError
from nnviz.ir import Graph
from nnviz.loaders.torch_build import build_graph


class CaptureFallbackWarning(UserWarning):
    """A capture method failed and nnviz fell back to the next one."""


_CAPTURES = ("export", "fx", "hooks")
_CAPTURE_NAMES = {"export": "torch.export", "fx": "torch.fx symbolic tracing",
                  "hooks": "forward hooks"}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise MissingDependency("Drawing a PyTorch model", "torch", "torch") from None
    return torch


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    first = next((ln.strip() for ln in text if ln.strip()), "")
    first = first if len(first) <= limit else first[:limit - 3] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _dtype(name: str | None) -> Any:
    torch = _torch()
    text = (name or "float32").replace("torch.", "").strip()
    aliases = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
               "int": "int32"}
    dt = getattr(torch, aliases.get(text, text), None)
    if not isinstance(dt, torch.dtype):
        raise ModelError(None, f"unknown input dtype '{name}'; use e.g. float32, float16, int64")
    return dt


def _example_args(example_input: Any, input_shape: Any, dtype_name: str | None,
                  device: Any = None) -> tuple[tuple, dict]:
    """The positional and keyword example inputs for capture, made on ``device``."""
    torch = _torch()
    if example_input is not None:
        if isinstance(example_input, dict):
            return (), dict(example_input)
        if isinstance(example_input, (tuple, list)):
            return tuple(example_input), {}
        return (example_input,), {}
    if input_shape is None:
        raise ModelError(None, "drawing a live PyTorch module needs an example input: pass "
                               "example_input=... or input_shape=(1, 3, 224, 224) "
                               "(--input-shape on the command line)")
    shapes = input_shape
    if shapes and all(isinstance(d, int) for d in shapes):
        shapes = [shapes]
    dt = _dtype(dtype_name)
    gen = torch.Generator().manual_seed(0)  # deterministic, though only shapes are used
    args = []
    for shape in shapes:
        shape = tuple(int(d) for d in shape)
        if device is not None and torch.device(device).type == "meta":
            args.append(torch.empty(shape, dtype=dt, device="meta"))
        elif dt.is_floating_point or dt.is_complex:
            args.append(torch.randn(shape, generator=gen).to(dt).to(device or "cpu"))
        else:  # token ids 0 are valid indices
            args.append(torch.zeros(shape, dtype=dt, device=device or "cpu"))
    return tuple(args), {}


def load_object(obj: Any, example_input: Any = None, input_shape: Any = None,
                input_dtype: str = "float32", aten: bool = False, capture: str = "auto",
                **options: Any) -> Graph:
    """An ``nn.Module`` (with an example input) or an ``ExportedProgram`` -> Graph.

    ``capture`` is "auto" (export, then fx, then hooks) or one of "export", "fx", "hooks".
    """
    torch = _torch()
    from nnviz.loaders import torch_capture

    if options.get("dtype") and input_dtype == "float32":
        input_dtype = options["dtype"]
    if isinstance(obj, torch.export.ExportedProgram):
        trace = torch_capture.from_exported(obj, name=_program_name(obj))
        graph = build_graph(trace, aten=aten)
        return _finish(graph, trace.meta["capture"])
    if not isinstance(obj, torch.nn.Module):
        raise ModelError(None, f"cannot draw a {type(obj).__name__}; pass a torch.nn.Module "
                               "or a torch.export.ExportedProgram")
    # torch.compile and (Distributed)DataParallel wrap the user's module: draw the module.
    for _ in range(4):
        inner = getattr(obj, "_orig_mod", None)
        if inner is None and type(obj).__name__ in ("DataParallel", "DistributedDataParallel"):
            inner = getattr(obj, "module", None)
        if not isinstance(inner, torch.nn.Module):
            break
        obj = inner
    if capture != "auto" and capture not in _CAPTURES:
        raise ModelError(None, f"unknown capture method '{capture}'; use auto, export, fx or "
                               "hooks")
    # A model built on the meta device (no weight memory: how big models are drawn) gets
    # meta inputs; capture then computes shapes only.
    first = next(iter(obj.parameters()), None)
    if first is None:
        first = next(iter(obj.buffers()), None)
    device = None if first is None else first.device
    args, kwargs = _example_args(example_input, input_shape, input_dtype, device)
    name = type(obj).__name__
    methods = _CAPTURES if capture == "auto" else (capture,)
    # Capture in eval mode (no dropout, BN running stats read not updated), restore after.
    modes = [(m, m.training) for m in obj.modules()]
    obj.eval()
    try:
        if capture == "auto" and not aten:
            trace = _fast(obj, args, kwargs, name)
            if trace is not None:
                return _finish(build_graph(trace), trace.meta["capture"], module=obj)
        errors: list[str] = []
        for i, method in enumerate(methods):
            try:
                trace = _capture(method, obj, args, kwargs, name)
            except Exception as exc:  # any capture failure means: try the next method
                errors.append(f"{_CAPTURE_NAMES[method]}: {_one_line(exc)}")
                if i == 0 and i + 1 < len(methods):
                    # A wrong input shape fails every method: say so once, not as fallbacks.
                    _eager_check(obj, args, kwargs, name)
                if i + 1 < len(methods):
                    warnings.warn(f"{_CAPTURE_NAMES[method]} could not capture {name} "
                                  f"({_one_line(exc)}); falling back to "
                                  f"{_CAPTURE_NAMES[methods[i + 1]]}",
                                  CaptureFallbackWarning, stacklevel=2)
                    continue
                if method == "hooks":
                    # Running the model eagerly failed: the example input does not fit it.
                    raise ModelError(None, f"running {name} on the example input failed "
                                           f"({_one_line(exc)})") from None
                raise ModelError(None, f"could not capture {name}: {'; '.join(errors)}"
                                 ) from None
            if aten and method == "fx":
                warnings.warn("torch.fx capture has no ATen-level graph; drawing torch-level "
                              "ops", CaptureFallbackWarning, stacklevel=2)
            graph = build_graph(trace, aten=aten)
            return _finish(graph, trace.meta["capture"], module=obj)
    finally:
        for m, training in modes:
            m.training = training
    raise AssertionError("unreachable")  # pragma: no cover


# The fast capture runs the model for real (export only propagates shapes): past this many
# parameters on a real device that costs more than export saves, so export goes first.
_FAST_MAX_PARAMS = 1_000_000_000


def _fast(module: Any, args: tuple, kwargs: dict, name: str) -> Any:
    """The checked forward-hooks capture (``torch_capture.capture_fast``): export's drawing in
    a fraction of its time, or None when it cannot vouch for that (then export runs)."""
    torch = _torch()
    from nnviz.loaders import torch_capture

    first = next(iter(module.parameters()), None)
    if first is not None and not first.is_meta and \
            sum(p.numel() for p in module.parameters()) > _FAST_MAX_PARAMS:
        return None
    try:
        with warnings.catch_warnings(), torch.no_grad(), _one_thread(torch):
            warnings.simplefilter("ignore")
            trace, _ = torch_capture.capture_fast(module, args, kwargs, name)
    except Exception:  # noqa: BLE001 - the export chain reports what is wrong, in its words
        return None
    return trace


@contextlib.contextmanager
def _one_thread(torch: Any) -> Iterator[None]:
    """Run the capture's ops on one CPU thread, then give the process its thread count back.

    Only the shapes of the run are kept, and a captured model's ops are mostly small (a
    48-layer encoder: 2,000 ATen calls of microseconds each), where an OpenMP parallel region
    per op costs more than it saves; on a busy machine its spin-waiting threads burned 5x the
    capture's CPU time (encoder: 2.7 s -> 0.4 s of CPU, load 7 on 2 cores)."""
    threads = torch.get_num_threads()
    if threads > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads > 1:
            torch.set_num_threads(threads)


def _eager_check(module: Any, args: tuple, kwargs: dict, name: str) -> None:
    """Raise the one-sentence error if the model cannot even run on the example input."""
    torch = _torch()
    try:
        with torch.no_grad(), _quiet_torch():
            module(*args, **kwargs)
    except Exception as exc:
        raise ModelError(None, f"running {name} on the example input failed "
                               f"({_one_line(exc)})") from None


def _capture(method: str, module: Any, args: tuple, kwargs: dict, name: str) -> Any:
    torch = _torch()
    from nnviz.loaders import torch_capture

    if method == "export":
        with _quiet_torch():
            try:
                ep = torch.export.export(module, args, kwargs or None, strict=False)
            except Exception as exc:
                # Hugging Face decoders return a KV-cache object by default, which export
                # cannot flatten; the architecture is the same without it.
                if "Cache" not in str(exc) or "use_cache" in kwargs or \
                        not _takes_keyword(module, "use_cache"):
                    raise
                kwargs = {**kwargs, "use_cache": False}
                ep = torch.export.export(module, args, kwargs, strict=False)
        trace = torch_capture.from_exported(ep, name=name, module=module)
        if kwargs.get("use_cache") is False:
            trace.meta["export_kwargs"] = {"use_cache": False}
        return trace
    if method == "fx":
        with _quiet_torch():  # ShapeProp prints its own traceback on failure
            return torch_capture.capture_fx(module, args, kwargs, name)
    # no_grad: no autograd graph for a big model. nn.TransformerEncoderLayer's fused fast path
    # (which would hide its submodules) is off while a torch function mode is active.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch_capture.capture_hooks(module, args, kwargs, name)


def _takes_keyword(module: Any, name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """Silence export's own chatter: warnings, log lines and the partial graph it prints to
    stderr on failure. Our fallback warning names the reason in one line instead."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _program_name(ep: Any) -> str:
    for node in ep.graph.nodes:
        stack = node.meta.get("nn_module_stack") or {}
        for path, cls in stack.values():
            if path == "":
                name = cls if isinstance(cls, str) else cls.__name__
                return name.rsplit(".", 1)[-1]
    return "model"


def _finish(graph: Graph, capture: str, module: Any = None) -> Graph:
    torch = _torch()
    graph.meta.update({"framework": "torch", "producer": f"torch {torch.__version__}",
                       "capture": capture})
    if module is not None:
        _module_canon(graph, module)
        # Parameters no captured op touched (unused layers) are still part of the model.
        seen = {p.name for n in graph.nodes.values() for p in n.params}
        unused = [n for n, _ in module.named_parameters() if n not in seen]
        if unused:
            graph.meta["unused_params"] = unused
    return graph


# A layer's own settings, as nn.Conv2d / nn.MaxPool2d / nn.Linear keep them.
_MODULE_ATTRS = ("kernel_size", "stride", "padding", "dilation", "groups", "in_channels",
                 "out_channels", "output_padding", "transposed", "ceil_mode", "output_size",
                 "in_features", "out_features")


def _module_canon(graph: Graph, module: Any) -> None:
    """A live model's conv, pool and linear boxes take their canonical attributes from the
    module itself: every capture route (the eager hooks run records no positional
    arguments) then says what a .pt2 file of the same model says."""
    from nnviz.loaders.canon_attrs import canonical

    for node in graph.nodes.values():
        path = node.attrs.get("module")
        if node.kind not in ("conv", "pool", "linear") or not isinstance(path, str):
            continue
        try:
            sub = module.get_submodule(path) if path else module
        except (AttributeError, ValueError, TypeError):
            continue
        own = {}
        for key in _MODULE_ATTRS:
            value = getattr(sub, key, None)
            if isinstance(value, (bool, int, str)) or (
                    isinstance(value, (tuple, list)) and all(isinstance(v, int) for v in value)):
                own[key] = list(value) if isinstance(value, tuple) else value
        if own:
            node.canon = {**node.canon, **canonical(node.op, node.kind, own, "torch")}


# ---- files ----------------------------------------------------------------------------------


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return []


def load_file(path: str | os.PathLike, trust_pickle: bool = False, aten: bool = False,
              **options: Any) -> Graph:
    """A ``.pt2`` ExportedProgram, or a ``.pt``/``.pth`` file (refused or explained)."""
    path = Path(path)
    names = _zip_names(path)
    from nnviz.loaders import torch_pt2

    if path.suffix.lower() == ".pt2" or any(torch_pt2.is_program_member(n) for n in names):
        return _load_pt2(path, aten)
    if any("/code/__torch__" in n for n in names):
        raise ModelError(path, "is a TorchScript archive; nnviz reads torch.export .pt2 files "
                               "(torch.export.save) or draws the nn.Module from your code")
    torch = _torch()
    pickled = False
    obj: Any = None
    try:
        obj = _weights_only_load(torch, path)
    except Exception as exc:
        if type(exc).__name__ != "UnpicklingError":
            raise ModelError(path, f"is not a PyTorch file nnviz can read ({_one_line(exc)})"
                             ) from None
        pickled = True  # weights_only refused a global: the file wants to build objects
    if pickled:
        if not trust_pickle:
            raise ModelError(path, "is a pickled PyTorch object (torch.save(model)); loading it "
                                   "can run arbitrary code, so nnviz refuses it unless you pass "
                                   "--trust-pickle (trust_pickle=True), or save it with "
                                   "torch.export.save as .pt2")
        try:
            obj = torch.load(path, weights_only=False, map_location="cpu")
        except Exception as exc2:
            raise ModelError(path, f"could not be unpickled ({_one_line(exc2)})") from None
        if isinstance(obj, torch.nn.Module):
            if options.get("example_input") is None and options.get("input_shape") is None:
                raise ModelError(path, "holds a whole nn.Module; give --input-shape (or "
                                       "example_input=) so nnviz can run it")
            graph = load_object(obj, aten=aten, **options)
            graph.meta["file"] = str(path)
            return graph
        if isinstance(obj, torch.export.ExportedProgram):
            return load_object(obj, aten=aten)
    _explain_weights(path, obj)
    raise AssertionError("unreachable")  # pragma: no cover


def _weights_only_load(torch: Any, path: Path) -> Any:
    # mmap avoids reading a multi-GB checkpoint just to say it holds no architecture.
    try:
        return torch.load(path, weights_only=True, map_location="cpu", mmap=True)
    except RuntimeError as exc:
        if "mmap" not in str(exc):
            raise
        return torch.load(path, weights_only=True, map_location="cpu")


def _explain_weights(path: Path, obj: Any) -> None:
    """Raise the message for a file that loaded as plain data (no architecture in it)."""
    torch = _torch()
    if isinstance(obj, dict):
        tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
        if tensors and len(tensors) == len(obj):
            total = sum(t.numel() for t in tensors)
            raise ModelError(path, f"is a state_dict ({len(tensors)} tensors, {total:,} "
                                   "values): it holds weights but no architecture; draw the "
                                   "model from its code instead, e.g. nnviz pkg.module:factory "
                                   "--input-shape 1,3,224,224 -o net.svg")
        keys = ", ".join(sorted(str(k) for k in list(obj)[:6]))
        raise ModelError(path, f"is a checkpoint dictionary (keys: {keys}) with weights but no "
                               "architecture; draw the model from its code instead, e.g. "
                               "nnviz pkg.module:factory --input-shape 1,3,224,224 -o net.svg")
    raise ModelError(path, f"holds a {type(obj).__name__}, not a model architecture")


def _pt2_pickles(torch: Any, path: Path) -> list[str]:
    """Members of a .pt2 archive that torch.export.load would unpickle unsafely.

    torch.export.load falls back to ``torch.load(weights_only=False)`` for sample inputs and
    for weights/constants flagged ``use_pickle``, and ``pickle.loads`` opaque objects: a crafted
    .pt2 can run code. Each such member must load with ``weights_only=True`` (which cannot
    run code, and then the unsafe load builds the same plain data); custom and opaque objects
    are refused outright.
    """
    unsafe: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            to_check: list[str] = []
            for name in names:
                folder, _, base = name.rpartition("/")
                if base.endswith(".json") and ("/data/weights" in name or
                                               "/data/constants" in name):
                    try:
                        config = json.loads(zf.read(name)).get("config", {})
                    except (ValueError, AttributeError):
                        unsafe.append(name)
                        continue
                    for fqn, meta in config.items():
                        pname = str(meta.get("path_name", ""))
                        if pname.startswith(("custom_obj_", "opaque_obj_")):
                            unsafe.append(fqn)
                        elif meta.get("use_pickle"):
                            to_check.append(f"{folder}/{pname}")
                elif base.endswith((".pt", ".pkl", ".pth")):
                    to_check.append(name)
            for name in to_check:
                if name not in names:
                    continue
                try:
                    torch.load(io.BytesIO(zf.read(name)), weights_only=True)
                except Exception:  # refused by the weights-only unpickler: not plain data
                    unsafe.append(name)
    except (zipfile.BadZipFile, OSError):
        return []  # not a zip: torch.export.load reports that itself
    return unsafe


def _load_pt2(path: Path, aten: bool) -> Graph:
    """A .pt2 archive read as data (``torch_pt2``): no torch import, nothing unpickled, so
    a pickle inside the archive (sample inputs, custom objects) is never run, and exports of
    models whose output types torch.export.load cannot rebuild still draw."""
    from nnviz.loaders import torch_pt2

    doc, tied, _ = torch_pt2.read_archive(path)
    try:
        trace = torch_pt2.trace_from_program(doc, name=path.stem, tied=tied)
    except torch_pt2.Pt2Error as exc:
        raise ModelError(path, f"is a damaged .pt2 archive ({exc})") from None
    graph = build_graph(trace, aten=aten)
    version = trace.meta.get("torch_version")
    graph.meta.update({"framework": "torch", "capture": "torch.export",
                       "producer": f"torch {version}" if version else "torch.export",
                       "file": str(path)})
    return graph


# ---- import specs ---------------------------------------------------------------------------


def resolve_spec(spec: str) -> Any:
    """``package.module:factory`` -> the object it names, called when it is a class or factory
    (an nn.Module or an ExportedProgram). This imports and runs the user's own code."""
    torch = _torch()
    mod_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:  # the CLI runs from the user's project: let its packages import
        sys.path.insert(0, cwd)
    try:
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise ModelError(spec, f"cannot import module '{mod_name}' ({_one_line(exc)})"
                             ) from None
        except Exception as exc:
            raise ModelError(spec, f"importing '{mod_name}' failed ({_one_line(exc)})"
                             ) from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ModelError(spec, f"'{mod_name}' has no attribute '{attr}'")
        target = getattr(target, part)
    if isinstance(target, torch.nn.Module):
        model = target
    elif callable(target):
        try:
            model = target()
        except Exception as exc:
            raise ModelError(spec, f"calling {attr}() failed ({_one_line(exc)}); the factory "
                                   "must take no arguments") from None
    else:
        raise ModelError(spec, f"'{attr}' is a {type(target).__name__}, not an nn.Module, "
                               "a module class or a factory function")
    if not isinstance(model, (torch.nn.Module, torch.export.ExportedProgram)):
        raise ModelError(spec, f"{attr}() returned a {type(model).__name__}, not a "
                               "torch.nn.Module")
    return model


def load_spec(spec: str, input_shape: Any = None, input_dtype: str = "float32",
              example_input: Any = None, aten: bool = False, **options: Any) -> Graph:
    """``package.module:factory`` -> Graph. This imports and runs the user's own code.

    ``factory`` may be an nn.Module subclass, a function returning a module (both called with
    no arguments) or a module instance; dotted attributes (``zoo:models.small``) are followed.
    """
    torch = _torch()
    model = resolve_spec(spec)
    if isinstance(model, torch.export.ExportedProgram):
        return load_object(model, aten=aten)
    if example_input is None and input_shape is None:
        raise ModelError(spec, "needs an example input shape to run the model, e.g. "
                               "--input-shape 1,3,224,224")
    graph = load_object(model, example_input=example_input, input_shape=input_shape,
                        input_dtype=input_dtype, aten=aten, **options)
    graph.meta["source"] = spec
    return graph
