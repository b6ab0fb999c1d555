"""torch.export ``.pt2`` archives read as data: no torch import, no unpickling.

A ``.pt2`` file (``torch.export.save``) is a zip whose ``<root>/models/<name>.json`` holds the
serialized ExportedProgram (torch/_export/serde/schema.py): the graph's nodes with their
operator, named arguments, outputs and metadata (``nn_module_stack``), ``tensor_values`` with
every tensor's dtype and (possibly symbolic) sizes, and the signature saying which graph input
is a PARAMETER, BUFFER, CONSTANT_TENSOR or USER_INPUT. ``data/weights/*_weights_config.json``
maps each weight to its storage file, which tells tied weights apart. That is all a drawing
needs, so nnviz parses it directly, like ONNX and Keras files: ``torch.export.load`` would need
torch, unpickle the sample inputs, and rebuild output types such as transformers'
``CausalLMOutputWithCrossAttentions`` (it fails unless transformers is imported).

``nnviz stats`` reads the weights the same way (:func:`iter_weights`): each is its storage's
raw bytes in ``data/weights/``, memory-mapped and laid out by its config's tensor_meta.

The same reader serves live captures: ``trace_from_program`` takes the program as a dict, so
an in-memory ExportedProgram serialized by torch gives exactly the drawing of its saved file.
"""

from __future__ import annotations

import functools
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from nnviz.errors import ModelError
from nnviz.ir import Param
from nnviz.loaders.torch_build import Frame, TOp, Trace

# A program JSON this big is not a model a drawing can use (and reading it would take the
# memory of several copies): refuse it with a sentence instead.
MAX_PROGRAM_BYTES = 1 << 30

# torch/_export/serde/schema.py ScalarType -> the names str(torch.dtype) uses.
SCALAR_TYPES: dict[int, str] = {
    1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16", 7: "float32",
    8: "float64", 9: "complex32", 10: "complex64", 11: "complex128", 12: "bool",
    13: "bfloat16", 28: "uint16", 29: "float8_e4m3fn", 30: "float8_e5m2",
    31: "float8_e4m3fnuz", 32: "float8_e5m2fnuz", 33: "float8_e8m0fnu", 34: "uint32",
    35: "uint64",
}

_PROGRAM = re.compile(r"^(?P<root>(?:[^/]+/)?)models/(?P<name>[^/]+)\.json$")
_LEGACY = re.compile(r"^(?P<root>(?:[^/]+/)?)serialized_exported_program\.json$")


def is_program_member(name: str) -> bool:
    """Whether a zip member is a serialized ExportedProgram (so the zip is a .pt2 archive)."""
    return bool(_PROGRAM.match(name) or _LEGACY.match(name))


class Pt2Error(ValueError):
    """The archive or its program JSON is not what torch.export.save writes."""


# ---- the archive --------------------------------------------------------------------------


