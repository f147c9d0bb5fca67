"""Softmax regression: the linear classifier f(x) = Wx + b on raw pixels.

The course's first model. Each row of W is a "template" image of its class
(`cnnlab viz templates` shows them). Trained with softmax cross-entropy it is
multinomial logistic regression.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from cnnlab.models._base import ImageClassifier
from cnnlab.models._registry import register_model


def _flat_dim(in_channels: int, input_size: int | tuple[int, ...]) -> int:
    size = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)[-2:]
    return in_channels * math.prod(size)


class LinearClassifier(ImageClassifier):
    """f(x) = W x + b with x the flattened image (C*H*W values)."""

    classifier_name = "fc"

    def __init__(self, *, num_classes: int = 10, in_channels: int = 1, input_size: int | tuple[int, ...] = 28) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_features = _flat_dim(in_channels, input_size)
        self.image_shape = (in_channels, *((input_size, input_size) if isinstance(input_size, int) else tuple(input_size)[-2:]))
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)  # (B, C*H*W)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(x)


@register_model
def linear(**kwargs) -> LinearClassifier:
    """Softmax regression (linear classifier) on raw pixels."""
    return LinearClassifier(**kwargs)
