"""Keras zoo members: keras.applications with ``weights=None`` (nothing downloaded), small
inputs so building and saving stay quick; the architecture is the published one."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")  # must precede the first keras import


def _app(name: str, size: int, **kw: Any) -> Callable[[], Any]:
    def build() -> Any:
        import keras

        keras.utils.set_random_seed(0)
        return getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3),
                                                 **kw)
    return build


BUILDERS: dict[str, Callable[[], Any]] = {
    "keras_resnet50": _app("ResNet50", 64),
    "keras_mobilenet_v2": _app("MobileNetV2", 96),
    "keras_densenet121": _app("DenseNet121", 64),
}


def build(name: str) -> Any:
    return BUILDERS[name]()