def read_archive(path: Path) -> tuple[dict, dict[str, str], str]:
    """(program dict, tied-weight map fqn -> canonical fqn, model name) of a .pt2 file."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(path, f"is not a .pt2 archive (not a readable zip file: {exc})"
                         ) from None
    with zf:
        infos = {i.filename: i for i in zf.infolist()}
        programs = [(m.group("root"), m.group("name"), n) for n in sorted(infos)
                    if (m := _PROGRAM.match(n))]
        legacy = [(m.group("root"), "model", n) for n in sorted(infos) if (m := _LEGACY.match(n))]
        chosen = programs or legacy
        if not chosen:
            aoti = any("/data/aotinductor/" in n or n.startswith("data/aotinductor/")
                       for n in infos)
            what = ("an AOTInductor package without its ExportedProgram" if aoti else
                    "no torch.export program (models/*.json) in it")
            raise ModelError(path, f"is not a torch.export .pt2 archive nnviz can draw ({what})")
        # The program torch.export.save names "model", else the first one.
        root, name, member = next((c for c in chosen if c[1] == "model"), chosen[0])
        info = infos[member]
        if info.file_size > MAX_PROGRAM_BYTES:
            raise ModelError(path, f"declares a {info.file_size:,}-byte program JSON "
                                   f"({member}); nnviz reads programs up to "
                                   f"{MAX_PROGRAM_BYTES:,} bytes")
        try:
            raw = zf.read(member)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ModelError(path, f"is a damaged .pt2 archive ({member} cannot be read: "
                                   f"{exc})") from None
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ModelError(path, f"is a damaged .pt2 archive ({member} is not valid JSON: "
                                   f"{str(exc)[:120]})") from None
        if not isinstance(doc, dict):
            raise ModelError(path, f"is a damaged .pt2 archive ({member} is not a serialized "
                                   "ExportedProgram)")
        tied = _tied_weights(zf, infos, root, name)
    return doc, tied, name


def _tied_weights(zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], root: str,
                  name: str) -> dict[str, str]:
    """fqn -> canonical fqn for weights stored once under several names (GPT-2's lm_head
    and wte): the payload configs give each name its storage file."""
    tied: dict[str, str] = {}
    first: dict[tuple[str, str], str] = {}
    for folder in ("data/weights/", "data/constants/"):
        prefix = f"{root}{folder}{name}_"
        for member in sorted(n for n in infos if n.startswith(prefix) and
                             n.endswith("config.json")):
            if infos[member].file_size > MAX_PROGRAM_BYTES:
                continue
            try:
                config = json.loads(zf.read(member)).get("config")
            except Exception:  # a damaged config only costs the tie information
                continue
            if not isinstance(config, dict):
                continue
            for fqn, meta in config.items():
                if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
                    continue
                # Same storage file and same tensor metadata: one tensor under two names.
                key = (folder + meta["path_name"],
                       json.dumps(meta.get("tensor_meta"), sort_keys=True))
                tied[fqn] = first.setdefault(key, fqn)
    return {k: v for k, v in tied.items() if k != v}


# ---- the program ----------------------------------------------------------------------------


def _union(value: Any, what: str) -> tuple[str, Any]:
    """A serialized schema union ({"as_tensor": {...}}) -> (field, value)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise Pt2Error(f"{what} is not a one-field union")
    return next(iter(value.items()))


def _dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise Pt2Error(f"{what} is not an object")
    return value


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise Pt2Error(f"{what} is not a list")
    return value


def _dim(value: Any) -> int | str | None:
    """A serialized SymInt: {"as_int": 3} or {"as_expr": {"expr_str": <sympy srepr>}}."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    kind, v = next(iter(value.items()))
    if kind == "as_int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if kind == "as_expr" and isinstance(v, dict) and isinstance(v.get("expr_str"), str):
        return sym_text(v["expr_str"])
    return None


_SREPR_TOKEN = re.compile(r"\s*(?:('(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d*)?(?:e-?\d+)?)|"
                          r"([A-Za-z_][A-Za-z_0-9]*)|([(),=]))")
_SYMPY_CONSTANTS = {"Zero": "0", "One": "1", "NegativeOne": "-1", "Half": "1/2",
                    "oo": "oo", "true": "True", "false": "False", "BooleanTrue": "True",
                    "BooleanFalse": "False", "Infinity": "oo", "NegativeInfinity": "-oo"}


@functools.lru_cache(maxsize=4096)
def sym_text(srepr: str) -> str:
    """torch's serialized symbolic size (sympy's ``srepr``: ``Mul(Integer(2), Symbol('s77',
    positive=True, integer=True))``) -> the expression as torch prints a SymInt: ``2*s77``.

    Written here because sympy is torch's dependency, not nnviz's; anything not understood
    is returned as written.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(srepr):
        m = _SREPR_TOKEN.match(srepr, pos)
        if m is None or m.end() == pos:
            if srepr[pos:].strip() == "":
                break
            return srepr
        kind = next(i for i in range(4) if m.group(i + 1) is not None)
        tokens.append(("sqnp"[kind], m.group(kind + 1)))
        pos = m.end()
    try:
        text, end = _srepr_expr(tokens, 0, 0)
    except (IndexError, ValueError, RecursionError):
        return srepr
    return text if end == len(tokens) else srepr


