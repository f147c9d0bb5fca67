"""FastNet: a small, fast BatchNorm CNN for 28x28 and 32x32 images (cnnlab's speed-run network).

After airbench94 (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024,
arXiv:2404.00498) and David Page's ResNet-9 ("How to train your ResNet", 2018): a 3x3 stem, then
groups of ``conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU``, a global max pool and
one linear layer. No residuals: at these depths BatchNorm alone trains it in a few epochs.

Small-input stem (inputs <= 64 pixels, or ``small_stem=True``): a stride-1 3x3 conv, so a 28x28 image becomes 14, 7, 3
pixels across the three groups. Larger inputs get a stride-2 stem followed by a 2x2 max pool
(4x smaller) so that the groups see the same kind of sizes.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

# the demo recipe's settings, without its augmentation
TRAIN_DEFAULTS = TrainDefaults(lr=0.2, epochs=5, label_smoothing=0.1, min_steps=300)  # takes 8x8 images


def conv_bn(cin: int, cout: int, *, stride: int = 1) -> list[nn.Module]:
    """3x3 conv (no bias: BN has one) -> BN -> GELU."""
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU()]


class ConvGroup(nn.Sequential):
    """conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU: halves the size, (B, cin, H, W) -> (B, cout, H/2, W/2)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(cout), nn.GELU(),
            *conv_bn(cout, cout),
        )


class FastNet(ImageClassifier):
    """Stem + one ConvGroup per entry of ``widths`` + global max pool + linear classifier."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "fastnet",
        widths: Sequence[int] = (32, 64, 128),
        stem_width: int | None = None,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | tuple[int, ...] = 28,
        drop_rate: float = 0.0,
        small_stem: bool | None = None,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        stem_width = stem_width or widths[0]
        small = use_small_stem(small_stem, input_size)
        stem = conv_bn(in_channels, stem_width, stride=1 if small else 2)
        self.stem = nn.Sequential(*stem) if small else nn.Sequential(*stem, nn.MaxPool2d(2))
        chans = [stem_width, *widths]
        self.groups = nn.Sequential(*(ConvGroup(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.num_features = widths[-1]
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes)

    def feature_modules(self) -> list[nn.Module]:
        return [self.stem, self.groups]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.groups(self.stem(x))          # (B, C, H, W) -> (B, widths[-1], H/8, W/8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.pool(x), 1))  # (B, num_features)
        return x if pre_logits else self.fc(x)    # (B, num_classes)


def _fastnet(arch: str, default_widths: Sequence[int], **kwargs) -> FastNet:
    kwargs.setdefault("widths", default_widths)  # model_kwargs: {widths: [...]} overrides the variant's
    return FastNet(arch=arch, **kwargs)


@register_model
def fastnet(**kwargs) -> FastNet:
    """FastNet 32-64-128 (0.30M params): 92.7% Fashion-MNIST test accuracy after 4 epochs."""
    return _fastnet("fastnet", (32, 64, 128), **kwargs)


@register_model
def fastnet_small(**kwargs) -> FastNet:
    """FastNet 16-32-64 (75k params): the main job's network, 92.3% on Fashion-MNIST in 5 epochs."""
    return _fastnet("fastnet_small", (16, 32, 64), **kwargs)


@register_model
def fastnet_wide(**kwargs) -> FastNet:
    """FastNet 64-128-256 (1.2M params): about 4x the compute of fastnet."""
    return _fastnet("fastnet_wide", (64, 128, 256), **kwargs)
