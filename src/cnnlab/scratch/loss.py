"""Softmax cross-entropy, the usual classification loss, with its gradient."""
from __future__ import annotations

import numpy as np

from cnnlab.errors import ShapeError


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise ``log(softmax(scores))``; subtracting the row maximum first avoids overflow in ``exp``."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss ``-log p[y]`` over the batch and its gradient ``(softmax - one_hot(y)) / N``.

    ``scores`` are raw class scores (logits) ``(N, K)``, ``y`` integer labels ``(N,)``;
    the same as ``torch.nn.functional.cross_entropy``.
    """
    if scores.ndim != 2 or y.shape != (scores.shape[0],):
        raise ShapeError(f"softmax_cross_entropy wants scores (N, K) and labels (N,); got {scores.shape} and {y.shape}")
    n = scores.shape[0]
    log_p = log_softmax(scores)
    loss = -log_p[np.arange(n), y].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1.0
    return float(loss), dscores / n
