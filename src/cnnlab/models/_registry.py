"""The model registry: every architecture variant is registered by name, built by `create_model`.

Family files decorate a small public builder per variant::

    @register_model
    def resnet18(**kwargs) -> ResNet:
        return _resnet(BasicBlock, (2, 2, 2, 2), **kwargs)

Builders are keyword-only and accept at least ``num_classes``, ``in_channels`` and ``input_size``.
"""
from __future__ import annotations

import fnmatch
import inspect
import sys
from dataclasses import dataclass
from typing import Callable

from torch import nn

from cnnlab.errors import ConfigError

ModelBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str  # the family module's short name, e.g. "resnet"
    builder: ModelBuilder
    doc: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(fn: ModelBuilder) -> ModelBuilder:
    """Register a builder under its function name; duplicate names are a programming error."""
    name = fn.__name__
    if name in _REGISTRY:
        raise RuntimeError(f"model {name!r} is registered twice ({fn.__module__} and {_REGISTRY[name].builder.__module__})")
    family = fn.__module__.rsplit(".", 1)[-1]
    doc = inspect.getdoc(fn) or inspect.getdoc(sys.modules[fn.__module__]) or ""
    _REGISTRY[name] = ModelEntry(name=name, family=family, builder=fn, doc=doc.split("\n", 1)[0])
    return fn


def list_models(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Registered model names, sorted; ``pattern`` is a shell glob such as ``"resnet*"``."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if family:
        names = [n for n in names if _REGISTRY[n].family == family]
    return names


def model_info(name: str) -> ModelEntry:
    """The registry entry of one model (family, builder, one-line description)."""
    return _REGISTRY[_check_name(name)]


def create_model(
    name: str,
    *,
    num_classes: int = 1000,
    in_channels: int = 3,
    input_size: int | tuple[int, ...] = 224,
    **kwargs,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from `list_models()`.
        num_classes: size of the classifier output.
        in_channels: channels of the input images (1 for grayscale, 3 for RGB).
        input_size: the spatial size the model will see (an int for square images). Small inputs
            (<= 64 pixels) select each family's small-input stem, documented in its module.
        **kwargs: passed unchanged to the family's constructor (e.g. ``drop_rate``).
    """
    entry = _REGISTRY[_check_name(name)]
    if num_classes < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes}")
    if in_channels < 1:
        raise ConfigError(f"in_channels must be at least 1, got {in_channels}")
    return entry.builder(num_classes=num_classes, in_channels=in_channels, input_size=input_size, **kwargs)


def _check_name(name: str) -> str:
    if name in _REGISTRY:
        return name
    close = [n for n in _REGISTRY if n.startswith(name.split("_")[0][:4])][:8]
    hint = f" Did you mean one of: {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown model {name!r}.{hint} Run `cnnlab models` for the full list.")
