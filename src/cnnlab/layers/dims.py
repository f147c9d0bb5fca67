"""Layers by number of spatial dimensions: 1-D sequences, 2-D images, 3-D volumes.

Model families are written with 2-D layer classes (``nn.Conv2d``, ``nn.BatchNorm2d``, ...) and
take ``dims=1|2|3``; `for_dims` swaps each class for its 1-D or 3-D sibling through one table,
so a ResNet or LeNet builds for ``(B, C, L)`` sequences or ``(B, C, D, H, W)`` volumes unchanged.
Layers that do not depend on the number of dimensions (activations, Linear, GroupNorm, Identity,
squeeze-excitation) are returned as they are.
"""
from __future__ import annotations

from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.layers.conv import CONV_LAYERS, CONV_TRANSPOSE_LAYERS
from cnnlab.layers.create import LayerFactory

DIMS = (1, 2, 3)

# the 2-D class -> its (1-D, 2-D, 3-D) siblings
SIBLINGS: dict[type[nn.Module], tuple[type[nn.Module], type[nn.Module], type[nn.Module]]] = {
    nn.Conv2d: tuple(CONV_LAYERS[d] for d in DIMS),  # type: ignore[dict-item]
    nn.ConvTranspose2d: tuple(CONV_TRANSPOSE_LAYERS[d] for d in DIMS),  # type: ignore[dict-item]
    nn.MaxPool2d: (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d),
    nn.AvgPool2d: (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d),
    nn.AdaptiveAvgPool2d: (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d),
    nn.AdaptiveMaxPool2d: (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d),
    nn.BatchNorm2d: (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d),
    nn.InstanceNorm2d: (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d),
    nn.Dropout2d: (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d),
}

# every class of the table, for isinstance checks that must hold in any dimension
CONV_CLASSES = SIBLINGS[nn.Conv2d]
NORM_CLASSES = SIBLINGS[nn.BatchNorm2d]


def check_dims(dims: int) -> int:
    if dims not in DIMS or isinstance(dims, bool):
        raise ConfigError(f"dims must be 1 (sequences), 2 (images) or 3 (volumes), got {dims!r}")
    return dims


def for_dims(layer: LayerFactory, dims: int) -> LayerFactory:
    """The ``dims``-D sibling of a 2-D layer class; any other layer factory unchanged."""
    siblings = SIBLINGS.get(layer) if isinstance(layer, type) else None
    return siblings[check_dims(dims) - 1] if siblings else layer
