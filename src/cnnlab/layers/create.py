"""Layer classes by name: small tables so that CLI/config strings become layer classes.

Model constructors take layer *classes* (``norm_layer=nn.BatchNorm2d``, ``act_layer=nn.ReLU``) or
these names; `get_act_layer` / `get_norm_layer` turn either into a callable that builds the layer.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.layers.gelu import GELU

LayerFactory = Callable[..., nn.Module]


def group_norm(num_channels: int, **kwargs) -> nn.GroupNorm:
    """GroupNorm with 32 groups (fewer when the channel count is not a multiple of 32)."""
    groups = next(g for g in (32, 16, 8, 4, 2, 1) if num_channels % g == 0)
    return nn.GroupNorm(groups, num_channels, **kwargs)


ACT_LAYERS: dict[str, LayerFactory] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": GELU,                      # nn.GELU, faster on channels-last CPU tensors
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}

NORM_LAYERS: dict[str, LayerFactory] = {
    "batchnorm": nn.BatchNorm2d,
    "groupnorm": group_norm,
    "instancenorm": nn.InstanceNorm2d,
    "identity": nn.Identity,
}


def _lookup(kind: str, table: dict[str, LayerFactory], layer: str | LayerFactory) -> LayerFactory:
    if not isinstance(layer, str):
        return layer
    try:
        return table[layer.lower()]
    except KeyError:
        raise ConfigError(f"unknown {kind} layer {layer!r}; choose one of: {', '.join(table)}") from None


def get_act_layer(layer: str | LayerFactory) -> LayerFactory:
    """An activation class from a class or a name such as ``"relu"``."""
    return _lookup("activation", ACT_LAYERS, layer)


def get_norm_layer(layer: str | LayerFactory) -> LayerFactory:
    """A normalization class from a class or a name such as ``"batchnorm"``."""
    return _lookup("normalization", NORM_LAYERS, layer)


def make_act(act_layer: LayerFactory) -> nn.Module:
    """An in-place activation where the class supports it (saves memory like torchvision's)."""
    try:
        return act_layer(inplace=True)
    except TypeError:
        return act_layer()
