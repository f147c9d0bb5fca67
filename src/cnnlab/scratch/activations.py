"""Element-wise non-linearities: ReLU and sigmoid."""
from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max(0, x)``; the cache is the input."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gradient flows where the input was positive (at exactly 0 we pick 0, as torch does)."""
    return dout * (x > 0)


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 / (1 + exp(-x))``, written with ``tanh`` so large ``|x|`` cannot overflow; the cache is the output."""
    out = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out, out


def sigmoid_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``sigma'(x) = sigma(x) * (1 - sigma(x))``, computed from the saved output."""
    return dout * out * (1.0 - out)