def _srepr_expr(tokens: list[tuple[str, str]], i: int, depth: int) -> tuple[str, int]:
    if depth > 200:
        raise ValueError("nested too deeply")
    kind, value = tokens[i]
    if kind == "s":
        return value[1:-1], i + 1
    if kind == "q":
        return value, i + 1
    if kind != "n":
        raise ValueError(value)
    if i + 1 >= len(tokens) or tokens[i + 1] != ("p", "("):
        return _SYMPY_CONSTANTS.get(value, value), i + 1
    i += 2
    args: list[str] = []
    while tokens[i] != ("p", ")"):
        if tokens[i][0] == "n" and i + 1 < len(tokens) and tokens[i + 1] == ("p", "="):
            _, i = _srepr_expr(tokens, i + 2, depth + 1)  # keyword (assumptions): dropped
        else:
            arg, i = _srepr_expr(tokens, i, depth + 1)
            args.append(arg)
        if tokens[i] == ("p", ","):
            i += 1
    i += 1
    return _sympy_call(value, args), i


def _atom(text: str) -> bool:
    return not any(c in text for c in " +-*/") or (text.startswith("-") and
                                                   not any(c in text[1:] for c in " +-*/"))


def _sympy_call(name: str, args: list[str]) -> str:
    if name in ("Symbol", "Dummy") and args:
        return args[0]
    if name in ("Integer", "Float") and len(args) == 1:
        return args[0]
    if name == "Rational" and len(args) == 2:
        return f"{args[0]}/{args[1]}"
    if name == "Add" and args:
        out = args[0]
        for a in args[1:]:
            out += f" - {a[1:]}" if a.startswith("-") else f" + {a}"
        return out
    if name == "Mul" and args:
        if args[0] == "-1" and len(args) > 1:
            rest = _sympy_call("Mul", args[1:])
            return f"-{rest}" if _atom(rest) or "*" in rest and " " not in rest else f"-({rest})"
        return "*".join(a if _atom(a) or ("*" in a and " " not in a) else f"({a})"
                        for a in args)
    if name == "Pow" and len(args) == 2:
        base = args[0] if _atom(args[0]) else f"({args[0]})"
        return f"{base}**{args[1]}"
    return f"{name}({', '.join(args)})"


def _meta(tensor_values: dict, name: str) -> tuple[tuple | None, str | None, bool]:
    """(shape, dtype, requires_grad) of a named tensor from the graph's tensor_values."""
    meta = tensor_values.get(name)
    if not isinstance(meta, dict):
        return None, None, True
    sizes = meta.get("sizes")
    shape = tuple(_dim(d) for d in sizes) if isinstance(sizes, list) else None
    dtype = meta.get("dtype")
    return shape, SCALAR_TYPES.get(dtype) if isinstance(dtype, int) else None, \
        bool(meta.get("requires_grad", True))


def _tensor_names(arg: Any, out: list[str]) -> None:
    """Names of the tensors an Argument refers to, in order."""
    if not isinstance(arg, dict) or len(arg) != 1:
        return
    kind, v = next(iter(arg.items()))
    if kind == "as_tensor" and isinstance(v, dict) and isinstance(v.get("name"), str):
        out.append(v["name"])
    elif kind == "as_tensors" and isinstance(v, list):
        out.extend(t["name"] for t in v if isinstance(t, dict) and isinstance(t.get("name"), str))
    elif kind in ("as_optional_tensors", "as_nested_tensors") and isinstance(v, list):
        for item in v:
            if isinstance(item, list):
                _tensor_names({"as_tensors": item}, out)
            else:
                _tensor_names(item, out)
    elif kind == "as_optional_tensor":
        _tensor_names(v, out)
    elif kind == "as_string_to_argument" and isinstance(v, dict):
        for item in v.values():
            _tensor_names(item, out)


_PLAIN = (int, float, bool, str)


def _plain(arg: Any) -> tuple[bool, Any]:
    """(is plain, value) of an Argument: the ints, floats, strings and bools a details panel
    shows (what the live capture keeps from fx's node.args)."""
    if not isinstance(arg, dict) or len(arg) != 1:
        return False, None
    kind, v = next(iter(arg.items()))
    if kind == "as_none":
        return True, None
    if kind in ("as_int", "as_float", "as_bool", "as_string") and isinstance(v, _PLAIN):
        return True, v
    if kind in ("as_ints", "as_floats", "as_bools", "as_strings") and isinstance(v, list) and \
            all(isinstance(x, _PLAIN) for x in v):
        return True, list(v)
    return False, None


