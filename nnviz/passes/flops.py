"""FLOPs and MACs per node, rolled up per group and for the graph.

Conventions (inference, batch and sequence taken from the tensor shapes):

- conv / linear / matmul / einsum / attention / recurrent: ``macs`` multiply-accumulates of
  the contraction; ``flops = 2 * macs``, plus one flop per output element when a bias is
  present.
- attention: projections (tokens x each projection matrix) plus the two batched products
  Q.K^T and A.V: ``B * Sq * Sk * (H*dk + H*dv)`` MACs.
- norm: batch norm 2 flops per element (inference scale and shift); layer/group/instance/
  RMS norm 5 per element (mean, centre, variance, normalise, affine). No MACs.
- pool: output elements x kernel window; global/adaptive pool: one per input element.
- activation and elementwise: one flop per output element per operand pair (softmax 3).
- reshape, cast, io, constant, embedding lookup, dropout: 0.

Symbolic dims are resolved with ``dims`` (e.g. {"batch": 1, "seq": 128}); a node whose needed
shapes stay unknown gets ``flops = None`` (unknown), never a guess. Group and graph totals sum
the known values and count the unknown ones in ``flops_unknown``.
"""

from __future__ import annotations

import math

from nnviz.ir import Graph, Node, Shape
from nnviz.passes.util import (
    as_list,
    copy_graph,
    kernel_param,
    matrix_params,
    numel,
    opname,
    resolve,
)
from nnviz.shape_rules import weights_last

_ZERO_KINDS = {"reshape", "io", "constant", "embedding"}
_ZERO_OPS = {"dropout", "identity", "cast", "alphadropout", "gaussiandropout", "gaussiannoise",
             "spatialdropout", "dropout1d", "dropout3d", "featurealphadropout", "contiguous",
             "clone", "detach", "to", "alias", "masking", "activityregularization"}
_BATCHNORM = {"batchnormalization", "batchnorm", "nativebatchnorm", "syncbatchnorm"}
_GLOBAL_POOL = {"globalaveragepool", "globalmaxpool", "globalaveragepooling", "globalmaxpooling",
                "adaptiveavgpool", "adaptivemaxpool", "globallppool"}
_SOFTMAX = {"softmax", "logsoftmax", "softmin"}


def count_flops(graph: Graph, dims: dict[str, int] | None = None) -> Graph:
    """A copy of ``graph`` with meta["flops"], meta["macs"] on nodes, groups and graph."""
    return count_flops_inplace(copy_graph(graph), dims)


def count_flops_inplace(g: Graph, dims: dict[str, int] | None = None) -> Graph:
    dims = dict(dims or {})
    sums: dict[tuple[str, ...], list[int]] = {}
    total = [0, 0, 0]  # flops, macs, unknown
    # Accumulators of each distinct group path's prefixes, looked up once per path.
    chains: dict[tuple[str, ...], list[list[int]]] = {}
    memo: dict[int, tuple] = {}  # numel of each distinct shape object (see _numel)
    for node in g.nodes.values():
        group = node.group
        chain = chains.get(group)
        if chain is None:
            chain = chains[group] = [total] + [sums.setdefault(group[:i], [0, 0, 0])
                                               for i in range(1, len(group) + 1)]
        count_node(g, node, dims, memo, chain)
    for path, (f, m, unknown) in sums.items():
        if path not in g.groups:
            g.ensure_group(path)
        g.groups[path].attrs.update({"flops": f, "macs": m, "flops_unknown": unknown})
    g.meta.update({"flops": total[0], "macs": total[1], "flops_unknown": total[2]})
    if dims:
        g.meta["dims"] = dict(sorted(dims.items()))
    return g


