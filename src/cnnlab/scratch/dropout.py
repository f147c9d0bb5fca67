"""Inverted dropout: zero each activation with probability ``p`` during training only.

The survivors are divided by ``1 - p`` while training, so the expected value of every activation
is unchanged and evaluation needs no rescaling: in evaluation mode dropout is the identity.
"""
from __future__ import annotations

import numpy as np

from cnnlab.errors import ConfigError


def dropout_forward(
    x: np.ndarray, p: float, *, training: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns ``(out, mask)``; the mask holds ``0`` or ``1 / (1 - p)`` (``None`` in evaluation)."""
    if not 0.0 <= p < 1.0:
        raise ConfigError(f"dropout probability must be in [0, 1), got {p}")
    if not training:
        return x, None
    mask = (rng.random(x.shape) >= p) / (1.0 - p)
    return x * mask, mask


def dropout_backward(dout: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Dropped units pass no gradient; kept ones pass it scaled like their value."""
    return dout if mask is None else dout * mask
