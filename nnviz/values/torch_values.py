"""PyTorch value capture: one eager forward (and backward) run with hooks.

* A live ``nn.Module`` (or an import spec): the forward-hooks capture of
  ``nnviz.loaders.torch_capture`` runs the model once with autograd on; every op output is
  reduced to statistics as it is made (``observer.tensor``) and gets a tensor hook for its
  gradient. The drawing is built from that same run, so each value sits on the box that
  made it. Parameter gradients are reduced in ``register_post_accumulate_grad_hook`` and
  freed at once: nothing is kept whole.
* An ``ExportedProgram`` (``.pt2``): its graph module is run node by node with
  ``torch.fx.Interpreter`` on the program's own weights; node names are the IR's tensor ids.

torch is imported only here (and in the loaders), when a torch model is captured.
"""

from __future__ import annotations

import contextlib
import operator
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from nnviz.errors import ModelError, NnvizError
from nnviz.ir import Graph
from nnviz.loaders.torch import _finish, _one_line, _quiet_torch
from nnviz.loaders.torch_build import build_graph
from nnviz.loaders.torch_capture import _iter_tensors, _NameIndex
from nnviz.values.inputs import Sample, check_finite
from nnviz.values.stats import torch_stats

_SATURATING = {"sigmoid": "sigmoid", "tanh": "tanh", "softmax": "softmax",
               "_softmax": "softmax"}


def _saturation_of(func: Any) -> str | None:
    if func is None:
        return None
    name = str(getattr(func, "__name__", "") or func).rsplit(".", 1)[-1].strip("_")
    name = name.split(".")[0]
    return _SATURATING.get(name)


# Ops that only rearrange or copy their input: their output has the input's statistics.
_SAME_VALUES = {"view", "reshape", "flatten", "permute", "transpose", "t", "contiguous",
                "squeeze", "unsqueeze", "clone", "detach", "unsafe_view", "alias", "view_as",
                "reshape_as", "movedim", "swapaxes", "swapdims", "mT", "T"}


def _op_name(func: Any) -> str:
    schema = getattr(func, "_schema", None)
    name = schema.name if schema is not None else (getattr(func, "__name__", "") or str(func))
    return name.replace("::", ".").rsplit(".", 1)[-1].strip("_")


def _softmax_dim(args: tuple, kwargs: dict) -> int:
    dim = kwargs.get("dim")
    if dim is None and len(args) > 1 and isinstance(args[1], int):
        dim = args[1]
    return dim if isinstance(dim, int) else -1


class _Collector:
    """Statistics of activations, their gradients and the parameters' gradients."""

    def __init__(self, grads: bool):
        self.grads = grads
        self.acts: dict[str, dict] = {}
        self.act_grads: dict[str, dict] = {}
        self.result: Any = None
        self.handles: list[Any] = []
        self.by_obj: dict[int, tuple[Any, dict]] = {}

    def _same_as(self, func: Any, args: tuple, t: Any) -> dict | None:
        """The record of the input when ``func`` only rearranges it (a view, a transpose, a
        copy): the same multiset of values has the same statistics, measured once."""
        if func is None or not args or _op_name(func) not in _SAME_VALUES:
            return None
        a0 = args[0]
        if isinstance(a0, torch.Tensor):
            entry = self.by_obj.get(id(a0))
            if entry is None or entry[0]() is not a0 or a0.numel() != t.numel():
                return None
            return entry[1]
        name = getattr(a0, "name", None)  # an fx Node (the exported-program interpreter)
        rec = self.acts.get(name) if isinstance(name, str) else None
        return rec if rec is not None and rec["count"] == t.numel() else None

    def tensor(self, tid: str, t: Any, func: Any, args: tuple, kwargs: dict) -> None:
        if not isinstance(t, torch.Tensor) or t.is_meta:
            return
        rec = self._same_as(func, args, t)
        if rec is None:
            sat = _saturation_of(func)
            rec = torch_stats(t, sat, _softmax_dim(args, kwargs) if sat == "softmax" else -1)
        if rec is not None:
            self.acts[tid] = rec
            try:
                self.by_obj[id(t)] = (weakref.ref(t), rec)
            except TypeError:
                pass
        if self.grads and t.requires_grad:
            def hook(g: Any, tid: str = tid) -> None:
                self.act_grads[tid] = torch_stats(g)
            self.handles.append(t.register_hook(hook))


