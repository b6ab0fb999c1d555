"""Per-op output shape rules: the shapes pass and the TorchScript reader both use them.

``output_shapes(graph, node, input_shapes)`` gives a node's output shapes from its inputs'
shapes and its canonical attributes (``Node.canon``, :mod:`nnviz.canon`), entries None where
unknown. Never guesses: a shape is filled only when the op's rule is known and every input
dimension it needs is known; symbolic dims (strings like "batch") pass through ops that do
not touch them. Neutral: the loaders (the TorchScript reader infers shapes while it
interprets code) and the passes (``passes.shapes`` fills what loaders left unknown) import it.
"""

from __future__ import annotations

import functools
import re

from nnviz.canon import as_list, explicit_padding
from nnviz.ir import Dim, Graph, Node, Param, Shape
from nnviz.shape_math import conv_out, conv_transpose_out, same_out

_DIMSUFFIX = re.compile(r"(1d|2d|3d)$")


@functools.lru_cache(maxsize=8192)
def opname(op: str) -> str:
    """A framework-neutral lower-case op name.

    'aten.conv2d.default' -> 'conv', 'Conv2DTranspose' -> 'convtranspose',
    'torch.nn.modules.linear.Linear' -> 'linear', 'MaxPooling2D' -> 'maxpooling'.
    """
    name = op.strip()
    if name.startswith("aten.") or name.startswith("aten::"):
        name = name.replace("::", ".").split(".")[1]
    elif "." in name:
        name = name.rsplit(".", 1)[-1]
    name = name.lower().replace("_", "")
    name = _DIMSUFFIX.sub("", name)
    if name.startswith("conv") and name.endswith("transpose"):
        # Conv2DTranspose / ConvTranspose2d -> convtranspose
        name = "convtranspose"
    return name


def known(d: Dim) -> bool:
    return isinstance(d, int) and not isinstance(d, bool) and d >= 0



def is_channels_last(graph: Graph, node: Node) -> bool:
    """The node's own data layout (canonical ``data_layout``), else its family's
    (``graph.conventions``)."""
    return node.canon.get("data_layout", graph.conventions.data_layout) == "channels_last"


def weights_last(graph: Graph, node: Node) -> bool:
    """Kernels stored (k..., in, out) (Keras), not (out, in, k...)."""
    return node.canon.get("weight_layout", graph.conventions.weight_layout) == "spatial_in_out"


def kernel_param(node: Node) -> Param | None:
    """The main weight: the largest parameter with at least two dimensions."""
    best = None
    for p in node.params:
        if p.name.lower().endswith("bias"):
            continue
        if p.shape is None or len(p.shape) < 2 or p.count is None:
            continue
        if best is None or p.count > (best.count or 0):
            best = p
    return best


Rule = tuple[Shape, ...]

# Ops whose (first) output has the shape of their first input.
_SAME = {
    "relu", "relu6", "leakyrelu", "prelu", "elu", "selu", "celu", "gelu", "sigmoid",
    "hardsigmoid", "tanh", "softmax", "logsoftmax", "softplus", "softsign", "swish", "silu",
    "mish", "hardswish", "hardtanh", "thresholdedrelu", "activation", "softmin", "quickgelu",
    "fastgelu", "logsigmoid", "dropout", "alphadropout", "gaussiandropout", "gaussiannoise",
    "spatialdropout", "identity", "cast", "clip", "clamp", "sqrt", "exp", "log", "abs", "neg",
    "reciprocal", "erf", "sin", "cos", "floor", "ceil", "round", "sign", "isnan", "isinf",
    "rsqrt", "contiguous", "clone", "detach", "to", "alias", "rescaling", "normalization",
    "batchnormalization", "batchnorm", "layernormalization", "layernorm", "groupnormalization",
    "groupnorm", "instancenormalization", "instancenorm", "rmsnorm", "rmsnormalization",
    "lpnormalization", "unitnormalization", "localresponsenorm", "lrn",
    "meanvariancenormalization", "simplifiedlayernormalization", "nativelayernorm",
    "nativebatchnorm", "nativegroupnorm", "lift_fresh_copy", "liftfreshcopy", "masking",
    "dropout1d", "dropout3d", "featurealphadropout", "cumsum", "triu", "tril", "trilu",
    "maskedfill", "scale", "activitieregularization", "biasadd", "flip", "roll",
}
_BINARY = {
    "add", "sub", "mul", "div", "pow", "where", "max", "min", "mod", "sum", "mean", "multiply",
    "subtract", "average", "maximum", "minimum", "equal", "greater", "less", "and", "or", "xor",
    "lessorequal", "greaterorequal", "truediv", "floordiv", "iadd", "addcmul", "not",
    "bitwiseand", "bitwiseor", "ne", "eq", "gt", "lt", "ge", "le", "rsub",
}
_CONV = {"conv", "convolution", "depthwiseconv", "separableconv", "qlinearconv", "convinteger"}
_POOL = {"maxpool", "averagepool", "avgpool", "maxpooling", "averagepooling", "avgpooling",
         "lppool", "lppooling", "maxpoolwithindices"}
