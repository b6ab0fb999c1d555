"""Canonical node kinds from framework op / layer names, shared by all loaders.

A ResNet must look the same from ONNX, Keras or PyTorch, so the three loaders map their
op types through one table. Keys are lower-case names with '_' and '2d'-style suffixes
removed; loaders may pass ``Conv``, ``Conv2D``, ``conv2d``, ``aten.convolution.default``.
"""

from __future__ import annotations

import re

# kind -> the normalised op names of that kind. Its keys, plus the kinds no op name maps to,
# are the one kind vocabulary (KINDS below); themes colour by kind.
_TABLE: dict[str, tuple[str, ...]] = {
    "conv": ("conv", "convtranspose", "convolution", "depthwiseconv", "separableconv",
             "qlinearconv", "convinteger", "deformconv", "cudnnconvolution", "mkldnnconvolution"),
    "linear": ("gemm", "matmul", "linear", "dense", "einsum", "bilinear", "addmm", "mm", "bmm",
               "matmulinteger", "qlinearmatmul", "einsumdense", "lazylinear", "baddbmm"),
    "norm": ("batchnormalization", "batchnorm", "layernormalization", "layernorm",
             "groupnormalization", "groupnorm", "instancenormalization", "instancenorm",
             "lpnormalization", "rmsnorm", "rmsnormalization", "simplifiedlayernormalization",
             "skiplayernormalization", "unitnormalization", "nativebatchnorm", "nativelayernorm",
             "nativegroupnorm", "spectralnormalization", "localresponsenorm", "lrn",
             "meanvariancenormalization", "normalization"),
    "activation": ("relu", "relu6", "leakyrelu", "prelu", "elu", "selu", "celu", "gelu",
                   "sigmoid", "hardsigmoid", "tanh", "softmax", "logsoftmax", "softplus",
                   "softsign", "swish", "silu", "mish", "hardswish", "hardtanh", "thresholdedrelu",
                   "activation", "softmin", "glu", "quickgelu", "fastgelu", "biasgelu",
                   "logsigmoid", "tanhshrink", "softshrink", "hardshrink", "rrelu", "threshold"),
    "pool": ("maxpool", "averagepool", "avgpool", "globalaveragepool", "globalmaxpool",
             "adaptiveavgpool", "adaptivemaxpool", "maxpooling", "averagepooling",
             "globalaveragepooling", "globalmaxpooling", "lppool", "maxunpool", "roipool",
             "maxroipool", "upsampling", "upsample", "resize", "pixelshuffle", "pixelunshuffle",
             "depthtospace", "spacetodepth", "lppooling",
             "maxpoolwithindices", "avgpooling", "pool"),
    "attention": ("attention", "multiheadattention", "scaleddotproductattention",
                  "groupqueryattention", "multiheadattentionv2", "selfattention",
                  "scaleddotproductflashattention", "scaleddotproductefficientattention",
                  "additiveattention", "transformerencoderlayer", "transformerdecoderlayer",
                  "rotaryembedding", "packedmultiheadattention"),
    "embedding": ("embedding", "gather", "embeddingbag", "embedlayernormalization",
                  "tokenandpositionembedding", "positionembedding"),
    "recurrent": ("lstm", "gru", "rnn", "simplernn", "lstmcell", "grucell", "rnncell",
                  "bidirectional", "convlstm", "scan", "loop"),
    "elementwise": ("add", "sub", "mul", "div", "pow", "sqrt", "exp", "log", "abs", "neg",
                    "reciprocal", "erf", "where", "max", "min", "mod", "sum", "mean",
                    "multiply", "subtract", "average", "maximum", "minimum", "dropout",
                    "clip", "clamp", "equal", "greater", "less", "and", "or", "not", "xor",
                    "sin", "cos", "floor", "ceil", "round", "sign", "isnan", "isinf", "addcmul",
                    "rsqrt", "alphadropout", "gaussiandropout", "gaussiannoise",
                    "spatialdropout", "featurealphadropout", "identity", "rescaling", "scale",
                    "biasadd", "iadd", "truediv", "floordiv", "lessorequal", "greaterorequal",
                    "masked_fill", "maskedfill", "dropout1d", "dropout3d", "if"),
    "reshape": ("reshape", "flatten", "transpose", "permute", "squeeze", "unsqueeze", "view",
                "expand", "concat", "concatenate", "split", "slice", "pad", "tile", "cast",
                "shape", "size", "gatherelements", "gathernd", "scatter", "scatterelements",
                "scatternd", "repeat", "repeatvector", "reshape", "contiguous", "to", "chunk",
                "stack", "unbind", "cat", "getitem", "select", "narrow", "flip", "roll",
                "onehot", "range", "constantofshape", "nonzero", "topk", "argmax", "argmin",
                "trilu", "tril", "triu", "masked", "masking", "zeropad",
                # Keras padding/cropping: ONNX Pad/Slice and torch ZeroPad2d are reshape too
                "zeropadding", "cropping", "globalpool",
                "spacetobatch", "batchtospace", "compress", "einops", "unflatten",
                "expandas", "viewas", "reshapeas", "clone", "detach", "alias", "t",
                "_unsafeview", "unsafeview", "sym_size",
                "symsize", "lift_fresh_copy", "liftfreshcopy", "copy", "assertasync"),
    "reduce": ("reducemean", "reducesum", "reducemax", "reducemin", "reduceprod",
               "reducel1", "reducel2", "reducelogsum", "reducelogsumexp", "reducesumsquare",
               "logsumexp", "amax", "amin", "prod", "var", "std", "norm", "cumsum",
               "globalaveragepooling1d"),
    "io": ("input", "output", "inputlayer", "placeholder"),
    "constant": ("constant", "constantlayer", "initializer", "getattr", "parameter", "buffer",
                 "newzeros", "zeros", "ones", "full", "arange", "zeroslike", "oneslike",
                 "fulllike", "emptylike", "empty", "randn", "rand", "eye"),
}

