"""A small ConvNet built only from ``cnnlab.scratch`` layers, and a plain SGD training loop.

    conv 3x3 -> ReLU -> 2x2 max pool -> affine -> ReLU -> affine -> softmax (in the loss)

Everything a framework does for you is spelled out: the forward pass, the loss, the backward pass
through every layer, and the parameter update.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from cnnlab.errors import ConfigError
from cnnlab.scratch.conv import Pair, pair
from cnnlab.scratch.layers import Conv2d, Linear, MaxPool2d, ReLU, Sequential
from cnnlab.scratch.loss import softmax_cross_entropy


def scratch_convnet(
    in_channels: int = 1, image_size: int | Pair = 28, num_classes: int = 10, *, filters: int = 8,
    kernel_size: int = 3, hidden: int = 64, conv_impl: str = "im2col", seed: int = 0,
) -> Sequential:
    """conv (``filters`` maps, same size) -> ReLU -> 2x2 max pool -> ``hidden`` units -> ReLU -> scores."""
    rng = np.random.default_rng(seed)
    height, width = pair(image_size)
    if height < 2 or width < 2:
        raise ConfigError(f"image_size must be at least 2x2 for the 2x2 pooling, got {image_size}")
    flat = filters * (height // 2) * (width // 2)
    head = Linear(hidden, num_classes, rng=rng)
    head.params["w"] *= 0.01  # near-equal scores at first, so the initial loss is about ln(num_classes)
    return Sequential([
        Conv2d(in_channels, filters, kernel_size, padding=kernel_size // 2, impl=conv_impl, rng=rng),  # (N, F, H, W)
        ReLU(),
        MaxPool2d(2),                                                   # (N, F, H/2, W/2)
        Linear(flat, hidden, rng=rng),                                  # (N, hidden)
        ReLU(),
        head,                                                           # (N, K) class scores
    ])


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum: ``v = m*v - lr*g; p += v``."""

    def __init__(self, model: Sequential, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        if lr <= 0 or not 0 <= momentum < 1:
            raise ConfigError(f"SGD needs lr > 0 and 0 <= momentum < 1, got lr={lr}, momentum={momentum}")
        self.model, self.lr, self.momentum, self.weight_decay = model, lr, momentum, weight_decay
        self.velocity = {(id(layer), name): np.zeros_like(layer.params[name]) for layer, name in model.parameters()}

    def step(self) -> None:
        for layer, name in self.model.parameters():
            param = layer.params[name]
            grad = layer.grads[name] + self.weight_decay * param
            v = self.velocity[id(layer), name]
            v *= self.momentum
            v -= self.lr * grad
            param += v  # in place: the layer sees the new value


def train_step(model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One mini-batch: forward, loss, backward, update. Returns (loss, accuracy) on the batch."""
    scores = model.forward(x)
    loss, dscores = softmax_cross_entropy(scores, y)
    model.backward(dscores)
    optimizer.step()
    return loss, float((scores.argmax(axis=1) == y).mean())


def train_epoch(
    model: Sequential, optimizer: SGD, x: np.ndarray, y: np.ndarray, *, batch_size: int, rng: np.random.Generator
) -> tuple[float, float]:
    """One pass over ``(x, y)`` in shuffled mini-batches; mean loss and accuracy over the batches."""
    model.train()
    order = rng.permutation(len(x))
    batches = [order[i:i + batch_size] for i in range(0, len(x), batch_size)]
    results = np.array([train_step(model, optimizer, x[b], y[b]) for b in batches])  # (batches, 2)
    loss, acc = np.average(results, axis=0, weights=[len(b) for b in batches])
    return float(loss), float(acc)


def predict(model: Sequential, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted labels, in evaluation mode."""
    model.eval()
    labels = [model.forward(x[i:i + batch_size]).argmax(axis=1) for i in range(0, len(x), batch_size)]
    return np.concatenate(labels) if labels else np.empty(0, dtype=np.intp)


def accuracy(model: Sequential, x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> float:
    return float((predict(model, x, batch_size) == y).mean())


@dataclass
class EpochStats:
    epoch: int
    train_loss: float     # mean over the epoch's batches
    train_acc: float      # on the batches as they were trained
    val_acc: float | None
    seconds: float


def fit(
    model: Sequential, x: np.ndarray, y: np.ndarray, *, epochs: int = 1, batch_size: int = 32,
    lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0, seed: int = 0,
    x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> list[EpochStats]:
    """Train with mini-batch SGD for ``epochs`` passes over ``(x, y)``, shuffling with ``seed``.

    BLAS runs on one thread: this network's matrices are small, and extra threads spend more time
    waiting for each other than computing (several times slower on a busy machine).
    """
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"epochs and batch_size must be at least 1, got {epochs} and {batch_size}")
    optimizer = SGD(model, lr=lr, momentum=momentum, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    history = []
    with threadpool_limits(limits=1, user_api="blas"):
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            loss, acc = train_epoch(model, optimizer, x, y, batch_size=batch_size, rng=rng)
            val_acc = accuracy(model, x_val, y_val) if x_val is not None else None
            history.append(EpochStats(epoch, loss, acc, val_acc, time.perf_counter() - start))
            if on_epoch is not None:
                on_epoch(history[-1])
    return history
