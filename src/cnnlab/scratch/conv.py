"""Convolution by hand: the one-channel cross-correlation and the full multi-channel layer.

Deep-learning "convolution" is a cross-correlation: the kernel slides over the input without being
flipped, and each output element is the sum of the element-wise products of the kernel and the
window under it. Shapes follow torch: input ``(N, C, H, W)``, weight ``(O, C // groups, kh, kw)``,
bias ``(O,)``, output ``(N, O, H_out, W_out)`` with

    H_out = (H + 2 * pad - dilation * (kh - 1) - 1) // stride + 1.

Every op returns ``(out, cache)``; its ``*_backward(dout, cache)`` returns the gradients.
This file holds the loop versions, written to be read; ``im2col.py`` has the fast version.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from cnnlab.errors import ShapeError

Pair = tuple[int, int]


def pair(value: int | tuple[int, int]) -> Pair:
    """``3 -> (3, 3)``; a pair stays a pair (height first, then width)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length along one axis; raises ShapeError when the (dilated) kernel does not fit."""
    span = dilation * (kernel - 1) + 1  # how many input pixels a dilated kernel covers
    if size + 2 * padding < span:
        raise ShapeError(
            f"kernel covers {span} pixels but the input is only {size} (+2x{padding} padding): "
            "use a smaller kernel or more padding"
        )
    return (size + 2 * padding - span) // stride + 1


def pad2d(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes of ``(N, C, H, W)`` with ``value``."""
    ph, pw = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def unpad2d(xp: np.ndarray, padding: Pair) -> np.ndarray:
    """Undo ``pad2d``: in a backward pass, the gradient that reached the padding is thrown away."""
    ph, pw = padding
    return xp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw]


# --------------------------------------------------------------------------------------------
# corr2d: one channel, no stride or padding (the course's first example)


def corr2d(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """2-D cross-correlation of one channel: ``y[i, j] = sum(x[i:i+kh, j:j+kw] * k)``."""
    kh, kw = k.shape
    y = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1), dtype=np.result_type(x, k))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            y[i, j] = np.sum(x[i:i + kh, j:j + kw] * k)
    return y


def corr2d_backward(dy: np.ndarray, x: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of corr2d: each ``y[i, j]`` sends ``dy[i, j] * k`` to its window and ``dy[i, j] * window`` to k."""
    kh, kw = k.shape
    dx = np.zeros_like(x, dtype=np.result_type(x, k, dy))
    dk = np.zeros_like(k, dtype=dx.dtype)
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            dx[i:i + kh, j:j + kw] += dy[i, j] * k
            dk += dy[i, j] * x[i:i + kh, j:j + kw]
    return dx, dk


# --------------------------------------------------------------------------------------------
# The full layer: channels, stride, padding, dilation, groups


@dataclass(frozen=True)
class ConvGeometry:
    """Hyper-parameters of one convolution call, and the output size they give."""

    stride: Pair
    padding: Pair
    dilation: Pair
    groups: int
    out_hw: Pair

    def window(self, i: int, j: int, kernel: Pair) -> tuple[slice, slice]:
        """Rows and columns of the padded input that output pixel ``(i, j)`` looks at."""
        (sh, sw), (dh, dw), (kh, kw) = self.stride, self.dilation, kernel
        return (slice(i * sh, i * sh + dh * (kh - 1) + 1, dh), slice(j * sw, j * sw + dw * (kw - 1) + 1, dw))


def conv_geometry(
    x: np.ndarray, w: np.ndarray, stride: int | Pair = 1, padding: int | Pair = 0,
    dilation: int | Pair = 1, groups: int = 1,
) -> ConvGeometry:
    """Check that input and weight fit together and work out the output size."""
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"conv2d wants x (N, C, H, W) and w (O, C/groups, kh, kw); got {x.shape} and {w.shape}")
    channels, out_channels = x.shape[1], w.shape[0]
    if channels % groups or out_channels % groups:
        raise ShapeError(f"groups={groups} must divide both in_channels={channels} and out_channels={out_channels}")
    if w.shape[1] != channels // groups:
        raise ShapeError(f"weight has {w.shape[1]} input channels per filter, expected {channels} / {groups}")
    stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
    out_hw = tuple(
        output_size(x.shape[2 + a], w.shape[2 + a], stride[a], padding[a], dilation[a]) for a in range(2)
    )
    return ConvGeometry(stride, padding, dilation, groups, out_hw)


def _positions(
    n_images: int, w: np.ndarray, geo: ConvGeometry
) -> Iterator[tuple[int, int, int, int, slice, slice, slice]]:
    """Every (image, filter, output row, output column), with the input channels, rows and columns it reads.

    Filter ``o`` belongs to group ``g = o // (O / groups)`` and only sees that group's input channels.
    """
    c_per_group, o_per_group = w.shape[1], w.shape[0] // geo.groups
    for n in range(n_images):
        for o in range(w.shape[0]):
            g = o // o_per_group
            channels = slice(g * c_per_group, (g + 1) * c_per_group)
            for i in range(geo.out_hw[0]):
                for j in range(geo.out_hw[1]):
                    yield (n, o, i, j, channels, *geo.window(i, j, w.shape[2:]))


def conv2d_naive_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, stride: int | Pair = 1,
    padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """Convolution with explicit loops: each output element is ``sum(window * filter)``."""
    geo = conv_geometry(x, w, stride, padding, dilation, groups)
    xp = pad2d(x, geo.padding)
    out = np.zeros((x.shape[0], w.shape[0], *geo.out_hw), dtype=np.result_type(x, w))
    for n, o, i, j, channels, rows, cols in _positions(x.shape[0], w, geo):
        out[n, o, i, j] = np.sum(xp[n, channels, rows, cols] * w[o])
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out, (x, w, b, geo)


def conv2d_naive_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients ``(dx, dw, db)``: every window the forward pass read gets ``dout * filter`` back,
    and every filter gets ``dout * window``."""
    x, w, b, geo = cache
    xp = pad2d(x, geo.padding)
    dxp = np.zeros_like(xp, dtype=np.result_type(xp, dout))
    dw = np.zeros_like(w, dtype=dxp.dtype)
    for n, o, i, j, channels, rows, cols in _positions(x.shape[0], w, geo):
        dxp[n, channels, rows, cols] += dout[n, o, i, j] * w[o]
        dw[o] += dout[n, o, i, j] * xp[n, channels, rows, cols]
    dx = unpad2d(dxp, geo.padding)
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db