class _Observer:
    """The observer protocol of ``capture_hooks``."""

    def __init__(self, col: _Collector):
        self.col = col

    def tensor(self, tid: str, t: Any, func: Any, args: tuple, kwargs: dict) -> None:
        self.col.tensor(tid, t, func, args, kwargs)

    def result(self, value: Any) -> None:
        self.col.result = value


def to_torch(sample: Sample, names: list[str], dtype: Any) -> list[Any]:
    """Sample arrays -> tensors; float64 arrays (numpy's default) follow the model's float
    dtype, the one silent conversion (stated in the values' note)."""
    out = []
    for a in sample.named(names):
        t = torch.from_numpy(np.ascontiguousarray(a))
        if t.is_floating_point() and dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        out.append(t)
    return out


def make_loss(result: Any, target: Any, loss: str | None) -> tuple[Any, str]:
    """The scalar to differentiate, and the sentence saying what it was."""
    outs = [t for t in _iter_tensors(result) if t.is_floating_point() and t.requires_grad]
    if not outs:
        return None, "no gradients: no model output depends on a trainable parameter"
    if target is None:
        total = outs[0].float().mean()
        for t in outs[1:]:
            total = total + t.float().mean()
        what = "the mean of the output" if len(outs) == 1 else \
            f"the sum of the means of the {len(outs)} outputs"
        return total, f"loss = {what} (no --target given)"
    out = outs[0]
    tgt = torch.from_numpy(np.ascontiguousarray(target))
    if loss == "cross_entropy":
        if tgt.is_floating_point() and tgt.shape == out.shape:
            value = torch.nn.functional.cross_entropy(out.float(), tgt.float())
        else:
            tgt = tgt.to(torch.int64)
            logits = out.float()
            if logits.dim() >= 3 and tuple(tgt.shape) == tuple(logits.shape[:-1]):
                logits = logits.reshape(-1, logits.shape[-1])  # (batch, seq, vocab) logits
                tgt = tgt.reshape(-1)
            value = torch.nn.functional.cross_entropy(logits, tgt)
        return value, "loss = cross-entropy of the first output against --target"
    if tuple(tgt.shape) != tuple(out.shape):
        raise NnvizError(f"--target has shape {tuple(tgt.shape)} but the output has shape "
                         f"{tuple(out.shape)}; mse needs the same shape")
    value = torch.nn.functional.mse_loss(out.float(), tgt.to(torch.float32))
    return value, "loss = mean squared error of the first output against --target"