def op_display(target: str) -> str:
    """'torch.ops.aten.conv2d.default' -> 'aten.conv2d' (as the live capture names ops)."""
    if target.startswith("torch.ops.higher_order."):
        return "higher_order." + target[len("torch.ops.higher_order."):].split(".")[0]
    if target.startswith("torch.ops."):
        parts = target[len("torch.ops."):].split(".")
        if len(parts) >= 2:
            return f"{parts[0]}.{parts[1]}"
    short = target.rsplit(".", 1)[-1]
    return f"torch.{short}"


def _packet(target: str) -> str:
    if target.startswith("torch.ops."):
        parts = target[len("torch.ops."):].split(".")
        return parts[1] if len(parts) >= 2 else parts[0]
    return target.rsplit(".", 1)[-1]


def _in_place(target: str) -> bool:
    """ATen's in-place ops end in "_" (add_, relu_, copy_, index_put_); dunders do not count."""
    name = _packet(target)
    return name.endswith("_") and not name.startswith("__")


# ATen ops whose result shares storage with their first argument: an in-place write to the
# view writes the base too (``y[:, :4] = x`` is slice + copy_ in the program).
_VIEWS = frozenset({
    "slice", "select", "view", "_unsafe_view", "as_strided", "transpose", "t", "permute",
    "unsqueeze", "squeeze", "expand", "alias", "narrow", "diagonal", "unflatten", "flatten",
    "split", "split_with_sizes", "chunk", "unbind", "view_as", "reshape", "movedim",
    "swapaxes", "swapdims", "detach", "unfold", "view_as_real", "view_as_complex", "real",
    "imag", "indices", "values", "hsplit", "vsplit", "tensor_split", "expand_as",
})


def _path(path: str) -> str:
    """Module path as the live capture spells it: strict-mode stacks say
    ``L['self'].layers[0]`` or ``L__self___layers_0``; nn.Module paths say ``layers.0``."""
    if path.startswith("L['self']"):
        path = path[len("L['self']"):]
        path = re.sub(r"\[\s*'([^']*)'\s*\]", r".\1", path)
        path = re.sub(r"\[\s*(\d+)\s*\]", r".\1", path)
        path = path.lstrip(".")
    return path


def _split3(item: str) -> list[str] | None:
    """``key,path,type`` with commas inside brackets kept (torch's metadata_split)."""
    out: list[str] = []
    start = depth = 0
    for end, c in enumerate(item):
        if c in "[(":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            out.append(item[start:end])
            start = end + 1
    out.append(item[start:])
    return out if len(out) == 3 else None


def module_stack(text: Any) -> tuple[tuple[Frame, ...], str | None]:
    """The serialized ``nn_module_stack`` -> (frames without the root, root class name).

    Each call of a module has its own key (``L__self___relu@1`` for the second call), so
    each call becomes its own frame and its own box, as in the live capture.
    """
    if not isinstance(text, str) or not text:
        return (), None
    frames: list[Frame] = []
    root: str | None = None
    for item in text.split(";"):
        parts = _split3(item)
        if parts is None:
            continue
        key, path, qual = parts
        path = _path(path)
        if not path:
            root = qual.rsplit(".", 1)[-1]
            continue
        call = 0
        tail = key.rsplit("@", 1)
        if len(tail) == 2 and tail[1].isdigit():
            call = int(tail[1])
        frames.append(Frame(key=f"{path}@{call}" if call else path, path=path,
                            cls=qual.rsplit(".", 1)[-1], qualname=qual, call=call))
    return tuple(frames), root


