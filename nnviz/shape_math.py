"""Output sizes of convolutions and poolings: the one home of this arithmetic, used by the
loaders that infer shapes while reading (Keras) and by the shapes pass."""

from __future__ import annotations

import math

Dim = int | str | None


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The span a dilated kernel covers."""
    return dilation * (kernel - 1) + 1


def conv_out(size: Dim, kernel: int, stride: int, dilation: int = 1, pad_begin: int = 0,
             pad_end: int = 0, ceil: bool = False) -> int | None:
    """One spatial size after a convolution or pooling with explicit pads; None when the
    size is unknown or the window does not fit once."""
    if not _known(size):
        return None
    num = size + pad_begin + pad_end - effective_kernel(kernel, dilation)
    if num < 0:
        return None
    return (math.ceil(num / stride) if ceil else num // stride) + 1


def same_out(size: Dim, stride: int) -> int | None:
    """One spatial size after a 'same'-padded convolution or pooling."""
    if not _known(size):
        return None
    return math.ceil(size / stride)


def conv_transpose_out(size: Dim, kernel: int, stride: int, dilation: int = 1,
                       pad_begin: int = 0, pad_end: int = 0,
                       output_padding: int = 0) -> int | None:
    """One spatial size after a transposed convolution with explicit pads."""
    if not _known(size):
        return None
    return (size - 1) * stride - pad_begin - pad_end + effective_kernel(kernel, dilation) \
        + output_padding


def _known(size: Dim) -> bool:
    return isinstance(size, int) and not isinstance(size, bool) and size >= 0
