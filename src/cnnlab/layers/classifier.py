"""The fully connected classifier of the classic CNNs: hidden Linear layers, then the output layer.

VGG, the 2012 AlexNet, LeNet and the MLP use ``Linear -> act -> Dropout`` per hidden layer;
torchvision's AlexNet puts the dropout before each hidden Linear (``dropout_first=True``). The
module indices follow torchvision's, so its weights load unchanged. Dropout modules are kept even
at ``drop_rate=0`` so that the indices (and checkpoints) do not depend on it.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn

from cnnlab.layers.create import LayerFactory, make_act


def mlp_classifier(
    in_features: int,
    hidden: Sequence[int],
    num_classes: int,
    *,
    drop_rate: float = 0.0,
    act_layer: LayerFactory = nn.ReLU,
    dropout_first: bool = False,
    norm_layer: LayerFactory | None = None,
) -> nn.Sequential:
    """``in_features -> hidden[0] -> ... -> num_classes``; the last module is the output Linear.

    ``norm_layer`` (e.g. ``nn.BatchNorm1d``) goes between each hidden Linear and its activation.
    """
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        norm = [norm_layer(size)] if norm_layer is not None else []
        block = [nn.Linear(width, size), *norm, make_act(act_layer), nn.Dropout(drop_rate)]
        layers += block[-1:] + block[:-1] if dropout_first else block
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
