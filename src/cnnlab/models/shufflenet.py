"""ShuffleNet v2: channel split, cheap branches, concatenation and channel shuffle.

Paper: "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", Ma, Zhang,
Zheng and Sun, ECCV 2018. https://arxiv.org/abs/1807.11164

A basic unit (stride 1) splits the channels in two halves: one passes unchanged, the other goes
through 1x1 conv -> BN -> ReLU -> 3x3 depthwise conv -> BN -> 1x1 conv -> BN -> ReLU; the halves are
concatenated and the channels shuffled (``nn.ChannelShuffle(2)``: reshape to (2, C/2), transpose,
flatten) so that information crosses between the halves in the next unit. A downsampling unit
(stride 2) feeds the whole input to both branches, the first being 3x3 depthwise (stride 2) -> BN ->
1x1 conv -> BN -> ReLU, which doubles the channels. The architecture is data: units per stage
(4, 8, 4) and the widths of ``SHUFFLENET_V2_WIDTHS`` per multiplier (x0.5 ... x2.0). Same parameters
and names as torchvision's ``shufflenet_v2_*``, so its weights load through `cnnlab.models.convert`.

Small-input stem (inputs <= 64 px, or ``small_stem=True``): the first conv has stride 1 and the
3x3 max pool is dropped (total stride 8 instead of 32), so a 32x32 input ends in a 4x4 map.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                               min_steps=500)

STAGE_UNITS = (4, 8, 4)  # units in stages 2, 3, 4
# stem, stage 2, 3, 4 and last-conv channels for each width multiplier (Table 5 of the paper)
SHUFFLENET_V2_WIDTHS: dict[str, tuple[int, int, int, int, int]] = {
    "x0_5": (24, 48, 96, 192, 1024),
    "x1_0": (24, 116, 232, 464, 1024),
    "x1_5": (24, 176, 352, 704, 1024),
    "x2_0": (24, 244, 488, 976, 2048),
}


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1, *,
            depthwise: bool = False, relu: bool = True) -> list[nn.Module]:
    """conv (no bias) -> BN [-> ReLU] as a flat list: torchvision's branch indices, so its weights load."""
    from torchvision.ops import Conv2dNormActivation  # here: torchvision.ops imports torchvision.models (~1.5 s)

    return list(Conv2dNormActivation(in_channels, out_channels, kernel_size, stride,
                                     groups=in_channels if depthwise else 1,
                                     activation_layer=nn.ReLU if relu else None))


class ShuffleUnit(nn.Module):
    """A stride-1 (split) or stride-2 (two-branch, downsampling) ShuffleNet v2 unit; output ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                *conv_bn(in_channels, in_channels, 3, stride, depthwise=True, relu=False),
                *conv_bn(in_channels, half),
            )
        self.branch2 = nn.Sequential(
            *conv_bn(in_channels if stride > 1 else half, half),
            *conv_bn(half, half, 3, stride, depthwise=True, relu=False),
            *conv_bn(half, half),
        )
        self.shuffle = nn.ChannelShuffle(2)

    def spatial_path(self) -> list[nn.Module]:
        return [self.branch2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, x = x.chunk(2, dim=1)
        else:
            kept = self.branch1(x)
        return self.shuffle(torch.cat((kept, self.branch2(x)), dim=1))


class ShuffleNetV2(ImageClassifier):
    """conv1 -> max pool -> stages 2-4 of shuffle units -> 1x1 conv5 -> global average pool -> FC."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "shufflenet_v2_x1_0",
        widths: Sequence[int] = SHUFFLENET_V2_WIDTHS["x1_0"],
        stage_units: Sequence[int] = STAGE_UNITS,
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        small = use_small_stem(small_stem, input_size)
        stem, *stage_widths, last = widths
        self.conv1 = nn.Sequential(*conv_bn(in_channels, stem, 3, 1 if small else 2))
        self.maxpool = nn.Identity() if small else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = stem
        for i, (width, units) in enumerate(zip(stage_widths, stage_units)):
            stage = [ShuffleUnit(channels, width, 2)] + [ShuffleUnit(width, width, 1) for _ in range(units - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*stage))
            channels = width
        self.num_stages = len(stage_widths)
        self.conv5 = nn.Sequential(*conv_bn(channels, last))
        self.num_features = last
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(last, num_classes)

    def feature_modules(self) -> list[nn.Module]:
        stages = [getattr(self, f"stage{i + 2}") for i in range(self.num_stages)]
        return [self.conv1, self.maxpool, *stages, self.conv5]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.feature_modules():
            x = module(x)
        return x  # (B, num_features, H/32, W/32)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return self.classify(x, pre_logits)


def _shufflenet_v2(arch: str, width: str, **kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(arch=arch, **{"widths": SHUFFLENET_V2_WIDTHS[width], **kwargs})


@register_model
def shufflenet_v2_x0_5(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 0.5x (48-96-192 channels per stage)."""
    return _shufflenet_v2("shufflenet_v2_x0_5", "x0_5", **kwargs)


@register_model
def shufflenet_v2_x1_0(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 1.0x (116-232-464 channels per stage)."""
    return _shufflenet_v2("shufflenet_v2_x1_0", "x1_0", **kwargs)


@register_model
def shufflenet_v2_x1_5(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 1.5x (176-352-704 channels per stage)."""
    return _shufflenet_v2("shufflenet_v2_x1_5", "x1_5", **kwargs)


@register_model
def shufflenet_v2_x2_0(**kwargs) -> ShuffleNetV2:
    """ShuffleNet v2 2.0x (244-488-976 channels per stage, 2048 in conv5)."""
    return _shufflenet_v2("shufflenet_v2_x2_0", "x2_0", **kwargs)