_GLOBAL_POOL = {"globalaveragepool", "globalmaxpool", "globalaveragepooling", "globalmaxpooling",
                "globallppool"}
_ADAPTIVE_POOL = {"adaptiveavgpool", "adaptivemaxpool"}
_LINEAR = {"dense", "linear", "lazylinear"}
_MATMUL = {"matmul", "mm", "bmm", "qlinearmatmul", "matmulinteger"}
_REDUCE = {"reducemean", "reducesum", "reducemax", "reducemin", "reduceprod", "reducel1",
           "reducel2", "reducelogsum", "reducelogsumexp", "reducesumsquare", "amax", "amin",
           "logsumexp", "argmax", "argmin", "var", "std", "prod"}


def output_shapes(graph: Graph, node: Node, ins: list[Shape]) -> Rule:
    """Shapes of the node's outputs from its input shapes; entries None where unknown."""
    op = opname(node.op)
    first = ins[0] if ins else None
    if node.kind == "io" or op in ("input", "output", "inputlayer", "placeholder"):
        return ()
    if op in _SAME:
        return (first,)
    if op == "shape" and first is not None and not node.attrs:
        return ((len(first),),)
    if op in ("mean", "sum", "max", "min") and len(ins) == 1 and not node.params and \
            (node.kind == "reduce" or "axes" in node.canon):
        return (_reduce(node, first, op),)  # torch mean(dim=...) and friends reduce
    if op in _BINARY:
        shapes = list(ins) + [p.shape for p in node.params]
        return (broadcast(shapes),)
    if op in _CONV:
        return (_conv(graph, node, first, transposed=False),)
    if op == "convtranspose":
        return (_conv(graph, node, first, transposed=True),)
    if op in _POOL:
        return (_pool(graph, node, first),)
    if op in _GLOBAL_POOL:
        return (_global_pool(graph, node, first),)
    if op in _ADAPTIVE_POOL:
        return (_adaptive_pool(node, first),)
    if op in _LINEAR or op == "einsumdense":
        return (_dense(graph, node, first),)
    if op == "gemm":
        return (_gemm(node, first),)
    if op in _MATMUL:
        other = ins[1] if len(ins) > 1 else (node.params[0].shape if node.params else None)
        return (matmul_shape(first, other),)
    if op in ("flatten",):
        return (_flatten(graph, node, first),)
    if op in ("transpose", "permute", "t"):
        return (_transpose(graph, node, first),)
    if op in ("concat", "concatenate", "cat"):
        return (_concat(graph, node, ins),)
    if op in ("reshape", "view", "unsafeview", "_unsafeview"):
        return (_reshape(graph, node, first),)
    if op in _REDUCE:
        return (_reduce(node, first, op),)
    if op in ("squeeze", "unsqueeze"):
        return (_squeeze(node, first, op == "unsqueeze"),)
    if op in ("embedding", "gather") and node.params:
        w = node.params[0].shape
        if first is not None and w is not None and len(w) == 2 and op == "embedding":
            return (tuple(first) + (w[1],),)
        axis = node.canon.get("axis", 0)
        if op == "gather" and first is not None and w is not None and axis == 0:
            return (tuple(first) + tuple(w[1:]),)
        return (None,)
    return ()


