"""Output shapes inferred from layer configs (no keras) agree with keras's compute_output_shape.

These rules matter where keras does not store shapes: model outputs, Sequential models and
Keras 2 files. Each case is checked against keras itself on the torch backend.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # must precede the first keras import

import pytest  # noqa: E402

from nnviz.loaders.keras_shapes import infer  # noqa: E402

keras = pytest.importorskip("keras", reason="checking against keras needs keras")
L = keras.layers

CASES = [
    (lambda: L.Conv2D(5, 3, strides=2, padding="same"), (None, 17, 17, 3)),
    (lambda: L.Conv2D(5, (3, 5), strides=(2, 1), padding="valid",
                   data_format="channels_first"), (None, 3, 17, 19)),
    (lambda: L.Conv1D(4, 3, padding="causal", dilation_rate=2), (None, 20, 3)),
    (lambda: L.Conv3D(2, 3, strides=2), (None, 9, 9, 9, 1)),
    (lambda: L.Conv2DTranspose(3, 3, strides=2, padding="same"), (None, 7, 7, 4)),
    (lambda: L.Conv2DTranspose(3, 4, strides=3, padding="valid"), (None, 7, 7, 4)),
    (lambda: L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1), (None, 7, 7, 4)),
    (lambda: L.Conv1DTranspose(3, 5, strides=2), (None, 11, 2)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2, strides=2), (None, 15, 15, 4)),
    (lambda: L.SeparableConv1D(6, 3, padding="same"), (None, 12, 4)),
    (lambda: L.MaxPooling2D(3, strides=2, padding="same"), (None, 15, 15, 4)),
    (lambda: L.AveragePooling1D(4), (None, 17, 2)),
    (lambda: L.MaxPooling3D(2), (None, 6, 7, 8, 2)),
    (lambda: L.GlobalAveragePooling1D(), (None, 9, 4)),
    (lambda: L.GlobalMaxPooling2D(keepdims=True), (None, 5, 5, 3)),
    (lambda: L.GlobalAveragePooling3D(data_format="channels_first"), (None, 3, 4, 4, 4)),
    (lambda: L.ZeroPadding2D(((1, 2), (3, 4))), (None, 5, 5, 3)),
    (lambda: L.ZeroPadding1D(3), (None, 5, 3)),
    (lambda: L.Cropping2D(((1, 0), (2, 2))), (None, 8, 9, 3)),
    (lambda: L.Cropping1D((1, 2)), (None, 8, 3)),
    (lambda: L.UpSampling2D((2, 3)), (None, 4, 5, 3)),
    (lambda: L.UpSampling1D(3), (None, 4, 2)),
    (lambda: L.Flatten(), (None, 3, 4, 5)),
    (lambda: L.Reshape((-1, 4)), (None, 6, 2)),
    (lambda: L.Permute((3, 1, 2)), (None, 2, 3, 4)),
    (lambda: L.RepeatVector(4), (None, 6)),
    (lambda: L.Dense(7), (None, 3, 5)),
    (lambda: L.EinsumDense("abc,cd->abd", output_shape=(None, 9)), (None, 4, 5)),
    (lambda: L.Embedding(50, 6), (None, 12)),
    (lambda: L.LSTM(5), (None, 7, 3)),
    (lambda: L.GRU(5, return_sequences=True), (None, 7, 3)),
    (lambda: L.SimpleRNN(5, return_sequences=True), (None, 7, 3)),
    (lambda: L.Bidirectional(L.LSTM(5, return_sequences=True)), (None, 7, 3)),
    (lambda: L.Bidirectional(L.GRU(5), merge_mode="sum"), (None, 7, 3)),
    (lambda: L.TimeDistributed(L.Dense(3)), (None, 5, 8)),
    (lambda: L.TimeDistributed(L.Conv2D(2, 3)), (None, 5, 8, 8, 1)),
    (lambda: L.BatchNormalization(), (None, 4, 4, 3)),
    (lambda: L.LayerNormalization(), (None, 4, 3)),
    (lambda: L.Activation("gelu"), (None, 4, 3)),
    (lambda: L.Dropout(0.3), (None, 4, 3)),
    (lambda: L.Resizing(10, 12), (None, 4, 5, 3)),
    (lambda: L.CenterCrop(2, 3), (None, 4, 5, 3)),
    (lambda: L.Rescaling(0.5), (None, 4, 5, 3)),
]
MULTI = [
    (lambda: L.Concatenate(axis=1), [(None, 3, 4), (None, 5, 4)]),
    (lambda: L.Add(), [(None, 3, 4), (None, 3, 4)]),
    (lambda: L.Multiply(), [(None, 1, 1, 8), (None, 5, 5, 8)]),
    (lambda: L.Dot(axes=1), [(None, 6), (None, 6)]),
    (lambda: L.MultiHeadAttention(2, 4), [(None, 5, 8), (None, 7, 8)]),
    (lambda: L.Attention(), [(None, 5, 8), (None, 7, 8)]),
]


@pytest.mark.parametrize(("make", "shape"), CASES, ids=[
    f"{i}-{shape}" for i, (_, shape) in enumerate(CASES)])
def test_single_input_layers(make, shape):
    layer = make()
    expected = tuple(layer.compute_output_shape(shape))
    ours = infer(type(layer).__name__, layer.get_config(), [shape])
    assert ours is not None and ours[0] == expected


@pytest.mark.parametrize(("make", "shapes"), MULTI)
def test_multi_input_layers(make, shapes):
    layer = make()
    if isinstance(layer, L.MultiHeadAttention):
        layer.build(shapes[0], shapes[1])
        expected = tuple(layer.compute_output_shape(shapes[0], shapes[1]))
    else:
        expected = tuple(layer.compute_output_shape(shapes))
    ours = infer(type(layer).__name__, layer.get_config(), shapes)
    assert ours is not None and ours[0] == expected


def test_unknown_stays_unknown():
    assert infer("Lambda", {}, [(None, 3)]) is None
    assert infer("MyCustomLayer", {"units": 4}, [(None, 3)]) is None
    assert infer("Dense", {"units": 4}, [None]) is None
    assert infer("Conv2D", {"filters": 4, "kernel_size": 3}, [(None, 5)]) == [None]
    # Unknown spatial sizes stay unknown through convs; the channel count is still known.
    assert infer("Conv2D", {"filters": 4, "kernel_size": 3}, [(None, None, None, 3)]) == \
        [(None, None, None, 4)]
