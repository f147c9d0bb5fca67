"""Softmax regression: the linear classifier f(x) = Wx + b on raw pixels.

The course's first model. Each row of W is a "template" image of its class
(`cnnlab viz templates` shows them). Trained with softmax cross-entropy it is
multinomial logistic regression. It has no stem: it takes exactly the ``input_size``
it was built for.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from cnnlab.models._base import ImageClassifier
from cnnlab.models._registry import TrainDefaults, register_model

# softmax regression: plain SGD converges; small datasets get at least 300 steps
TRAIN_DEFAULTS = TrainDefaults(epochs=10, batch_size=128, min_steps=300)


class PixelClassifier(ImageClassifier):
    """Base of the models that classify the flattened image (C*H*W values) directly."""

    def __init__(self, *, arch: str, num_classes: int, in_channels: int, input_size: int | Sequence[int]) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                         fixed_input_size=True)
        self.num_features = in_channels * math.prod(self.input_size)
        self.image_shape = (in_channels, *self.input_size)

    def feature_modules(self) -> list[nn.Module]:
        return []  # no layers before the flatten

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)  # (B, C*H*W)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.classify(x, pre_logits)


class LinearClassifier(PixelClassifier):
    """f(x) = W x + b with x the flattened image (C*H*W values)."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "linear",
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | Sequence[int] = 28,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        self.fc = nn.Linear(self.num_features, num_classes)


@register_model
def linear(**kwargs) -> LinearClassifier:
    """Softmax regression (linear classifier) on raw pixels."""
    return LinearClassifier(**kwargs)