def broadcast(shapes: list[Shape]) -> Shape:
    """Numpy broadcasting; None when any shape is unknown or sizes clash."""
    if any(s is None for s in shapes) or not shapes:
        return None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]  # type: ignore
        non1 = [d for d in dims if d != 1]
        if not non1:
            out.append(1)
            continue
        ints = {d for d in non1 if known(d)}
        if len(ints) > 1:
            return None  # incompatible: a bad file, not ours to fix
        syms = [d for d in non1 if not known(d)]
        if ints:
            out.append(next(iter(ints)))
        elif all(d == syms[0] for d in syms) and syms[0] is not None:
            out.append(syms[0])
        else:
            out.append(None)
    return tuple(out)


def matmul_shape(a: Shape, b: Shape) -> Shape:
    """numpy.matmul shape rule."""
    if a is None or b is None or len(a) == 0 or len(b) == 0:
        return None
    a1, b1 = len(a) == 1, len(b) == 1
    aa = (1,) + tuple(a) if a1 else tuple(a)
    bb = tuple(b) + (1,) if b1 else tuple(b)
    batch = broadcast([aa[:-2], bb[:-2]]) if len(aa) > 2 or len(bb) > 2 else ()
    if batch is None:
        return None
    out = tuple(batch) + (aa[-2], bb[-1])
    if a1:
        out = out[:-2] + out[-1:]
    if b1:
        out = out[:-1]
    return out


def _padding(node: Node, nsp: int) -> tuple[str, list[int]]:
    """('explicit', [begins..., ends...]) or ('same'|'unknown', [])."""
    return explicit_padding(node.canon.get("padding"), nsp)


def _split_channels(graph: Graph, node: Node, x: Shape) -> tuple[bool, int] | None:
    """(channels_last, number of spatial dims) for an N-D feature map input."""
    if x is None or len(x) < 3:
        return None
    return is_channels_last(graph, node), len(x) - 2


def _conv(graph: Graph, node: Node, x: Shape, transposed: bool) -> Shape:
    info = _split_channels(graph, node, x)
    if info is None:
        return None
    last, nsp = info
    w = kernel_param(node)
    wshape = w.shape if w is not None else None
    op = opname(node.op)
    kernel = as_list(node.canon.get("kernel"), nsp)
    if kernel is None and wshape is not None and len(wshape) == nsp + 2:
        ks = wshape[:nsp] if last else wshape[2:]
        kernel = [int(k) for k in ks] if all(known(k) for k in ks) else None
    if kernel is None:
        return None
    strides, dil = _stride_dilation(node, nsp)
    if strides is None or dil is None:
        return None
    # Output channels, from the attribute or the kernel's layout.
    cout: Dim = node.canon.get("channels_out")
    if cout is None and op == "depthwiseconv":
        cin = x[-1] if last else x[1]
        mult = node.canon.get("depth_multiplier", 1)
        cout = cin * mult if known(cin) else None
    if cout is None and wshape is not None and len(wshape) == nsp + 2:
        if last:
            cout = wshape[-2] if transposed else wshape[-1]
        elif transposed:
            g = node.canon.get("groups", 1)
            cout = wshape[1] * g if known(wshape[1]) else None
        else:
            cout = wshape[0]
    spatial = _spatial_out(node, x, last, nsp, kernel, strides, dil, transposed=transposed)
    batch = x[0]
    return (batch, *spatial, cout) if last else (batch, cout, *spatial)


def _stride_dilation(node: Node, nsp: int) -> tuple[list[int] | None, list[int] | None]:
    """Canonical stride and dilation per spatial axis (1 when absent), or None if malformed."""
    return (as_list(node.canon.get("stride", 1), nsp),
            as_list(node.canon.get("dilation", 1), nsp))


def _spatial_out(node: Node, x: tuple, last: bool, nsp: int, kernel: list[int],
                 strides: list[int], dil: list[int], transposed: bool = False,
                 ceil: bool = False) -> list[Dim]:
    """Output sizes of the spatial axes of a convolution or pool (canonical padding)."""
    mode, pads = _padding(node, nsp)
    spatial_in = list(x[1:-1]) if last else list(x[2:])
    spatial: list[Dim] = []
    for i in range(nsp):
        size = spatial_in[i]
        if mode == "unknown":
            spatial.append(None)
        elif transposed:
            if not known(size):
                spatial.append(None)
            elif mode == "same":
                spatial.append(size * strides[i])  # type: ignore[operator]
            else:
                extra = as_list(node.canon.get("output_padding", 0), nsp) or [0] * nsp
                spatial.append(conv_transpose_out(size, kernel[i], strides[i], dil[i], pads[i],
                                                  pads[i + nsp], extra[i]))
        elif mode == "same":
            spatial.append(same_out(size, strides[i]))
        else:
            spatial.append(conv_out(size, kernel[i], strides[i], dil[i], pads[i],
                                    pads[i + nsp], ceil))
    return spatial