def count_node(g: Graph, node: Node, dims: dict[str, int], memo: dict[int, tuple],
               chain: list[list[int]]) -> None:
    """node_flops into the node's meta and added to each [flops, macs, unknown] of ``chain``
    (the graph's and its group prefixes' accumulators)."""
    try:
        flops, macs = node_flops(g, node, dims, memo)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError, KeyError):
        flops, macs = None, None  # malformed attributes/shapes: unknown, never a crash
    meta = node.meta
    meta["flops"] = flops
    meta["macs"] = macs
    if flops is None:
        for acc in chain:
            acc[2] += 1
    else:
        macs = macs or 0
        for acc in chain:
            acc[0] += flops
            acc[1] += macs


def node_flops(graph: Graph, node: Node, dims: dict[str, int],
               memo: dict[int, tuple] | None = None) -> tuple[int | None, int | None]:
    """(flops, macs) of one node; (None, None) when unknown. ``memo``: a dict the caller
    keeps for one pass over a graph (element counts of the shapes seen, see _numel)."""
    kind = node.kind
    if kind == "group":  # a collapsed group keeps the sum computed before collapsing
        return node.meta.get("flops"), node.meta.get("macs")
    op = opname(node.op)
    if kind in _ZERO_KINDS or op in _ZERO_OPS:
        return 0, 0
    tensors = graph.tensors
    # Shapes as resolve() gives them (it returns a shape unchanged when there are no dims):
    # the call per tensor is skipped for the usual empty dims.
    outputs = node.outputs
    out = None
    if outputs and (t := tensors.get(outputs[0])) is not None:
        out = resolve(t.shape, dims) if dims else t.shape
    if kind not in _MAC_KINDS:
        # Most nodes (elementwise, activation, norm) need only the output's element count;
        # the inputs' shapes are read when the rule asks for them.
        cheap = _cheap_flops(graph, node, op, out, dims, {} if memo is None else memo)
        return cheap, (None if cheap is None else 0)
    if dims:
        ins = [resolve(t.shape, dims) if (t := tensors.get(tid)) is not None else None
               for tid in node.inputs]
    else:
        ins = [t.shape if (t := tensors.get(tid)) is not None else None
               for tid in node.inputs]
    x = ins[0] if ins else None

    if kind == "conv":
        macs = _conv_macs(graph, node, op, x, out)
    elif kind == "linear":
        macs = _linear_macs(node, op, ins, out)
    elif kind == "attention":
        macs = _attention_macs(graph, node, op, ins, out)
    else:
        macs = _recurrent_macs(node, x)
    if macs is None:
        return None, None
    out_n = numel(out)
    has_bias = any(p.shape is not None and len(p.shape) == 1 for p in node.params)
    flops = 2 * macs + (out_n if has_bias and out_n is not None else 0)
    return flops, macs


_MAC_KINDS = frozenset({"conv", "linear", "attention", "recurrent"})


def _numel(shape: Shape, memo: dict[int, tuple]) -> int | None:
    """numel, looked up by the shape object: a 50k-node export shares a few thousand shape
    tuples among its tensors. The memo holds each shape it keys, so an id is never reused
    by another object while the memo lives; shapes are tuples, never changed in place."""
    if shape is None:
        return None
    hit = memo.get(id(shape))
    if hit is not None and hit[0] is shape:
        return hit[1]
    n = numel(shape)
    memo[id(shape)] = (shape, n)
    return n


def _first_input_numel(graph: Graph, node: Node, dims: dict[str, int],
                       memo: dict[int, tuple]) -> int | None:
    """numel of the first input's shape (resolved with ``dims``); None without inputs."""
    if not node.inputs:
        return None
    t = graph.tensors.get(node.inputs[0])
    if t is None:
        return None
    return _numel(resolve(t.shape, dims) if dims else t.shape, memo)


