"""Write the TFLite test fixtures (tests/fixtures/tflite/), run once by hand.

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python tools/make_tflite_fixtures.py [path/to/mediapipe-0.10.14-*.whl]

TensorFlow is only needed here, never by nnviz or its tests (the tests read the committed
files). Fixtures: a MobileNet-style model quantized to int8 (conv, depthwise conv, fully
connected, per-channel scales), the same model in float32, and a tf.function with a
data-dependent while loop and an if (WHILE / IF subgraphs). With a mediapipe 0.10.14 wheel
(``pip download --no-deps mediapipe==0.10.14``) it also copies one real shipped model,
face_detection_short_range.tflite (BlazeFace, Apache-2.0, see LICENSE-mediapipe.txt).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import numpy as np
import tensorflow as tf

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tflite"


def mobilenet_style() -> tf.keras.Model:
    layers = tf.keras.layers
    inp = layers.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inp)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    for i, (c, s) in enumerate([(16, 1), (24, 2), (24, 1)]):
        y = layers.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False,
                                   name=f"block{i}_dw")(x)
        y = layers.BatchNormalization(name=f"block{i}_dw_bn")(y)
        y = layers.ReLU(6.0, name=f"block{i}_dw_relu6")(y)
        y = layers.Conv2D(c, 1, use_bias=False, name=f"block{i}_pw")(y)
        y = layers.BatchNormalization(name=f"block{i}_pw_bn")(y)
        if s == 1 and x.shape[-1] == c:
            y = layers.Add(name=f"block{i}_add")([x, y])
        x = y
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(10, name="logits")(x)
    out = layers.Softmax(name="probs")(x)
    return tf.keras.Model(inp, out, name="mobilenet_mini")


def convert(model: tf.keras.Model, int8: bool) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def rep():
            for _ in range(16):
                yield [rng.standard_normal((1, 32, 32, 3)).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = rep
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


class Looper(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        rng = np.random.default_rng(1)
        self.w = tf.Variable(rng.standard_normal((8, 8)).astype(np.float32) * 0.1)
        self.b = tf.Variable(np.zeros(8, np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 8), tf.float32),
                                  tf.TensorSpec((), tf.int32)])
    def __call__(self, x, steps):
        def body(i, h):
            return i + 1, tf.nn.relu(tf.matmul(h, self.w) + self.b)

        _, h = tf.while_loop(lambda i, h: i < steps, body, (tf.constant(0), x))
        return tf.cond(tf.reduce_sum(h) > 0, lambda: tf.nn.tanh(h), lambda: tf.nn.sigmoid(h))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tf.keras.utils.set_random_seed(0)
    model = mobilenet_style()
    (OUT / "mobilenet_mini_int8.tflite").write_bytes(convert(model, int8=True))
    (OUT / "mobilenet_mini_float.tflite").write_bytes(convert(model, int8=False))
    print("mobilenet_mini params (Keras count_params):", model.count_params())
    looper = Looper()
    conv = tf.lite.TFLiteConverter.from_concrete_functions(
        [looper.__call__.get_concrete_function()], looper)
    (OUT / "while_loop.tflite").write_bytes(conv.convert())
    if len(sys.argv) > 1:
        with zipfile.ZipFile(sys.argv[1]) as whl:
            name = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
            (OUT / "face_detection_short_range.tflite").write_bytes(whl.read(name))
            lic = next(n for n in whl.namelist() if n.endswith("LICENSE"))
            (OUT / "LICENSE-mediapipe.txt").write_bytes(whl.read(lic))
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