def _leaf_names(spec: Any, fields: dict) -> list[str]:
    """Names of the leaves of a serialized pytree spec ("logits", "0.1"), in order."""
    names: list[str] = []

    def walk(node: Any, prefix: list[str], depth: int) -> None:
        if depth > 64 or not isinstance(node, dict):
            raise Pt2Error("output spec is nested too deeply or damaged")
        children = node.get("children_spec") or []
        if node.get("type") is None:
            names.append(".".join(prefix))
            return
        keys: list[str] | None = None
        context = node.get("context")
        try:
            ctx = json.loads(context) if isinstance(context, str) else None
        except ValueError:
            ctx = None
        if isinstance(ctx, list) and len(ctx) == len(children) and \
                all(isinstance(k, (str, int)) for k in ctx):
            keys = [str(k) for k in ctx]  # dict keys, dataclass / ModelOutput fields
        elif isinstance(ctx, str) and isinstance(fields.get(ctx), dict):
            got = fields[ctx].get("field_names")  # a namedtuple: its field names
            if isinstance(got, list) and len(got) == len(children):
                keys = [str(k) for k in got]
        for i, child in enumerate(children):
            walk(child, prefix + [keys[i] if keys else str(i)], depth + 1)

    walk(spec, [], 0)
    return names


def _output_names(gm: dict) -> list[str]:
    for entry in gm.get("module_call_graph") or []:
        if not isinstance(entry, dict) or entry.get("fqn") != "":
            continue
        sig = entry.get("signature")
        out_spec = sig.get("out_spec") if isinstance(sig, dict) else None
        if not isinstance(out_spec, str):
            return []
        spec = json.loads(out_spec)
        if isinstance(spec, list) and len(spec) == 2:  # [protocol, treespec]
            spec = spec[1]
        return _leaf_names(spec, gm.get("treespec_namedtuple_fields") or {})
    return []


def trace_from_program(doc: dict, name: str = "model", tied: dict[str, str] | None = None,
                       canonical: dict[str, str] | None = None,
                       trainable: dict[str, bool] | None = None) -> Trace:
    """A serialized ExportedProgram (as a dict) -> Trace.

    ``tied`` maps weight names stored once under several names to the canonical one (from the
    archive's weight configs); ``canonical`` and ``trainable`` come from a live module, when
    there is one, and win over what the program says.
    """
    try:
        return _trace(doc, name, {**(tied or {}), **(canonical or {})}, trainable or {})
    except Pt2Error:
        raise
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise Pt2Error(f"the program JSON does not follow torch's ExportedProgram schema "
                       f"({type(exc).__name__}: {str(exc)[:100]})") from None