def _cheap_flops(graph: Graph, node: Node, op: str, out: Shape, dims: dict[str, int],
                 memo: dict[int, tuple]) -> int | None:
    """FLOPs of ops without multiply-accumulates (norm, pool, activation, elementwise)."""
    out_n = _numel(out, memo)
    kind = node.kind
    if kind == "elementwise":
        if out_n is None:
            return None
        operands = len(node.inputs) + len(node.params)
        return out_n * max(1, operands - 1)
    if kind == "activation":
        if out_n is None:
            return _first_input_numel(graph, node, dims, memo)
        return out_n * (3 if op in _SOFTMAX else 1)
    if kind == "norm":
        n = out_n if out_n is not None else _first_input_numel(graph, node, dims, memo)
        if n is None:
            return None
        return n * (2 if op in _BATCHNORM else 5)
    if kind == "pool":
        if op in _GLOBAL_POOL:
            return _first_input_numel(graph, node, dims, memo)
        if out_n is None:
            return None
        nsp = len(out) - 2 if out is not None else 0
        kernel = as_list(node.canon.get("kernel"), max(nsp, 1))
        if kernel is None:
            # upsampling / resize and friends: one op per output element
            return out_n
        return out_n * math.prod(kernel)
    if kind == "reduce":
        return _first_input_numel(graph, node, dims, memo)
    return None  # "other": not an op we know how to count


