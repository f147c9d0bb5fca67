"""Convolution as one matrix multiplication ("im2col").

``im2col`` copies every window the kernel visits into a column: for an input ``(N, C, H, W)`` and a
``kh x kw`` kernel it builds ``cols`` of shape ``(N, C*kh*kw, H_out*W_out)``. The convolution is then
``w.reshape(O, C*kh*kw) @ cols`` - one big matrix product that BLAS computes far faster than the
Python loops of ``conv.py``. The backward pass is two more products plus ``col2im``, which adds each
column back onto the pixels it came from.

The columns are filled one kernel offset ``(ki, kj)`` at a time: for a fixed offset, the pixels
all output positions read form one strided slice of the padded input, so only ``kh*kw`` slices are
copied instead of ``H_out*W_out`` windows.
"""
from __future__ import annotations

import numpy as np

from cnnlab.scratch.conv import ConvGeometry, Pair, conv_geometry, pad2d, unpad2d


def _offset_slices(ki: int, kj: int, geo: ConvGeometry) -> tuple[slice, slice]:
    """The pixels of the padded input that kernel entry ``(ki, kj)`` meets, over all output positions."""
    (sh, sw), (dh, dw), (oh, ow) = geo.stride, geo.dilation, geo.out_hw
    return (slice(ki * dh, ki * dh + sh * (oh - 1) + 1, sh), slice(kj * dw, kj * dw + sw * (ow - 1) + 1, sw))


def im2col(xp: np.ndarray, kernel: Pair, geo: ConvGeometry) -> np.ndarray:
    """Windows of the padded input ``xp (N, C, Hp, Wp)`` as columns: ``(N, C*kh*kw, H_out*W_out)``."""
    n_images, channels = xp.shape[:2]
    kh, kw = kernel
    cols = np.empty((n_images, channels, kh, kw, *geo.out_hw), dtype=xp.dtype)
    for ki in range(kh):
        for kj in range(kw):
            cols[:, :, ki, kj] = xp[(slice(None), slice(None), *_offset_slices(ki, kj, geo))]
    return cols.reshape(n_images, channels * kh * kw, -1)


def col2im(cols: np.ndarray, padded_shape: tuple[int, ...], kernel: Pair, geo: ConvGeometry) -> np.ndarray:
    """The adjoint of ``im2col``: add every column entry back onto the padded pixel it was copied from.

    ``cols`` may have any shape that reshapes to ``(N, C, kh, kw, H_out, W_out)``.
    """
    n_images, channels = padded_shape[:2]
    kh, kw = kernel
    cols = cols.reshape(n_images, channels, kh, kw, *geo.out_hw)
    xp = np.zeros(padded_shape, dtype=cols.dtype)
    for ki in range(kh):
        for kj in range(kw):
            # Within one offset the slice has no repeated pixels, so += is safe; overlaps between
            # windows are summed across the loop iterations.
            xp[(slice(None), slice(None), *_offset_slices(ki, kj, geo))] += cols[:, :, ki, kj]
    return xp


def conv2d_im2col_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, stride: int | Pair = 1,
    padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1,
) -> tuple[np.ndarray, tuple]:
    """Same result as ``conv2d_naive_forward``, computed as a (grouped) matrix product."""
    geo = conv_geometry(x, w, stride, padding, dilation, groups)
    n_images, out_channels = x.shape[0], w.shape[0]
    xp = pad2d(x, geo.padding)
    cols = im2col(xp, w.shape[2:], geo)                               # (N, C*kh*kw, L)
    # Group g's rows are contiguous because channels are the slowest-varying index of a column.
    cols_g = cols.reshape(n_images, groups, -1, cols.shape[-1])       # (N, G, C/G*kh*kw, L)
    w_g = w.reshape(groups, out_channels // groups, -1)               # (G, O/G, C/G*kh*kw)
    out = (w_g @ cols_g).reshape(n_images, out_channels, *geo.out_hw)  # (N, O, H_out, W_out)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out, (x.shape, xp.shape, cols_g, w, b, geo)


def conv2d_im2col_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients ``(dx, dw, db)`` of ``out = w @ cols + b``: ``dw = dout @ cols^T``, ``dcols = w^T @ dout``."""
    x_shape, padded_shape, cols_g, w, b, geo = cache
    n_images, out_channels, groups = x_shape[0], w.shape[0], geo.groups
    dout_g = dout.reshape(n_images, groups, out_channels // groups, -1)      # (N, G, O/G, L)
    w_g = w.reshape(groups, out_channels // groups, -1)                      # (G, O/G, K)
    dw = (dout_g @ cols_g.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
    dcols = w_g.transpose(0, 2, 1) @ dout_g                                  # (N, G, K, L)
    dxp = col2im(dcols.reshape(n_images, -1, dcols.shape[-1]), padded_shape, w.shape[2:], geo)
    dx = unpad2d(dxp, geo.padding)
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db
