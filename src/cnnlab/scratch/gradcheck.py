"""Gradient checking: compare an analytic gradient with a centred finite difference.

The centred difference ``(f(x + h) - f(x - h)) / 2h`` has an error of order ``h**2``, so with
``h = 1e-5`` in float64 it agrees with a correct backward pass to about ten digits (away from kinks
such as ReLU at 0 or ties in a max). Use float64 inputs: in float32 the rounding error of ``f``
divided by ``2h`` swamps the result.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_H = 1e-5


def rel_error(x: np.ndarray, y: np.ndarray) -> float:
    """Largest element-wise relative error ``|x - y| / max(1e-8, |x| + |y|)``.

    The 1e-8 floor keeps two near-zero entries (say 1e-12 and 3e-12) from counting as a big error.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)), initial=0.0))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = DEFAULT_H) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by centred differences, one entry at a time.

    ``x`` is modified in place while probing and restored afterwards.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = f(x)
        x[idx] = old - h
        f_minus = f(x)
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = DEFAULT_H
) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x``: what a backward pass receiving ``dout`` returns."""
    return numerical_gradient(lambda v: float(np.sum(f(v) * dout)), x, h)