def _conv_macs(graph: Graph, node: Node, op: str, x: Shape, out: Shape) -> int | None:
    out_n, in_n = numel(out), numel(x)
    keras = weights_last(graph, node)  # (k..., in, out), as Keras stores kernels
    if op == "separableconv":
        dw = next((p for p in node.params if "depthwise" in p.name), None)
        pw = next((p for p in node.params if "pointwise" in p.name), None)
        if dw is None or pw is None or out_n is None or dw.count is None or pw.count is None \
                or not pw.shape or not isinstance(pw.shape[-1], int):
            return None
        positions = out_n // pw.shape[-1]  # batch x output pixels
        return positions * dw.count + out_n * (pw.count // pw.shape[-1])
    w = kernel_param(node)
    if w is None or w.shape is None or w.count is None:
        return None
    transposed = op == "convtranspose" or bool(node.canon.get("transposed", False))
    if transposed:
        cin = w.shape[-1] if keras else w.shape[0]
        if in_n is None or not isinstance(cin, int) or cin <= 0:
            return None
        return in_n * (w.count // cin)
    cout = node.canon.get("channels_out")
    if cout is None:
        if keras:
            cout = w.shape[-2] * w.shape[-1] if op == "depthwiseconv" else w.shape[-1]
        else:
            cout = w.shape[0]
    if out_n is None or not isinstance(cout, int) or cout <= 0:
        return None
    return out_n * (w.count // cout)


def _linear_macs(node: Node, op: str, ins: list[Shape], out: Shape) -> int | None:
    if op == "einsum":
        return _einsum_macs(node, ins)
    w = kernel_param(node)
    if w is not None and w.count is not None:
        x = ins[0] if ins else None
        xn = numel(x)
        if x and xn is not None:
            k = x[0] if (op == "gemm" and node.canon.get("trans_a")) else x[-1]
            if isinstance(k, int) and k > 0:
                return xn // k * w.count
        out_n = numel(out)
        if out_n is not None and out and isinstance(out[-1], int) and out[-1] > 0:
            return out_n * (w.count // out[-1])
        return None
    # activation x activation (MatMul / bmm): out elements x contracted size
    if len(ins) >= 2 and ins[0] and numel(out) is not None:
        a = ins[0]
        k = a[-1]
        if isinstance(k, int):
            return numel(out) * k  # type: ignore[operator]
    return None


def _einsum_macs(node: Node, ins: list[Shape]) -> int | None:
    eq = node.canon.get("equation")
    if not isinstance(eq, str) or "..." in eq or "->" not in eq:
        return None
    lhs = eq.replace(" ", "").split("->")[0].split(",")
    if len(lhs) != len(ins):
        return None
    sizes: dict[str, int] = {}
    for letters, shp in zip(lhs, ins):
        if shp is None or len(shp) != len(letters):
            return None
        for c, d in zip(letters, shp):
            if not isinstance(d, int):
                return None
            sizes[c] = d
    return math.prod(sizes.values())


def _seq_len(graph: Graph, node: Node, op: str, s: Shape) -> int | None:
    """Sequence length of a (batch, seq, embed) or (seq, batch, embed) attention input."""
    if s is None or len(s) < 2:
        return None
    if len(s) == 2:  # unbatched (seq, embed)
        return s[0] if isinstance(s[0], int) else None
    batch_first = node.canon.get("batch_first")
    if batch_first is None and graph.conventions.batch_first:
        batch_first = True  # Keras attention is always (batch, seq, features)
    if batch_first is None:
        # torch's MultiheadAttention may be either layout; without the attribute only a
        # batch of one tells them apart. Otherwise: unknown, not a guess.
        if s[0] == 1 and s[1] != 1:
            batch_first = True
        elif s[1] == 1 and s[0] != 1:
            batch_first = False
        else:
            return None
    d = s[1] if batch_first else s[0]
    return d if isinstance(d, int) else None


def _attention_macs(graph: Graph, node: Node, op: str, ins: list[Shape],
                    out: Shape) -> int | None:
    if op in ("scaleddotproductattention", "scaleddotproductflashattention",
              "scaleddotproductefficientattention") or (not node.params and len(ins) >= 3):
        if len(ins) < 3:
            return None
        q, k, v = ins[0], ins[1], ins[2]
        if q is None or k is None or v is None or len(q) < 2 or len(k) < 2:
            return None
        rows, sk, dk, dv = numel(tuple(q[:-1])), k[-2], q[-1], v[-1]
        if rows is None or not all(isinstance(d, int) for d in (sk, dk, dv)):
            return None
        return rows * sk * (dk + dv)
    mats = matrix_params(node)
    if not mats or not ins:
        return None
    q = ins[0]
    kv = ins[2] if len(ins) >= 3 else (ins[1] if len(ins) >= 2 else q)
    if q is None or kv is None:
        return None
    e_q, e_kv = q[-1], kv[-1]
    tq = numel(q) // e_q if numel(q) is not None and isinstance(e_q, int) and e_q else None
    tk = numel(kv) // e_kv if numel(kv) is not None and isinstance(e_kv, int) and e_kv else None
    sk = _seq_len(graph, node, op, kv)
    if tq is None or tk is None or sk is None:
        return None
    proj = 0
    width_qk = width_v = 0
    for p in mats:
        name = p.name.lower().replace("-", "_")
        leaf = name.rsplit("/", 1)[0] if "/kernel" in name else name
        if "in_proj" in name:  # torch packed q,k,v: (3E, E)
            third = p.count // 3  # type: ignore[operator]
            proj += tq * third + 2 * tk * third
            width_qk += p.shape[0] // 3  # type: ignore[index, operator]
            width_v += p.shape[0] // 3  # type: ignore[index, operator]
        elif any(s in leaf for s in ("key", "k_proj", "value", "v_proj")) and \
                not any(s in leaf for s in ("query", "q_proj")):
            proj += tk * p.count  # type: ignore[operator]
            width = p.count // (e_kv if isinstance(e_kv, int) else 1)  # type: ignore
            if "value" in leaf or "v_proj" in leaf:
                width_v += width
        else:  # query and output projections run once per query token
            proj += tq * p.count  # type: ignore[operator]
            if "query" in leaf or "q_proj" in leaf:
                width_qk += p.count // (e_q if isinstance(e_q, int) else 1)  # type: ignore
    if not width_qk:
        width_qk = e_q if isinstance(e_q, int) else 0
    if not width_v:
        width_v = width_qk
    return proj + tq * sk * (width_qk + width_v)


def _recurrent_macs(node: Node, x: Shape) -> int | None:
    """Per time step and batch row, every input and recurrent kernel is applied once."""
    mats = matrix_params(node)
    xn = numel(x)
    if not mats or x is None or xn is None or not isinstance(x[-1], int) or not x[-1]:
        return None
    steps_rows = xn // x[-1]  # bidirectional / stacked: each kernel is still applied once
    return steps_rows * sum(p.count or 0 for p in mats)
