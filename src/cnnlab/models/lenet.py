"""LeNet-5, the first CNN trained end to end with backpropagation.

Paper: "Gradient-Based Learning Applied to Document Recognition", LeCun et al., 1998.

Two variants, as in the course (Dive into Deep Learning, ch. "LeNet"):

- ``lenet5``: the original recipe, sigmoid activations and 2x2 average pooling:
  conv 6@5x5 (pad 2) -> avgpool -> conv 16@5x5 -> avgpool -> FC 120 -> FC 84 -> FC classes.
  With 10 classes on 1x28x28 it has 61,706 parameters.
- ``lenet5_relu``: the modern variant, ReLU and 2x2 max pooling.
- ``lenet5_bn``: the course's "LeNet with batch normalization": ``lenet5`` with a BatchNorm between
  every conv or hidden FC layer and its sigmoid (``batch_norm=True``).

Small inputs: LeNet is itself a small-input network and has no other stem. Its classifier sees
the flattened 16xhxw feature map, so the flatten size follows ``input_size`` (16x5x5 for 28x28,
16x6x6 for 32x32, 16x54x54 for 224x224) and the model takes exactly that size. Weights are
initialised with Xavier/Glorot (designed for sigmoid networks), biases with zeros.

``dims=1`` (sequences, ``input_size`` a length) or ``dims=3`` (volumes, ``input_size`` (D, H, W))
builds the same network of 1-D or 3-D convolutions and poolings (`cnnlab.layers.dims`).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from cnnlab.layers import get_act_layer, make_act, mlp_classifier
from cnnlab.layers.create import LayerFactory
from cnnlab.layers.dims import CONV_CLASSES, for_dims
from cnnlab.models._base import ImageClassifier
from cnnlab.models._registry import TrainDefaults, register_model

# The sigmoid LeNet learns slowly with plain SGD (the course's lr 0.9 needs ~2,000 steps to leave
# chance): Adam with a one-cycle schedule, and at least 1,000 steps on small datasets (digits: 100 epochs).
TRAIN_DEFAULTS = TrainDefaults(optimizer="adam", lr=0.005, weight_decay=0.0, epochs=10, batch_size=128,
                               min_image_size=28, min_steps=1000)


class LeNet5(ImageClassifier):
    """Two conv/pool stages and a three-layer fully connected classifier."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "lenet5",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | Sequence[int] = 28,
        act_layer: str | LayerFactory = "sigmoid",
        pool_layer: LayerFactory = nn.AvgPool2d,
        channels: Sequence[int] = (6, 16),
        hidden: Sequence[int] = (120, 84),
        drop_rate: float = 0.0,
        batch_norm: bool = False,
        dims: int = 2,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                         fixed_input_size=True, dims=dims)
        act_layer = get_act_layer(act_layer)
        conv, pool = for_dims(nn.Conv2d, dims), for_dims(pool_layer, dims)
        c1, c2 = channels

        def norm(name: str, channels: int) -> list[tuple[str, nn.Module]]:
            return [(name, for_dims(nn.BatchNorm2d, dims)(channels))] if batch_norm else []

        self.features = nn.Sequential(OrderedDict([
            ("conv1", conv(in_channels, c1, 5, padding=2)), *norm("bn1", c1), ("act1", make_act(act_layer)),
            ("pool1", pool(2, 2)),
            ("conv2", conv(c1, c2, 5)), *norm("bn2", c2), ("act2", make_act(act_layer)), ("pool2", pool(2, 2)),
        ]))
        self.num_features = c2
        flat = c2 * math.prod(self.feature_hw())  # 16 x h x w (x d): the flatten follows input_size
        self.classifier = mlp_classifier(flat, hidden, num_classes, drop_rate=drop_rate, act_layer=act_layer,
                                         norm_layer=nn.BatchNorm1d if batch_norm else None)
        for m in self.modules():
            if isinstance(m, (*CONV_CLASSES, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 16, h, w); (B, 16, l) or (B, 16, d, h, w) with dims=1|3

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.classify(torch.flatten(x, 1), pre_logits)


def _lenet(arch: str, **kwargs) -> LeNet5:
    return LeNet5(arch=arch, **kwargs)


@register_model
def lenet5(**kwargs) -> LeNet5:
    """LeNet-5, original: sigmoid + average pooling (61,706 parameters on 1x28x28, 10 classes)."""
    model_args = dict(act_layer="sigmoid", pool_layer=nn.AvgPool2d)
    return _lenet("lenet5", **dict(model_args, **kwargs))


@register_model
def lenet5_relu(**kwargs) -> LeNet5:
    """LeNet-5, modern: ReLU + max pooling."""
    model_args = dict(act_layer="relu", pool_layer=nn.MaxPool2d)
    return _lenet("lenet5_relu", **dict(model_args, **kwargs))


@register_model
def lenet5_bn(**kwargs) -> LeNet5:
    """LeNet-5 with batch normalization before every sigmoid (the course's BatchNorm chapter)."""
    model_args = dict(act_layer="sigmoid", pool_layer=nn.AvgPool2d, batch_norm=True)
    return _lenet("lenet5_bn", **dict(model_args, **kwargs))
