"""Max and average pooling, forward and backward.

Pooling slides a ``k x k`` window like a convolution but has no weights: it keeps the largest value
(max) or the mean (average) of each window, channel by channel, so ``#out channels = #in channels``.
It reads exactly the windows a convolution would, so it reuses ``im2col``: with the columns viewed
as ``(N, C, kh*kw, H_out, W_out)``, pooling is a max or a mean over axis 2, and the backward pass
puts each window's gradient into its column and lets ``col2im`` add the columns back.

Padding follows torch: max pooling pads with -inf (padding never wins), average pooling pads with
zeros that count in the mean (``count_include_pad=True``).
"""
from __future__ import annotations

import numpy as np

from cnnlab.errors import ShapeError
from cnnlab.scratch.conv import ConvGeometry, Pair, output_size, pad2d, pair, unpad2d
from cnnlab.scratch.im2col import col2im, im2col


def pool_geometry(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> ConvGeometry:
    """Check the input and work out the output size of a pooling window."""
    if x.ndim != 4:
        raise ShapeError(f"pooling wants x of shape (N, C, H, W), got {x.shape}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ShapeError(f"pooling padding {padding} must be at most half the window {kernel}")
    out_hw = tuple(output_size(x.shape[2 + a], kernel[a], stride[a], padding[a]) for a in range(2))
    return ConvGeometry(stride, padding, (1, 1), 1, out_hw)


def _windows(x: np.ndarray, kernel_size: int | Pair, stride: int | Pair | None, padding: int | Pair,
             pad_value: float) -> tuple[np.ndarray, tuple]:
    """Every window of ``x`` as ``(N, C, kh*kw, H_out, W_out)``, and what the backward pass needs."""
    kernel = pair(kernel_size)
    stride = kernel if stride is None else pair(stride)  # torch's default: stride = window size
    geo = pool_geometry(x, kernel, stride, pair(padding))
    xp = pad2d(x, geo.padding, value=pad_value)
    windows = im2col(xp, kernel, geo).reshape(*x.shape[:2], kernel[0] * kernel[1], *geo.out_hw)
    return windows, (xp.shape, kernel, geo)


def _add_back(dwindows: np.ndarray, geometry: tuple) -> np.ndarray:
    """Gradient per window entry ``(N, C, kh*kw, H_out, W_out)`` -> gradient of the input."""
    padded_shape, kernel, geo = geometry
    return unpad2d(col2im(dwindows, padded_shape, kernel, geo), geo.padding)


def max_pool2d_forward(
    x: np.ndarray, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> tuple[np.ndarray, tuple]:
    """Largest value of each window; remembers where it was for the backward pass."""
    windows, geometry = _windows(x, kernel_size, stride, padding, pad_value=-np.inf)
    argmax = windows.argmax(axis=2)  # position of the maximum in its window; the first one on ties, like torch
    out = np.take_along_axis(windows, argmax[:, :, None], axis=2)[:, :, 0]
    return out, (argmax, windows.shape, geometry)


def max_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Only the maximum of each window influenced the output, so only it receives gradient."""
    argmax, windows_shape, geometry = cache
    dwindows = np.zeros(windows_shape, dtype=dout.dtype)
    np.put_along_axis(dwindows, argmax[:, :, None], dout[:, :, None], axis=2)
    return _add_back(dwindows, geometry)


def avg_pool2d_forward(
    x: np.ndarray, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0
) -> tuple[np.ndarray, tuple]:
    """Mean of each window (zero padding counts in the mean, as in torch's default)."""
    windows, geometry = _windows(x, kernel_size, stride, padding, pad_value=0.0)
    return windows.mean(axis=2), (windows.shape, geometry)


def avg_pool2d_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Each of the ``kh*kw`` pixels of a window gets an equal share of the window's gradient."""
    windows_shape, geometry = cache
    dwindows = np.broadcast_to(dout[:, :, None] / windows_shape[2], windows_shape)
    return _add_back(dwindows, geometry)