def _pool(graph: Graph, node: Node, x: Shape) -> Shape:
    info = _split_channels(graph, node, x)
    if info is None:
        return None
    last, nsp = info
    kernel = as_list(node.canon.get("kernel"), nsp)
    if kernel is None:
        return None
    strides, dil = _stride_dilation(node, nsp)
    if strides is None or dil is None:
        return None
    ceil = bool(node.canon.get("ceil_mode", False))
    spatial = _spatial_out(node, x, last, nsp, kernel, strides, dil, ceil=ceil)
    if last:
        return (x[0], *spatial, x[-1])
    return (x[0], x[1], *spatial)


def _global_pool(graph: Graph, node: Node, x: Shape) -> Shape:
    if x is None or len(x) < 3:
        return None
    last = is_channels_last(graph, node)
    op = opname(node.op)
    keep = node.canon.get("keepdims", op in ("globalaveragepool", "globalmaxpool",
                                             "globallppool"))
    if op.endswith("pooling") and not keep:  # Keras: (batch, channels)
        return (x[0], x[-1] if last else x[1])
    if last:
        return (x[0],) + (1,) * (len(x) - 2) + (x[-1],)
    return (x[0], x[1]) + (1,) * (len(x) - 2)


def _adaptive_pool(node: Node, x: Shape) -> Shape:
    if x is None or len(x) < 3:
        return None
    nsp = len(x) - 2
    size = node.canon.get("output_size")
    if isinstance(size, (list, tuple)) and len(size) == nsp:
        out = [x[2 + i] if s is None else s for i, s in enumerate(size)]
    else:
        lst = as_list(size, nsp)
        if lst is None:
            return None
        out = lst
    return (x[0], x[1], *out)


def _dense(graph: Graph, node: Node, x: Shape) -> Shape:
    if x is None or len(x) == 0:
        return None
    op = opname(node.op)
    if op == "einsumdense":
        out = node.canon.get("output_shape")
        if isinstance(out, (list, tuple)) and all(d is None or isinstance(d, int) for d in out):
            return (x[0], *out)
        return None
    units = node.canon.get("features_out")
    if units is None:
        w = kernel_param(node)
        if w is None or w.shape is None or len(w.shape) != 2:
            return None
        # torch Linear stores (out, in); Keras Dense stores (in, out).
        units = w.shape[-1] if weights_last(graph, node) else w.shape[0]
    return tuple(x[:-1]) + (units,)


def _gemm(node: Node, a: Shape) -> Shape:
    w = kernel_param(node)
    if a is None or len(a) != 2 or w is None or w.shape is None or len(w.shape) != 2:
        return None
    m = a[1] if node.canon.get("trans_a") else a[0]
    n = w.shape[0] if node.canon.get("trans_b") else w.shape[1]
    return (m, n)


def _norm_axis(axis: int, rank: int) -> int | None:
    a = axis + rank if axis < 0 else axis
    return a if 0 <= a < rank else None


def _flatten(graph: Graph, node: Node, x: Shape) -> Shape:
    if x is None:
        return None
    rank = len(x)
    canon = node.canon
    if "start_dim" in canon or opname(node.op) == "flatten" and "axis" not in canon \
            and graph.conventions.flatten_start_dim is not None:
        s = _norm_axis(int(canon.get("start_dim", 1)), rank)
        e = _norm_axis(int(canon.get("end_dim", -1)), rank)
        if s is None or e is None or e < s:
            return None
        mid = _prod(x[s:e + 1])
        return tuple(x[:s]) + (mid,) + tuple(x[e + 1:])
    if "axis" in canon:  # ONNX: 2-D result
        a = canon["axis"]
        a = a + rank if a < 0 else a
        if not 0 <= a <= rank:
            return None
        return (_prod(x[:a]), _prod(x[a:]))
    return (x[0], _prod(x[1:]))  # Keras Flatten, ONNX default axis=1


def _prod(dims: tuple) -> Dim:
    n = 1
    for d in dims:
        if not known(d):
            return None
        n *= d
    return n


