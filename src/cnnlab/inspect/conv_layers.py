"""Finding a model's convolution layers generically, by type and by the order they run.

Every visualization names layers by their `named_modules` path (``"features.0"``,
``"layer4.1.conv2"``); nothing here looks at which architecture the model is.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from cnnlab.errors import ConfigError

ConvLayer = nn.Conv2d  # subclasses (weight-standardized, ...) count too


def conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """The model's 2-D convolutions by module path, in registration order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, ConvLayer)}


def require_conv_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """`conv_layers`, or a ConfigError when the model has none (e.g. the linear classifier)."""
    layers = conv_layers(model)
    if not layers:
        raise ConfigError(
            f"{type(model).__name__} has no convolution layers to visualize: use a CNN run "
            "(for the linear classifier, `cnnlab viz templates` shows what it learned)"
        )
    return layers


def resolve_conv_layer(model: nn.Module, name: str) -> nn.Conv2d:
    """The conv layer called ``name``, or a ConfigError listing the valid names."""
    layers = require_conv_layers(model)
    if name not in layers:
        raise ConfigError(f"no conv layer named {name!r}; the conv layers are: {', '.join(layers)}")
    return layers[name]


@contextmanager
def forward_hooks(modules: dict[str, nn.Module], hook: Callable[[str, torch.Tensor], None]) -> Iterator[None]:
    """Call ``hook(name, output)`` whenever one of ``modules`` runs; hooks are removed on exit."""

    def make(name: str) -> Callable[[nn.Module, object, torch.Tensor], None]:
        def on_forward(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
            hook(name, output)  # returns None: a hook that returns a value would replace the output

        return on_forward

    handles = [m.register_forward_hook(make(name)) for name, m in modules.items()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def execution_order(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    """Conv layer names in the order a forward pass on ``x`` runs them, with their output shapes.

    Registration order can differ from execution order (a residual block may register its
    shortcut conv last), so "the last conv layer" is found by running the model.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    with forward_hooks(require_conv_layers(model), lambda name, out: shapes.setdefault(name, tuple(out.shape))):
        with torch.no_grad():
            model(x)
    return shapes


def last_conv_layer(model: nn.Module, x: torch.Tensor) -> str:
    """Grad-CAM's default layer: the last conv layer to run whose output still has a spatial
    layout (more than 1x1); the last one of all if every output is 1x1.
    """
    shapes = execution_order(model, x)
    spatial = [name for name, shape in shapes.items() if shape[-1] * shape[-2] > 1]
    return (spatial or list(shapes))[-1]