def _trace(doc: dict, name: str, canonical: dict[str, str], trainable: dict[str, bool]
           ) -> Trace:
    gm = _dict(doc.get("graph_module"), "graph_module")
    graph = _dict(gm.get("graph"), "graph_module.graph")
    sig = _dict(gm.get("signature"), "graph_module.signature")
    tvals = _dict(graph.get("tensor_values", {}), "graph.tensor_values")
    nodes = _list(graph.get("nodes"), "graph.nodes")
    graph_inputs = _list(graph.get("inputs"), "graph.inputs")
    input_specs = _list(sig.get("input_specs"), "signature.input_specs")
    output_specs = _list(sig.get("output_specs"), "signature.output_specs")

    tensors: dict[str, tuple] = {}
    names_of: dict[str, list[str]] = {}  # tensor id -> serialized names that read it
    inputs: list[tuple[str, str]] = []
    state: dict[str, Param] = {}  # placeholder name -> its parameter / buffer / constant
    for spec in input_specs:
        kind, body = _union(spec, "an input spec")
        body = _dict(body, f"the {kind} input spec")
        if kind == "user_input":
            names: list[str] = []
            _tensor_names(body.get("arg"), names)
            for n in names:  # SymInt and constant user inputs carry no tensor
                shape, dtype, _ = _meta(tvals, n)
                tensors[n] = (shape, dtype)
                names_of[n] = [n]
                inputs.append((n, n))
            continue
        field, role = {"parameter": ("parameter_name", "param"),
                       "buffer": ("buffer_name", "buffer"),
                       "tensor_constant": ("tensor_constant_name", "constant")}.get(
                           kind, (None, None))
        if field is None:
            continue  # custom objects, effect tokens, constant (non-tensor) inputs
        arg = _dict(body.get("arg"), f"the {kind} input spec's arg")
        placeholder, target = arg.get("name"), body.get(field)
        if not isinstance(placeholder, str) or not isinstance(target, str):
            raise Pt2Error(f"a {kind} input spec has no name")
        target = canonical.get(target, target)
        shape, dtype, grad = _meta(tvals, placeholder)
        train = role == "param" and trainable.get(target, grad)
        state[placeholder] = Param(target, shape, dtype, train, role)
    if not any(True for _ in graph_inputs) and input_specs:
        raise Pt2Error("the graph has input specs but no inputs")

    ops: list[TOp] = []
    alias: dict[str, str] = {}  # serialized tensor name -> tensor id (list outputs, writes)
    producer: dict[str, TOp] = {}  # tensor id -> op
    root_name: str | None = None
    used_ids: set[str] = set()
    for index, node in enumerate(nodes):
        node = _dict(node, "a graph node")
        target = node.get("target")
        if not isinstance(target, str):
            raise Pt2Error("a graph node has no target")
        metadata = node.get("metadata") or {}
        stack, root = module_stack(metadata.get("nn_module_stack")
                                   if isinstance(metadata, dict) else None)
        root_name = root_name or root
        outputs = _list(node.get("outputs", []), "a node's outputs")
        out_names: list[tuple[str, str]] = []  # (serialized name, tensor id)
        op_name = node.get("name")
        listed = len(outputs) == 1 and isinstance(outputs[0], dict) and \
            next(iter(outputs[0]), None) in ("as_tensors", "as_optional_tensors")
        if len(outputs) == 1 and not listed:
            one: list[str] = []
            _tensor_names(outputs[0], one)
            if not isinstance(op_name, str) or not op_name:
                op_name = one[0] if one else f"op{index}"
            out_names = [(one[0], one[0])] if one else []
        else:
            entries = outputs[0][next(iter(outputs[0]))] if listed else outputs
            if not isinstance(op_name, str) or not op_name:
                first: list[str] = []
                for e in entries:
                    _tensor_names(e if isinstance(e, dict) and len(e) == 1 and
                                  next(iter(e)) == "as_tensor" else {"as_tensor": e}, first)
                op_name = f"{first[0]}_op" if first else f"op{index}"
            for i, e in enumerate(entries):
                got: list[str] = []
                _tensor_names(e if isinstance(e, dict) and len(e) == 1 and
                              next(iter(e)) in ("as_tensor", "as_none") else {"as_tensor": e},
                              got)
                if got:
                    # Tuple results are "<op>.<i>", as the live capture's getitem aliases.
                    out_names.append((got[0], f"{op_name}.{i}"))
        if op_name in used_ids:
            op_name = f"{op_name}__{index}"
        used_ids.add(op_name)
        data: list[str] = []
        params: list[Param] = []
        attrs: dict[str, Any] = {}
        position = 0
        written: str | None = None  # an in-place op writes its first argument
        for named in _list(node.get("inputs", []), "a node's inputs"):
            named = _dict(named, "a node input")
            arg = named.get("arg")
            refs: list[str] = []
            _tensor_names(arg, refs)
            if position == 0 and refs and refs[0] not in state:
                written = alias.get(refs[0], refs[0])
            for ref in refs:
                if ref in state:
                    p = state[ref]
                    if all(q.name != p.name for q in params):
                        params.append(p)
                    continue
                tid = alias.get(ref, ref)
                if tid in tensors and tid not in data:
                    data.append(tid)
            plain, value = _plain(arg)
            keyword = named.get("kind") == 2
            if plain:
                attrs[str(named.get("name")) if keyword else f"arg{position}"] = value
            if not keyword:
                position += 1
        outs: list[str] = []
        for serial, tid in out_names:
            shape, dtype, _ = _meta(tvals, serial)
            tensors[tid] = (shape, dtype)
            alias[serial] = tid
            names_of.setdefault(tid, []).append(serial)
            outs.append(tid)
        if not outs:
            continue  # asserts, symbolic sizes: no tensor flows out
        op = TOp(op_name, op_display(target), data, outs, params, stack, attrs)
        if written is not None and written in tensors and _in_place(target):
            _write_through(op, written, alias, names_of, producer, tensors)
        for t in op.outputs:
            producer[t] = op
        ops.append(op)

    user_outputs: list[str] = []
    for spec in output_specs:
        kind, body = _union(spec, "an output spec")
        if kind != "user_output":
            continue  # buffer mutations, gradients, tokens
        names = []
        _tensor_names(_dict(body, "an output spec").get("arg"), names)
        for n in names:
            tid = alias.get(n, n)
            if tid in tensors:
                user_outputs.append(tid)
    try:
        out_names_list = _output_names(gm)
    except (Pt2Error, ValueError, TypeError, AttributeError):
        out_names_list = []  # names are cosmetic: never fail a drawing for them
    meta: dict[str, Any] = {"capture": "torch.export"}
    version = doc.get("schema_version")
    if isinstance(version, dict):
        meta["pt2_schema"] = f"{version.get('major')}.{version.get('minor')}"
    if isinstance(doc.get("torch_version"), str):
        meta["torch_version"] = doc["torch_version"]
    if root_name:
        meta["root_class"] = root_name
    extra = list({p.name: p for p in state.values()}.values())
    return Trace(root_name or name, ops, tensors, inputs, user_outputs, meta,
                 out_names_list if len(out_names_list) == len(user_outputs) else [], extra)


