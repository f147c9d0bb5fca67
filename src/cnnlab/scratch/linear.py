"""Fully connected (affine) layer: ``out = x @ w.T + b`` with torch's weight layout ``(out, in)``.

An image batch ``(N, C, H, W)`` is flattened to ``(N, C*H*W)`` first.
"""
from __future__ import annotations

import numpy as np


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    x2d = x.reshape(x.shape[0], -1)  # (N, D)
    out = x2d @ w.T                  # (N, M)
    if b is not None:
        out = out + b
    return out, (x, w, b)


def linear_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``dx = dout @ w`` (reshaped like x), ``dw = dout^T @ x``, ``db = sum of dout over the batch``."""
    x, w, b = cache
    dx = (dout @ w).reshape(x.shape)
    dw = dout.T @ x.reshape(x.shape[0], -1)
    db = None if b is None else dout.sum(axis=0)
    return dx, dw, db
