"""Layer objects around the functional ops, so a network is a list of layers.

Each layer's ``forward(x)`` remembers what its ``backward(dout)`` needs; ``backward`` stores the
gradients of the layer's parameters in ``grads`` (same keys as ``params``) and returns the gradient
of its input. ``training`` switches batch norm and dropout between their two modes.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.scratch.activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from cnnlab.scratch.conv import Pair, conv2d_naive_backward, conv2d_naive_forward, pair
from cnnlab.scratch.dropout import dropout_backward, dropout_forward
from cnnlab.scratch.im2col import conv2d_im2col_backward, conv2d_im2col_forward
from cnnlab.scratch.linear import linear_backward, linear_forward
from cnnlab.scratch.norm import (
    batchnorm_backward, batchnorm_forward, spatial_batchnorm_backward, spatial_batchnorm_forward,
)
from cnnlab.scratch.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward

# name -> (forward, backward); both compute the same convolution
CONV_IMPLEMENTATIONS: dict[str, tuple[Callable, Callable]] = {
    "naive": (conv2d_naive_forward, conv2d_naive_backward),
    "im2col": (conv2d_im2col_forward, conv2d_im2col_backward),
}


def _default_rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng(0) if rng is None else rng


class Layer:
    """Base class: ``params`` and ``grads`` are dicts of arrays with the same keys."""

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"


class _WeightLayer(Layer):
    """A layer ``f(x, w, b)`` given by a functional forward/backward pair (convolution, linear)."""

    def __init__(self, forward_fn: Callable, backward_fn: Callable, w: np.ndarray, bias: bool, **options) -> None:
        super().__init__()
        self._forward_fn, self._backward_fn, self._options = forward_fn, backward_fn, options
        self.params["w"] = w
        if bias:
            self.params["b"] = np.zeros(w.shape[0], dtype=w.dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = self._forward_fn(x, self.params["w"], self.params.get("b"), **self._options)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dw, db = self._backward_fn(dout, self._cache)
        self.grads = {"w": dw} if db is None else {"w": dw, "b": db}
        return dx


def he_normal(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator) -> np.ndarray:
    """He (Kaiming) initialisation, std ``sqrt(2 / fan_in)``: keeps activations' scale through ReLUs."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


class Conv2d(_WeightLayer):
    """Convolution layer; ``impl`` picks the loop ("naive") or matrix ("im2col") version."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | Pair, *, stride: int | Pair = 1,
        padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1, bias: bool = True,
        impl: str = "im2col", rng: np.random.Generator | None = None,
    ) -> None:
        if impl not in CONV_IMPLEMENTATIONS:
            raise ConfigError(f"unknown convolution implementation {impl!r}; "
                              f"choose one of {sorted(CONV_IMPLEMENTATIONS)}")
        kh, kw = pair(kernel_size)
        fan_in = in_channels // groups * kh * kw
        w = he_normal((out_channels, in_channels // groups, kh, kw), fan_in, _default_rng(rng))
        super().__init__(*CONV_IMPLEMENTATIONS[impl], w, bias, stride=stride, padding=padding,
                         dilation=dilation, groups=groups)


class Linear(_WeightLayer):
    """Fully connected layer, weight ``(out_features, in_features)``; flattens image batches."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 rng: np.random.Generator | None = None) -> None:
        w = he_normal((out_features, in_features), in_features, _default_rng(rng))
        super().__init__(linear_forward, linear_backward, w, bias)


class _Functional(Layer):
    """A layer without parameters: ``forward_fn(x, **options) -> (out, cache)``, ``backward_fn(dout, cache)``."""

    forward_fn: Callable
    backward_fn: Callable

    def __init__(self, **options) -> None:
        super().__init__()
        self.options = options

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = self.forward_fn(x, **self.options)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.backward_fn(dout, self._cache)


class ReLU(_Functional):
    forward_fn, backward_fn = staticmethod(relu_forward), staticmethod(relu_backward)


class Sigmoid(_Functional):
    forward_fn, backward_fn = staticmethod(sigmoid_forward), staticmethod(sigmoid_backward)


class _Pool(_Functional):
    def __init__(self, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0) -> None:
        super().__init__(kernel_size=kernel_size, stride=stride, padding=padding)


class MaxPool2d(_Pool):
    forward_fn, backward_fn = staticmethod(max_pool2d_forward), staticmethod(max_pool2d_backward)


class AvgPool2d(_Pool):
    forward_fn, backward_fn = staticmethod(avg_pool2d_forward), staticmethod(avg_pool2d_backward)


class _BatchNorm(Layer):
    """Learns ``gamma`` and ``beta``; keeps running statistics while training, uses them in evaluation."""

    forward_fn: Callable
    backward_fn: Callable

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.params = {"gamma": np.ones(num_features), "beta": np.zeros(num_features)}
        self.running_mean, self.running_var = np.zeros(num_features), np.ones(num_features)

    def forward(self, x: np.ndarray) -> np.ndarray:
        stats = {} if self.training else {"mean": self.running_mean, "var": self.running_var}
        out, self._cache = self.forward_fn(x, self.params["gamma"], self.params["beta"], eps=self.eps, **stats)
        if self.training:
            count = x.size // x.shape[1]  # samples per feature: N, or N*H*W for images
            unbiased = self._cache.var * count / max(count - 1, 1)  # torch keeps the unbiased variance
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * self._cache.mean
            self.running_var = (1 - self.momentum) * self.running_var + self.momentum * unbiased
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dgamma, dbeta = self.backward_fn(dout, self._cache)
        self.grads = {"gamma": dgamma, "beta": dbeta}
        return dx


class BatchNorm1d(_BatchNorm):
    forward_fn, backward_fn = staticmethod(batchnorm_forward), staticmethod(batchnorm_backward)


class BatchNorm2d(_BatchNorm):
    forward_fn, backward_fn = staticmethod(spatial_batchnorm_forward), staticmethod(spatial_batchnorm_backward)


class Dropout(Layer):
    """Inverted dropout: active in training mode only."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        self.p, self.rng = p, _default_rng(rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = dropout_forward(x, self.p, training=self.training, rng=self.rng)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dropout_backward(dout, self._cache)


class Sequential:
    """Layers applied in order; backward visits them in reverse (the chain rule)."""

    def __init__(self, layers: list[Layer]) -> None:
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def train(self, mode: bool = True) -> "Sequential":
        for layer in self.layers:
            layer.training = mode
        return self

    def eval(self) -> "Sequential":
        return self.train(False)

    def parameters(self) -> Iterator[tuple[Layer, str]]:
        """Every ``(layer, name)`` with a parameter ``layer.params[name]``."""
        for layer in self.layers:
            for name in layer.params:
                yield layer, name

    def num_parameters(self) -> int:
        return sum(layer.params[name].size for layer, name in self.parameters())

    def __repr__(self) -> str:
        return "Sequential(\n" + "".join(f"  {layer!r}\n" for layer in self.layers) + ")"