def _write_through(op: TOp, written: str, alias: dict[str, str],
                   names_of: dict[str, list[str]], producer: dict[str, TOp],
                   tensors: dict[str, tuple]) -> None:
    """An in-place op (``x.add_(y)``, ``y[:, :4].copy_(z)``): later readers of the written
    tensor, and of every tensor it is a view of, read this op's result instead. The program
    keeps using the old names, so without this the data flow through the write is lost."""
    moves = [(written, op.outputs[0])]
    seen = {written}
    view = producer.get(written)
    while view is not None and _packet_of(view.op) in _VIEWS and view.inputs:
        base = view.inputs[0]
        if base in seen:
            break
        seen.add(base)
        # The base gets a new version, with the base's shape, produced by the write.
        version = f"{base}@{op.name}"
        tensors[version] = tensors.get(base, (None, None))
        op.outputs.append(version)
        moves.append((base, version))
        view = producer.get(base)
    for old, new in moves:
        moved = names_of.pop(old, [old])
        for n in moved:
            alias[n] = new
        names_of.setdefault(new, []).extend(moved)


def _packet_of(display: str) -> str:
    return display.rsplit(".", 1)[-1]


# ---- weights (nnviz stats, diff --weights) -----------------------------------------------------

# Each weight is its storage's raw bytes in the archive (``data/weights/weight_N``), laid out by
# the config's tensor_meta; numpy reads them without torch and without unpickling.
_NUMPY_DTYPES = {
    "uint8": "u1", "int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8", "float16": "f2",
    "float32": "f4", "float64": "f8", "complex64": "c8", "complex128": "c16", "bool": "?",
    "uint16": "u2", "uint32": "u4", "uint64": "u8", "bfloat16": "u2",
}


def plain_weights(path: Path) -> bool:
    """Whether every weight and constant of the archive is stored as raw bytes (no pickle),
    so :func:`iter_weights` can read them; else stats needs torch.export.load."""
    try:
        with zipfile.ZipFile(path) as zf:
            configs = _payload_configs(zf)
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return bool(configs) and all(
        isinstance(meta, dict) and not meta.get("use_pickle") and
        isinstance(meta.get("tensor_meta"), dict) for _, config in configs
        for meta in config.values())


def _payload_configs(zf: zipfile.ZipFile) -> list[tuple[str, dict]]:
    """(folder, config) of the chosen program's weights and constants configs."""
    names = sorted(zf.namelist())
    chosen = [(m.group("root"), m.group("name")) for n in names if (m := _PROGRAM.match(n))]
    if not chosen:
        return []
    root, name = next((c for c in chosen if c[1] == "model"), chosen[0])
    out = []
    for folder in ("data/weights/", "data/constants/"):
        member = f"{root}{folder}{name}_{folder.split('/')[1]}_config.json"
        if member not in names:
            if folder == "data/weights/":
                return []  # an older layout: leave it to torch
            continue
        config = json.loads(zf.read(member)).get("config")
        if not isinstance(config, dict):
            raise ValueError(f"{member} has no config")
        out.append((root + folder, config))
    return out


