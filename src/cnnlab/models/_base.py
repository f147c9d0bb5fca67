"""The contract every cnnlab model follows (the same as timm's).

- ``forward_features(x)``: the body, image -> feature map (B, num_features, h, w) or vector.
- ``forward_head(x, pre_logits=False)``: pooling, dropout and the classifier.
- ``forward(x) = forward_head(forward_features(x))``.
- ``num_features``, ``num_classes``, ``get_classifier()``, ``reset_classifier(num_classes)``.

The classifier is always the attribute named by ``classifier_name`` so that transfer learning,
the head-freezing logic and checkpoint checks never branch on a model's name.
"""
from __future__ import annotations

import torch
from torch import nn

SMALL_INPUT_MAX = 64  # inputs up to this size (28x28 MNIST, 32x32 CIFAR) get a small-input stem


def spatial_size(input_size: int | tuple[int, ...]) -> int:
    """The smaller spatial side of ``input_size`` (an int or a (H, W) / (C, H, W) tuple)."""
    if isinstance(input_size, int):
        return input_size
    dims = tuple(input_size)
    return min(dims[-2:]) if len(dims) >= 2 else dims[-1]


def is_small_input(input_size: int | tuple[int, ...]) -> bool:
    return spatial_size(input_size) <= SMALL_INPUT_MAX


class ImageClassifier(nn.Module):
    """Base class holding the shared head logic; subclasses build ``self.<classifier_name>``."""

    classifier_name: str = "fc"
    num_features: int
    num_classes: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer with a freshly initialised one for ``num_classes`` outputs."""
        old = self.get_classifier()
        last = old[-1] if isinstance(old, nn.Sequential) else old
        if not isinstance(last, nn.Linear):
            raise TypeError(f"{type(self).__name__}: override reset_classifier for a {type(last).__name__} head")
        new = nn.Linear(last.in_features, num_classes)
        if isinstance(old, nn.Sequential):
            old[-1] = new
        else:
            setattr(self, self.classifier_name, new)
        self.num_classes = num_classes
