"""Batch normalization, forward and backward, in training and in inference mode.

Training mode normalizes each feature with the mean and (biased) variance of the current
mini-batch, then scales and shifts it: ``out = gamma * (x - mean) / sqrt(var + eps) + beta``.
Inference mode uses running averages of those statistics instead, so one image gets the same
answer whatever batch it is in. The running averages are kept by ``layers.BatchNorm1d`` and ``BatchNorm2d``, with
torch's rule ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance).

Fully connected layers normalize each of the ``D`` features of ``(N, D)``; convolutional layers
normalize each channel over the batch and all positions (``spatial_batchnorm_*``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class BatchNormCache:
    """What the backward pass needs, plus the statistics used (the layer updates its running ones)."""

    x_hat: np.ndarray          # normalized input (N, D)
    gamma: np.ndarray
    inv_std: np.ndarray        # 1 / sqrt(var + eps)
    training: bool             # statistics from the batch (True) or given (False)
    mean: np.ndarray
    var: np.ndarray            # biased batch variance when training
    image_shape: tuple[int, ...] | None = None  # (N, C, H, W) for the spatial version


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, eps: float = 1e-5,
    mean: np.ndarray | None = None, var: np.ndarray | None = None,
) -> tuple[np.ndarray, BatchNormCache]:
    """Normalize ``x (N, D)`` per feature.

    Without ``mean``/``var`` (training) the batch statistics are used; with them (inference) the
    given running statistics are. The cache holds the batch mean and variance for the caller.
    """
    training = mean is None
    if training:
        mean, var = x.mean(axis=0), x.var(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    return out, BatchNormCache(x_hat, gamma, inv_std, training, mean, var)


def batchnorm_backward(dout: np.ndarray, cache: BatchNormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dgamma, dbeta)``.

    In training mode the mean and variance depend on every input too, which adds the two
    correction terms: ``dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))``.
    """
    x_hat, inv_std = cache.x_hat, cache.inv_std
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * cache.gamma
    if cache.training:
        dx = inv_std * (dx_hat - dx_hat.mean(axis=0) - x_hat * (dx_hat * x_hat).mean(axis=0))
    else:
        dx = dx_hat * inv_std
    return dx, dgamma, dbeta


def _channels_last(x: np.ndarray) -> np.ndarray:
    """``(N, C, H, W) -> (N*H*W, C)``: every position of every image is one sample of its channel."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _channels_first(x2d: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n, c, h, w = shape
    return x2d.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def spatial_batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, *, eps: float = 1e-5,
    mean: np.ndarray | None = None, var: np.ndarray | None = None,
) -> tuple[np.ndarray, BatchNormCache]:
    """Batch norm of ``(N, C, H, W)``: one mean and variance per channel (``nn.BatchNorm2d``)."""
    out, cache = batchnorm_forward(_channels_last(x), gamma, beta, eps=eps, mean=mean, var=var)
    return _channels_first(out, x.shape), replace(cache, image_shape=x.shape)


def spatial_batchnorm_backward(
    dout: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dx, dgamma, dbeta = batchnorm_backward(_channels_last(dout), cache)
    return _channels_first(dx, cache.image_shape), dgamma, dbeta
