"""Build the small Keras example model and draw it: examples/keras_resnet_mini.{keras,svg}.

    KERAS_BACKEND=torch python examples/make_keras_examples.py

The model is a tiny ResNet: a stem, two residual blocks saved as nested functional models
(drawn as frames), a classifier and an auxiliary head (two outputs). nnviz reads the saved
.keras file as data; keras is only needed to build it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from keras import layers as L  # noqa: E402

import nnviz  # noqa: E402

HERE = Path(__file__).resolve().parent


def residual_block(channels: int, in_channels: int, stride: int, name: str) -> keras.Model:
    """conv-bn-relu-conv-bn plus a (projected) shortcut, as its own functional model."""
    x = keras.Input((None, None, in_channels), name=f"{name}_in")
    y = L.Conv2D(channels, 3, strides=stride, padding="same", use_bias=False, name="conv1")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.ReLU(name="relu1")(y)
    y = L.Conv2D(channels, 3, padding="same", use_bias=False, name="conv2")(y)
    y = L.BatchNormalization(name="bn2")(y)
    shortcut = x
    if stride != 1 or channels != in_channels:
        shortcut = L.Conv2D(channels, 1, strides=stride, use_bias=False, name="proj")(x)
        shortcut = L.BatchNormalization(name="proj_bn")(shortcut)
    out = L.ReLU(name="relu2")(L.Add(name="add")([y, shortcut]))
    return keras.Model(x, out, name=name)


def build() -> keras.Model:
    image = keras.Input((32, 32, 3), name="image")
    x = L.Rescaling(1 / 255, name="rescale")(image)
    x = L.Conv2D(16, 3, padding="same", use_bias=False, name="stem_conv")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    x = residual_block(16, 16, 1, "block1")(x)
    aux = L.Dense(10, activation="softmax", name="aux_classes")(
        L.GlobalAveragePooling2D(name="aux_pool")(x))
    x = residual_block(32, 16, 2, "block2")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dropout(0.2, name="dropout")(x)
    classes = L.Dense(10, activation="softmax", name="classes")(x)
    return keras.Model(image, [classes, aux], name="resnet_mini")


def main() -> None:
    keras.utils.set_random_seed(0)  # same weights on every run (only the save date differs)
    model = build()
    model_path = HERE / "keras_resnet_mini.keras"
    model.save(model_path)
    drawing = nnviz.draw(model_path, HERE / "keras_resnet_mini.svg")
    graph = drawing.graph
    print(f"{model_path.name}: {len(graph.nodes)} nodes, {graph.total_params:,} params "
          f"(keras count_params: {model.count_params():,})")


if __name__ == "__main__":
    main()