def iter_weights(path: Path) -> Any:
    """(name, shape, dtype, numpy array) of every stored weight and tensor constant, one at a
    time, memory-mapped from the archive (tied weights once)."""
    import numpy as np

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(path, f"is not a .pt2 archive (not a readable zip file: {exc})"
                         ) from None
    with zf:
        try:
            configs = _payload_configs(zf)
            order = zf.read(next(n for n in zf.namelist() if n.endswith("byteorder"))) \
                if any(n.endswith("byteorder") for n in zf.namelist()) else b"little"
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ModelError(path, f"is a damaged .pt2 archive ({str(exc)[:120]})") from None
        big = order.strip() == b"big"
        seen: set[str] = set()
        for folder, config in configs:
            for fqn, meta in config.items():
                if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
                    raise ModelError(path, f"is a damaged .pt2 archive (weight {fqn!r} has no "
                                           "storage file)")
                member = folder + meta["path_name"]
                tmeta = meta.get("tensor_meta") if isinstance(meta.get("tensor_meta"),
                                                              dict) else {}
                shape, dtype, _ = _meta({"t": tmeta}, "t")
                key = f"{member}:{json.dumps(tmeta, sort_keys=True)}"
                if key in seen:
                    continue  # a tied weight: its first name already read the storage
                seen.add(key)
                yield fqn, shape, dtype, _array(np, zf, path, member, tmeta, shape, dtype, big)


def _array(np: Any, zf: zipfile.ZipFile, path: Path, member: str, tmeta: dict, shape: Any,
           dtype: str | None, big: bool) -> Any:
    code = _NUMPY_DTYPES.get(dtype or "")
    if code is None:
        try:  # float8 kinds: numpy cannot spell them without ml_dtypes
            import ml_dtypes

            np_dtype = np.dtype(getattr(ml_dtypes, dtype or ""))
        except (ImportError, AttributeError, TypeError):
            raise ModelError(path, f"stores weight dtype {dtype}, which nnviz cannot read "
                                   "without torch") from None
    else:
        np_dtype = np.dtype(code).newbyteorder(">" if big else "<")
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ModelError(path, f"is a damaged .pt2 archive ({member} has no concrete shape)")
    strides = [_dim(s) for s in tmeta.get("strides") or []]
    offset = _dim(tmeta.get("storage_offset") or {"as_int": 0})
    if len(strides) != len(shape) or not all(isinstance(s, int) and s >= 0 for s in strides) \
            or not isinstance(offset, int) or offset < 0:
        raise ModelError(path, f"is a damaged .pt2 archive ({member} has bad strides)")
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise ModelError(path, f"is a damaged .pt2 archive ({member} is missing)") from None
    count = info.file_size // np_dtype.itemsize
    numel = 1
    for d in shape:
        numel *= d
    last = offset + sum((d - 1) * s for d, s in zip(shape, strides)) if numel else -1
    if last >= count:
        raise ModelError(path, f"is a damaged .pt2 archive ({member} holds {count:,} values, "
                               f"the tensor needs {last + 1:,})")
    if info.compress_type == zipfile.ZIP_STORED and zf.fp is not None:
        # Memory-map the stored bytes: the local header says where they start.
        zf.fp.seek(info.header_offset)
        head = zf.fp.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise ModelError(path, f"is a damaged .pt2 archive ({member} has no local header)")
        start = info.header_offset + 30 + int.from_bytes(head[26:28], "little") + \
            int.from_bytes(head[28:30], "little")
        flat = np.memmap(path, dtype=np_dtype, mode="r", offset=start, shape=(count,)) \
            if count else np.zeros(0, np_dtype)
    else:
        try:
            raw = zf.read(member)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ModelError(path, f"is a damaged .pt2 archive ({member}: {exc})") from None
        flat = np.frombuffer(raw[:count * np_dtype.itemsize], dtype=np_dtype)
    arr = np.lib.stride_tricks.as_strided(flat[offset:], shape=tuple(shape),
                                          strides=tuple(s * np_dtype.itemsize for s in strides),
                                          writeable=False)
    if dtype == "bfloat16":  # the high half of a float32
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    elif dtype == "float16" or code is None:
        arr = arr.astype(np.float32)
    elif dtype == "bool":
        arr = arr.astype(np.float64)
    elif dtype and dtype.startswith("complex"):
        arr = np.abs(arr)
    return arr