@contextlib.contextmanager
def _model_state(module: Any) -> Iterator[None]:
    """Eval mode (no dropout, BatchNorm reads its running stats) and the user's .grad
    untouched; both restored afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    saved = [(p, p.grad) for p in module.parameters()]
    module.eval()
    for p, _ in saved:
        p.grad = None
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
        for p, g in saved:
            p.grad = g


def _param_hooks(named: list[tuple[str, Any]], grads: dict[str, dict]) -> list[Any]:
    handles = []
    for name, p in named:
        if not p.requires_grad:
            continue

        def hook(param: Any, name: str = name) -> None:
            grads[name] = torch_stats(param.grad, absolute=True)
            param.grad = None  # reduced: free it now (streaming; the user's .grad is restored)
        handles.append(p.register_post_accumulate_grad_hook(hook))
    return handles


def capture_module(module: Any, sample: Sample, *, target: Any = None, loss: str | None = None,
                   grads: bool = True, name: str | None = None, aten: bool = False,
                   source: str | None = None) -> Graph:
    """Draw ``module`` from one eager run on ``sample`` and attach its values."""
    check_finite(sample)
    name = name or type(module).__name__
    first = next(iter(module.parameters()), None)
    if first is not None and first.is_meta:
        raise ModelError(source, "is built on the meta device: it has no weights to run")
    import inspect

    try:
        names = [p.name for p in inspect.signature(module.forward).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    fdtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    args = to_torch(sample, names[:len(sample.arrays)], fdtype)
    index = _NameIndex(module)
    named = [(n, p) for _, (n, p) in index.params.items()]
    col = _Collector(grads)
    pgrads: dict[str, dict] = {}
    weights = {n: torch_stats(p, absolute=True) for n, p in named}
    note = ""
    with _model_state(module), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        handles = _param_hooks(named, pgrads) if grads else []
        try:
            with torch.enable_grad() if grads else torch.no_grad():
                try:
                    from nnviz.loaders.torch_capture import capture_hooks

                    trace = capture_hooks(module, tuple(args), {}, name, _Observer(col))
                except NnvizError:
                    raise
                except Exception as exc:
                    raise ModelError(source, f"running {name} on the sample failed "
                                             f"({_one_line(exc)})") from None
                if grads:
                    value, note = make_loss(col.result, target, loss)
                    if value is not None:
                        try:
                            value.backward()
                        except Exception as exc:
                            raise ModelError(source, f"the backward pass of {name} failed "
                                                     f"({_one_line(exc)})") from None
        finally:
            for h in handles + col.handles:
                h.remove()
            col.result = None
    graph = build_graph(trace, aten=aten)
    graph = _finish(graph, trace.meta["capture"], module=module)
    if source:
        graph.meta["source"] = source
    graph.meta["values"] = _values_meta("one eager run with forward hooks", sample, grads, note,
                                        weights, pgrads, col)
    return graph


# ---- ExportedProgram (.pt2) ---------------------------------------------------------------
def capture_exported(ep: Any, sample: Sample, *, target: Any = None, loss: str | None = None,
                     grads: bool = True, aten: bool = False, source: str | None = None,
                     name: str | None = None) -> Graph:
    """Run a torch.export program node by node on ``sample``; values keyed by node name."""
    from torch.export.graph_signature import InputKind

    from nnviz.loaders import torch_capture
    from nnviz.loaders.torch import _program_name

    check_finite(sample)
    ep2 = torch_capture._functional(ep)
    trace = torch_capture.from_exported(ep2, name=name or _program_name(ep2))
    graph = _finish(build_graph(trace, aten=aten), trace.meta["capture"])
    sig = ep2.graph_signature
    user_specs = [s for s in sig.input_specs if s.kind == InputKind.USER_INPUT]
    user_names = [getattr(s.arg, "name", "") for s in user_specs]
    if len(sample.arrays) != len(user_specs):
        raise ModelError(sample.path or source, f"the sample has {len(sample.arrays)} array"
                         f"{'s' if len(sample.arrays) != 1 else ''} but the program takes "
                         f"{len(user_specs)} input{'s' if len(user_specs) != 1 else ''} "
                         f"({', '.join(user_names)})")
    arrays = sample.named(user_names)
    user_values = []
    for nm, a in zip(user_names, arrays):
        t = graph.tensors.get(nm)
        want_shape = t.shape if t is not None else None
        want_dtype = t.dtype if t is not None else None
        ten = torch.from_numpy(np.ascontiguousarray(a))
        if want_dtype and want_dtype.startswith("float") and ten.is_floating_point():
            ten = ten.to(getattr(torch, want_dtype))
        elif want_dtype and str(ten.dtype).replace("torch.", "") != want_dtype:
            raise ModelError(sample.path or source, f"input {nm} has dtype "
                             f"{str(ten.dtype).replace('torch.', '')} but the program expects "
                             f"{want_dtype}")
        if want_shape is not None and all(isinstance(d, int) for d in want_shape) and \
                tuple(ten.shape) != tuple(want_shape):
            raise ModelError(sample.path or source, f"input {nm} has shape {tuple(ten.shape)} "
                             f"but the program expects {tuple(want_shape)}")
        user_values.append(ten)
    state = dict(ep2.state_dict)
    consts = dict(getattr(ep2, "constants", {}) or {})
    flat: list[Any] = []
    leaves: list[tuple[str, Any]] = []
    it = iter(user_values)
    for spec in sig.input_specs:
        if spec.kind == InputKind.USER_INPUT:
            flat.append(next(it))
        elif spec.kind == InputKind.PARAMETER:
            p = state[spec.target].detach()
            leaf = p.requires_grad_(grads) if grads else p
            leaves.append((spec.target, leaf))
            flat.append(leaf)
        elif spec.kind in (InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            val = state.get(spec.target, consts.get(spec.target))
            flat.append(val)
        else:
            raise ModelError(source, f"the program takes a {spec.kind.name.lower()} input; "
                                     "nnviz cannot run it")
    col = _Collector(grads)
    pgrads: dict[str, dict] = {}
    weights = {n: torch_stats(p, absolute=True) for n, p in leaves}

    class _Run(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            if n.op == "call_function" and n.target is not operator.getitem:
                if isinstance(out, torch.Tensor):
                    col.tensor(n.name, out, n.target, tuple(n.args), dict(n.kwargs))
                elif isinstance(out, (list, tuple)):
                    for i, v in enumerate(out):
                        if isinstance(v, torch.Tensor):
                            col.tensor(f"{n.name}.{i}", v, None, (), {})
            return out

    for nm, ten in zip(user_names, user_values):
        col.tensor(nm, ten, None, (), {})
    handles = _param_hooks(leaves, pgrads) if grads else []
    note = ""
    try:
        with _quiet_torch(), (torch.enable_grad() if grads else torch.no_grad()):
            try:
                result = _Run(ep2.graph_module).run(*flat)
            except Exception as exc:
                raise ModelError(source, f"running the program on the sample failed "
                                         f"({_one_line(exc)})") from None
            n_user = sum(1 for s in sig.output_specs if s.kind.name == "USER_OUTPUT")
            outs = [r for r, s in zip(_iter_tensors(result), sig.output_specs)
                    if s.kind.name == "USER_OUTPUT"] if n_user else []
            if grads:
                value, note = make_loss(outs, target, loss)
                if value is not None:
                    try:
                        value.backward()
                    except Exception as exc:
                        raise ModelError(source, f"the backward pass failed "
                                                 f"({_one_line(exc)})") from None
    finally:
        for h in handles + col.handles:
            h.remove()
        for _, leaf in leaves:
            leaf.requires_grad_(False)
            leaf.grad = None
    graph.meta["values"] = _values_meta("torch.fx.Interpreter over the exported program",
                                        sample, grads, note, weights, pgrads, col)
    return graph


def _values_meta(capture: str, sample: Any, grads: Any, note: str, weights: dict,
                 pgrads: dict, col: Any) -> dict:
    """graph.meta["values"] of a torch capture (live module or .pt2): per tensor its
    activation (and gradient) statistics, per parameter its weight, gradient and their ratio."""
    params = {}
    for n, w in weights.items():
        entry: dict[str, Any] = {"weight": w}
        g = pgrads.get(n)
        if g is not None:
            entry["grad"] = g
            if w.get("norm"):
                entry["ratio"] = float(f"{(g['norm'] or 0.0) / w['norm']:.6g}")
        params[n] = entry
    tensors = {}
    for tid, rec in col.acts.items():
        tensors[tid] = {"act": rec}
        if tid in col.act_grads:
            tensors[tid]["grad"] = col.act_grads[tid]
    return {"framework": "torch", "capture": capture, "sample": sample.origin,
            "gradients": bool(grads and note.startswith("loss")), "loss": note,
            "tensors": tensors, "params": params}
