"""Build the example ONNX models with onnx.helper: `python examples/make_examples.py`.

Writes, next to this script: mlp.onnx, resnet_block.onnx, transformer_block.onnx (a tiny
GPT-style block) and transformer12.onnx (the same block x12, for fold/collapse work), and
draws the first three with nnviz to <name>.svg (``--no-draw`` to skip; the gallery,
``examples/gallery.py``, has every style and theme). Real
graphs with real (random, seeded) weights and tiny dimensions; the bytes are deterministic,
so regenerating gives identical files. Node names use exporter-style scopes
(``/encoder/layer.0/attn/q_proj/MatMul``), which become nnviz groups.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization needs 17
HERE = Path(__file__).resolve().parent


class Builder:
    """Collects nodes and initializers; every node gets an exporter-style scoped name."""

    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.RandomState(seed)
        self._names: set[str] = set()

    def weight(self, name: str, shape: tuple[int, ...], scale: float = 0.1) -> str:
        arr = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def ones(self, name: str, n: int) -> str:
        self.inits.append(numpy_helper.from_array(np.ones(n, np.float32), name))
        return name

    def const(self, name: str, values: list[int] | list[float], dtype: type = np.int64) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def op(self, op_type: str, scope: str, inputs: list[str], n_out: int = 1,
           **attrs: object) -> str | list[str]:
        base = f"{scope}/{op_type}"
        name, i = base, 0
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._names.add(name)
        outs = [f"{name}_output_{k}" for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0] if n_out == 1 else outs

    def constant(self, scope: str, value: float) -> str:
        """A scalar Constant node, as torch.onnx emits for `x / math.sqrt(d)`."""
        name = f"{scope}/Constant"
        i = 0
        while name in self._names:
            i += 1
            name = f"{scope}/Constant_{i}"
        self._names.add(name)
        out = f"{name}_output_0"
        tensor = numpy_helper.from_array(np.asarray(value, dtype=np.float32), "value")
        self.nodes.append(helper.make_node("Constant", [], [out], name=name, value=tensor))
        return out

    def model(self, name: str, inputs: list, outputs: list) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, producer_name="nnviz-examples", producer_version="1",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model


def mlp() -> onnx.ModelProto:
    b = Builder(1)
    x = "input"
    dims = [64, 32, 16, 10]
    for i in range(3):
        scope = f"/fc{i + 1}"
        w = b.weight(f"fc{i + 1}.weight", (dims[i + 1], dims[i]))
        bias = b.weight(f"fc{i + 1}.bias", (dims[i + 1],))
        x = b.op("Gemm", scope, [x, w, bias], transB=1)
        if i < 2:
            x = b.op("Relu", f"/act{i + 1}", [x])
    b.op("Softmax", "/softmax", [x], axis=-1)
    b.nodes[-1].output[0] = "probs"
    return b.model("mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                        ["batch", 64])],
                   [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 10])])


def _conv_bn(b: Builder, x: str, scope: str, cin: int, cout: int, k: int, stride: int,
             relu: bool) -> str:
    w = b.weight(f"{scope[1:].replace('/', '.')}.weight", (cout, cin, k, k))
    x = b.op("Conv", scope + "/conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
             pads=[k // 2] * 4)
    pre = scope[1:].replace("/", ".") + ".bn"
    gamma = b.weight(f"{pre}.weight", (cout,))
    beta = b.weight(f"{pre}.bias", (cout,))
    mean = b.weight(f"{pre}.running_mean", (cout,))
    var = b.ones(f"{pre}.running_var", cout)
    x = b.op("BatchNormalization", scope + "/bn", [x, gamma, beta, mean, var], epsilon=1e-5)
    if relu:
        x = b.op("Relu", scope + "/relu", [x])
    return x


def _basic_block(b: Builder, x: str, scope: str, cin: int, cout: int, stride: int) -> str:
    y = _conv_bn(b, x, scope + "/conv1", cin, cout, 3, stride, relu=True)
    y = _conv_bn(b, y, scope + "/conv2", cout, cout, 3, 1, relu=False)
    if stride != 1 or cin != cout:
        x = _conv_bn(b, x, scope + "/downsample", cin, cout, 1, stride, relu=False)
    y = b.op("Add", scope, [y, x])
    return b.op("Relu", scope + "/relu", [y])


def resnet_block() -> onnx.ModelProto:
    b = Builder(2)
    x = _conv_bn(b, "image", "/stem", 3, 16, 3, 1, relu=True)
    x = b.op("MaxPool", "/stem/pool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = _basic_block(b, x, "/layer1/block0", 16, 16, 1)
    x = _basic_block(b, x, "/layer2/block0", 16, 32, 2)
    x = b.op("GlobalAveragePool", "/head/pool", [x])
    x = b.op("Flatten", "/head", [x], axis=1)
    w = b.weight("head.fc.weight", (10, 32))
    bias = b.weight("head.fc.bias", (10,))
    b.op("Gemm", "/head/fc", [x, w, bias], transB=1)
    b.nodes[-1].output[0] = "logits"
    return b.model("resnet_block",
                   [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                  ["batch", 3, 32, 32])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])])


D_MODEL, HEADS, D_FF, VOCAB, MAX_POS = 32, 4, 64, 100, 64


def _linear(b: Builder, x: str, scope: str, din: int, dout: int, wname: str) -> str:
    w = b.weight(f"{wname}.weight", (din, dout))
    bias = b.weight(f"{wname}.bias", (dout,), scale=0.01)
    y = b.op("MatMul", scope, [x, w])
    return b.op("Add", scope, [y, bias])


def _layer_norm(b: Builder, x: str, scope: str, wname: str) -> str:
    gamma = b.ones(f"{wname}.weight", D_MODEL)
    beta = b.weight(f"{wname}.bias", (D_MODEL,), scale=0.0)
    return b.op("LayerNormalization", scope, [x, gamma, beta], axis=-1, epsilon=1e-5)


def _gpt_layer(b: Builder, x: str, i: int) -> str:
    s = f"/encoder/layer.{i}"
    w = f"encoder.layer.{i}"
    hd = D_MODEL // HEADS
    h = _layer_norm(b, x, s + "/ln_1", w + ".ln_1")
    heads_shape = b.const(f"{w}.attn.heads_shape", [0, 0, HEADS, hd])
    merged_shape = b.const(f"{w}.attn.merged_shape", [0, 0, D_MODEL])
    qkv = {}
    for p in ("q", "k", "v"):
        t = _linear(b, h, f"{s}/attn/{p}_proj", D_MODEL, D_MODEL, f"{w}.attn.{p}_proj")
        t = b.op("Reshape", f"{s}/attn", [t, heads_shape])
        perm = [0, 2, 3, 1] if p == "k" else [0, 2, 1, 3]
        qkv[p] = b.op("Transpose", f"{s}/attn", [t], perm=perm)
    scores = b.op("MatMul", f"{s}/attn", [qkv["q"], qkv["k"]])
    scale = b.constant(f"{s}/attn", float(np.sqrt(hd)))
    scores = b.op("Div", f"{s}/attn", [scores, scale])
    probs = b.op("Softmax", f"{s}/attn", [scores], axis=-1)
    ctx = b.op("MatMul", f"{s}/attn", [probs, qkv["v"]])
    ctx = b.op("Transpose", f"{s}/attn", [ctx], perm=[0, 2, 1, 3])
    ctx = b.op("Reshape", f"{s}/attn", [ctx, merged_shape])
    attn = _linear(b, ctx, f"{s}/attn/out_proj", D_MODEL, D_MODEL, f"{w}.attn.out_proj")
    x = b.op("Add", s, [x, attn])
    h = _layer_norm(b, x, s + "/ln_2", w + ".ln_2")
    h = _linear(b, h, f"{s}/mlp/fc1", D_MODEL, D_FF, f"{w}.mlp.fc1")
    # GELU as torch.onnx exports it before opset 20: x * 0.5 * (1 + erf(x / sqrt(2)))
    g = b.op("Div", f"{s}/mlp/act", [h, b.constant(f"{s}/mlp/act", float(np.sqrt(2.0)))])
    g = b.op("Erf", f"{s}/mlp/act", [g])
    g = b.op("Add", f"{s}/mlp/act", [g, b.constant(f"{s}/mlp/act", 1.0)])
    g = b.op("Mul", f"{s}/mlp/act", [h, g])
    g = b.op("Mul", f"{s}/mlp/act", [g, b.constant(f"{s}/mlp/act", 0.5)])
    h = _linear(b, g, f"{s}/mlp/fc2", D_FF, D_MODEL, f"{w}.mlp.fc2")
    return b.op("Add", s, [x, h])


def transformer(layers: int, name: str) -> onnx.ModelProto:
    b = Builder(3 + layers)
    wte = b.weight("embed.tokens.weight", (VOCAB, D_MODEL))
    wpe = b.weight("embed.positions.weight", (MAX_POS, D_MODEL))
    tok = b.op("Gather", "/embed/tokens", [wte, "input_ids"], axis=0)
    pos = b.op("Gather", "/embed/positions", [wpe, "position_ids"], axis=0)
    x = b.op("Add", "/embed", [tok, pos])
    for i in range(layers):
        x = _gpt_layer(b, x, i)
    x = _layer_norm(b, x, "/ln_f", "ln_f")
    head = b.weight("lm_head.weight", (D_MODEL, VOCAB))
    b.op("MatMul", "/lm_head", [x, head])
    b.nodes[-1].output[0] = "logits"
    return b.model(name,
                   [helper.make_tensor_value_info("input_ids", TensorProto.INT64,
                                                  ["batch", "seq"]),
                    helper.make_tensor_value_info("position_ids", TensorProto.INT64,
                                                  ["batch", "seq"])],
                   [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                  ["batch", "seq", VOCAB])])


# Drawn to SVG; transformer12 is for fold/collapse work and too tall to be a useful picture.
DRAWN = ("mlp", "resnet_block", "transformer_block")


def build_all() -> dict[str, onnx.ModelProto]:
    return {
        "mlp": mlp(),
        "resnet_block": resnet_block(),
        "transformer_block": transformer(1, "transformer_block"),
        "transformer12": transformer(12, "transformer12"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    parser.add_argument("--no-draw", action="store_true", help="only write the .onnx files")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for stem, model in build_all().items():
        path = args.out / f"{stem}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        print(f"{path} ({path.stat().st_size:,} bytes, {len(model.graph.node)} nodes)")
        if not args.no_draw and stem in DRAWN:
            import nnviz

            svg = path.with_suffix(".svg")
            nnviz.draw(path, svg)
            print(f"{svg} ({svg.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