KINDS: tuple[str, ...] = (
    *_TABLE,
    "group",  # a collapsed group / folded repeat drawn as one box
    "other",  # what no table entry matches
)

_LOOKUP: dict[str, str] = {}
for _kind, _names in _TABLE.items():
    for _name in _names:
        _LOOKUP.setdefault(_name, _kind)

_SUFFIX = re.compile(r"(1d|2d|3d|nd|transpose|_?default|_?tensor|_?scalar|_?int|_?self|_?out)$")


def normalize_op(op: str) -> str:
    """'aten.convolution.default' -> 'convolution'; 'Conv2DTranspose' -> 'conv'; lower-case."""
    name = op.strip()
    if "." in name:
        parts = [p for p in name.split(".") if p and p not in ("default", "Tensor", "Scalar",
                                                               "int", "self", "out", "dim")]
        # aten.add.Tensor -> add; torch.nn.modules.conv.Conv2d -> Conv2d
        name = parts[-1] if parts and not parts[0] == "aten" else (parts[1] if len(parts) > 1
                                                                    else parts[0])
    name = name.lower().replace("_", "")
    prev = None
    while prev != name:
        prev = name
        name = _SUFFIX.sub("", name) or prev
    return name


def kind_for(op: str, default: str = "other") -> str:
    """The canonical kind of an op or layer type name from any framework."""
    raw = op.strip().lower().replace("_", "")
    if raw in _LOOKUP:
        return _LOOKUP[raw]
    name = normalize_op(op)
    if name in _LOOKUP:
        return _LOOKUP[name]
    # Attention modules come in many names (BertSelfAttention, GPT2Attention, ...).
    if "attention" in name or name.endswith("attn"):
        return "attention"
    if name.endswith(("norm", "normalization")) or "batchnorm" in name or "layernorm" in name \
            or "groupnorm" in name:
        return "norm"
    if name.startswith("conv"):
        return "conv"
    if "pool" in name:
        return "pool"
    if "embed" in name:
        return "embedding"
    if name.endswith(("lstm", "gru", "rnn")):
        return "recurrent"
    return default
