"""AirNet: FastNet's layout with the airbench initialisation and normalisation tricks, for speed runs.

After airbench94 (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024,
arXiv:2404.00498). The layout is `cnnlab.models.fastnet`'s (a 3x3 stem, then groups of
``conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU``, global max pool, linear), with:

- BatchNorm scales frozen at 1 (kept as buffers, so BN folding still works) and a faster running
  average of the statistics (``bn_momentum``, PyTorch convention: weight of the newest batch);
- identity ("dirac") initialisation of the first ``cin`` output channels of every conv after the
  stem, so that a fresh network passes its input through and trains from the first step;
- a bias-free classifier whose logits are scaled by ``logit_scale`` (airbench: 1/9), which keeps
  the early softmax soft.

airbench's frozen patch-whitening stem (it needs the data at construction) and its 64x BN-bias
learning rate (it needs per-group rates) are left out. Small-input stem: as FastNet (stride 1 for
inputs up to 64 pixels, so 28x28 becomes 14, 7, 3 pixels across the three groups).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import register_model


class FrozenScaleBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with its per-channel scale fixed at 1: a buffer named ``weight``, only the bias learns."""

    def __init__(self, channels: int, momentum: float = 0.1) -> None:
        super().__init__(channels, momentum=momentum)
        del self.weight
        self.register_buffer("weight", torch.ones(channels))


def conv_bn_gelu(cin: int, cout: int, bn_momentum: float, *, stride: int = 1, pool: bool = False) -> list[nn.Module]:
    """3x3 conv (no bias), an optional 2x2 max pool, frozen-scale BN, GELU."""
    layers = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)]
    return [*layers, *([nn.MaxPool2d(2)] if pool else []), FrozenScaleBatchNorm2d(cout, bn_momentum), nn.GELU()]


class AirNet(ImageClassifier):
    """Stem + one (conv-pool-BN-GELU, conv-BN-GELU) group per entry of ``widths`` + max pool + linear."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "airnet",
        widths: Sequence[int] = (32, 64, 128),
        stem_width: int | None = None,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | tuple[int, ...] = 28,
        bn_momentum: float = 0.4,
        dirac: bool = True,
        logit_scale: float = 1 / 9,
        small_stem: bool | None = None,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        stem_width = stem_width or widths[0]
        small = use_small_stem(small_stem, input_size)
        stem = conv_bn_gelu(in_channels, stem_width, bn_momentum, stride=1 if small else 2)
        self.stem = nn.Sequential(*stem) if small else nn.Sequential(*stem, nn.MaxPool2d(2))
        chans = [stem_width, *widths]
        self.groups = nn.Sequential(*(
            nn.Sequential(*conv_bn_gelu(a, b, bn_momentum, pool=True), *conv_bn_gelu(b, b, bn_momentum))
            for a, b in zip(chans[:-1], chans[1:])
        ))
        self.num_features = widths[-1]
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(self.num_features, num_classes, bias=False)
        self.logit_scale = logit_scale
        if dirac:
            for conv in (m for m in self.groups.modules() if isinstance(m, nn.Conv2d)):
                cin = conv.in_channels
                if conv.out_channels >= cin:
                    nn.init.dirac_(conv.weight.data[:cin])

    def feature_modules(self) -> list[nn.Module]:
        return [self.stem, self.groups]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.groups(self.stem(x))          # (B, C, H, W) -> (B, widths[-1], H/8, W/8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)        # (B, num_features)
        return x if pre_logits else self.fc(x) * self.logit_scale  # (B, num_classes)


def _airnet(arch: str, widths: Sequence[int], **kwargs) -> AirNet:
    kwargs.setdefault("widths", widths)
    return AirNet(arch=arch, **kwargs)


@register_model
def airnet_small(**kwargs) -> AirNet:
    """AirNet 16-32-64 (~0.07M params): FastNet-small's cost, airbench's initialisation."""
    return _airnet("airnet_small", (16, 32, 64), **kwargs)


@register_model
def airnet(**kwargs) -> AirNet:
    """AirNet 32-64-128 (~0.3M params)."""
    return _airnet("airnet", (32, 64, 128), **kwargs)


@register_model
def airnet_wide(**kwargs) -> AirNet:
    """AirNet 64-128-256 (~1.2M params): for the longer, more accurate recipes."""
    return _airnet("airnet_wide", (64, 128, 256), **kwargs)