def _transpose(graph: Graph, node: Node, x: Shape) -> Shape:
    if x is None:
        return None
    rank = len(x)
    perm = node.canon.get("perm")
    if opname(node.op) == "t":
        perm = list(range(rank))[::-1]
    if perm is None:
        swap = node.canon.get("swap")
        if opname(node.op) == "transpose" and swap is not None:
            d0 = _norm_axis(int(swap[0]), rank)
            d1 = _norm_axis(int(swap[1]), rank)
            if d0 is None or d1 is None:
                return None
            out = list(x)
            out[d0], out[d1] = out[d1], out[d0]
            return tuple(out)
        if opname(node.op) == "transpose" and "perm" not in node.canon and \
                graph.conventions.transpose_reverses:
            return tuple(reversed(x))  # ONNX default: reverse
        return None
    perm = list(perm)
    if sorted(int(p) % rank for p in perm) != list(range(rank)):
        return None
    return tuple(x[int(p) % rank] for p in perm)


def _concat(graph: Graph, node: Node, ins: list[Shape]) -> Shape:
    if not ins or any(s is None for s in ins):
        return None
    rank = len(ins[0])  # type: ignore[arg-type]
    if any(len(s) != rank for s in ins):  # type: ignore[arg-type]
        return None
    axis = _norm_axis(int(node.canon.get("axis", 0)), rank)
    if axis is None:
        return None
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i] for s in ins]  # type: ignore[index]
        if i == axis:
            out.append(_sum_dims(dims))
        else:
            ints = [d for d in dims if known(d)]
            out.append(ints[0] if ints else (dims[0] if all(d == dims[0] for d in dims)
                                             else None))
    return tuple(out)


def _sum_dims(dims: list[Dim]) -> Dim:
    if all(known(d) for d in dims):
        return sum(dims)  # type: ignore[arg-type]
    return None


def _reshape(graph: Graph, node: Node, x: Shape) -> Shape:
    target = node.canon.get("shape")
    if not isinstance(target, (list, tuple)) or not all(isinstance(d, int) for d in target):
        return None
    target = list(target)
    if node.canon.get("keeps_batch") and x is not None:
        target = [x[0]] + target  # Keras Reshape: without the batch dim
        fill_from = None
    else:
        fill_from = x
    allowzero = bool(node.canon.get("allowzero", False))
    out: list[Dim] = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero and opname(node.op) == "reshape" and fill_from is not None:
            out.append(fill_from[i] if i < len(fill_from) else None)
        else:
            out.append(d)
    negs = [i for i, d in enumerate(out) if d == -1]
    if len(negs) > 1:
        return None
    if negs:
        total = _prod(tuple(x)) if x is not None else None
        rest = _prod(tuple(d for i, d in enumerate(out) if i != negs[0]))
        if total is None or not rest:
            out[negs[0]] = None
        elif total % rest:
            return None
        else:
            out[negs[0]] = total // rest
    return tuple(out)


def _reduce(node: Node, x: Shape, op: str) -> Shape:
    if x is None:
        return None
    rank = len(x)
    axes = node.canon.get("axes")
    default_keep = op.startswith("reduce") or op in ("argmax", "argmin")
    keep = bool(node.canon.get("keepdims", default_keep))
    if axes is None:
        if op in ("argmax", "argmin"):
            axes = [0]
        else:
            return (1,) * rank if keep else ()
    norm = [_norm_axis(int(a), rank) for a in axes]
    if any(a is None for a in norm):
        return None
    out: list[Dim] = []
    for i, d in enumerate(x):
        if i in norm:
            if keep:
                out.append(1)
        else:
            out.append(d)
    return tuple(out)


def _squeeze(node: Node, x: Shape, unsqueeze: bool) -> Shape:
    if x is None:
        return None
    axes = node.canon.get("axes")
    if unsqueeze:
        if axes is None:
            return None
        out_rank = len(x) + len(axes)
        norm = sorted(a + out_rank if a < 0 else a for a in axes)
        out = list(x)
        for a in norm:
            if not 0 <= a <= len(out):
                return None
            out.insert(a, 1)
        return tuple(out)
    if axes is None:
        if all(known(d) for d in x):
            return tuple(d for d in x if d != 1)
        return None
    norm = {_norm_axis(int(a), len(x)) for a in axes}
    if None in norm:
        return None
    return tuple(d for i, d in enumerate(x) if i not in norm)
