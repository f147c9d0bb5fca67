"""MobileNet v1 and v2: networks of depthwise-separable convolutions, for phones.

Papers: "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
Howard et al., 2017 (https://arxiv.org/abs/1704.04861); "MobileNetV2: Inverted Residuals and
Linear Bottlenecks", Sandler et al., CVPR 2018 (https://arxiv.org/abs/1801.04381).

v1: a 3x3 stride-2 conv, then 13 depthwise-separable blocks (`cnnlab.layers.DepthwiseSeparableConv`:
3x3 depthwise -> BN -> ReLU -> 1x1 pointwise -> BN -> ReLU), global average pool, one FC layer.
The architecture is data: ``V1_BLOCKS`` lists (output channels, stride) per block. ImageNet
configuration: 4.2M parameters, 569M multiply-adds (paper, Table 1), about 1/8 of a dense VGG.

v2: an inverted residual block expands the channels ``t``-fold with a 1x1 conv, filters them with a
3x3 depthwise conv (ReLU6 after both) and projects back with a *linear* 1x1 conv (no activation:
the "linear bottleneck"); a block that keeps the size and width adds its input. ``V2_SETTINGS``
lists the paper's (t, channels, blocks, stride) rows. Same parameters and names as torchvision's
``mobilenet_v2`` (3,504,872 parameters), so its weights load through `cnnlab.models.convert`.

Width multiplier ``width_mult`` (alpha in the papers) scales every layer's channels, rounded to a
multiple of 8 (``make_divisible``); the cost falls roughly with alpha^2.

Small-input stem (inputs <= 64 px, or ``small_stem=True``): the first conv has stride 1 (v1 and v2)
and v2's first strided stage (24 channels) keeps stride 1, as in the usual CIFAR MobileNets; a
32x32 input then ends in 2x2 (v1, total stride 16) or 4x4 (v2, total stride 8) instead of 1x1.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from cnnlab.layers import ConvNormAct, DepthwiseSeparableConv, get_act_layer, get_norm_layer, make_act
from cnnlab.layers.create import LayerFactory
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                               min_steps=500)

if TYPE_CHECKING:  # importing torchvision.ops pulls in torchvision.models: ~1.5 s on every create_model
    from torchvision.ops import Conv2dNormActivation

# MobileNet v1 (Table 1): a 32-channel stem, then (output channels, stride) of each separable block.
V1_STEM = 32
V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    *((512, 1),) * 5,
    (1024, 2), (1024, 1),
)

# MobileNet v2 (Table 2): expansion t, output channels c, blocks n, stride s of the first block.
V2_STEM, V2_LAST = 32, 1280
V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor``, but never below 90% of it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileNetV1(ImageClassifier):
    """3x3 conv stem -> depthwise-separable blocks -> global average pool -> dropout -> FC."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "mobilenet_v1",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        width_mult: float = 1.0,
        small_stem: bool | None = None,
        norm_layer: str | LayerFactory = "batchnorm",
        act_layer: str | LayerFactory = "relu",
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        norm, act = get_norm_layer(norm_layer), get_act_layer(act_layer)
        small = use_small_stem(small_stem, input_size)
        channels = make_divisible(V1_STEM * width_mult)
        self.stem = ConvNormAct(in_channels, channels, 3, stride=1 if small else 2, norm_layer=norm, act_layer=act)
        blocks = []
        for out_channels, stride in V1_BLOCKS:
            out_channels = make_divisible(out_channels * width_mult)
            blocks.append(DepthwiseSeparableConv(channels, out_channels, 3, stride, norm_layer=norm, act_layer=act))
            channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(channels, num_classes)
        _init_weights(self)

    def feature_modules(self) -> list[nn.Module]:
        return [self.stem, self.blocks]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))  # (B, C, H, W) -> (B, num_features, H/32, W/32)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return self.classify(x, pre_logits)


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    *,
    groups: int = 1,
    norm_layer: LayerFactory = nn.BatchNorm2d,
    act_layer: LayerFactory = nn.ReLU6,
) -> Conv2dNormActivation:
    """torchvision's conv -> norm -> act sequence (children 0, 1, 2, so its weights load)."""
    from torchvision.ops import Conv2dNormActivation

    return Conv2dNormActivation(in_channels, out_channels, kernel_size, stride, groups=groups, norm_layer=norm_layer,
                                activation_layer=lambda **_: make_act(act_layer))  # in place where possible


class InvertedResidual(nn.Module):
    """[1x1 expand -> BN -> ReLU6] -> 3x3 depthwise -> BN -> ReLU6 -> 1x1 project -> BN (+ input).

    ``conv`` holds the layers with torchvision's indices; the residual is added when the block
    keeps the size and the channel count.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        expand_ratio: int,
        *,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU6,
    ) -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, norm_layer=norm_layer, act_layer=act_layer))
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, norm_layer=norm_layer, act_layer=act_layer),
            nn.Conv2d(hidden, out_channels, 1, bias=False),  # linear bottleneck: no activation
            norm_layer(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(ImageClassifier):
    """3x3 conv stem -> inverted residual blocks -> 1x1 conv to 1280 -> pool -> dropout -> FC."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "mobilenet_v2",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        width_mult: float = 1.0,
        small_stem: bool | None = None,
        norm_layer: str | LayerFactory = "batchnorm",
        act_layer: str | LayerFactory = nn.ReLU6,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        norm, act = get_norm_layer(norm_layer), get_act_layer(act_layer)
        small = use_small_stem(small_stem, input_size)
        channels = make_divisible(V2_STEM * width_mult)
        layers: list[nn.Module] = [conv_bn_act(in_channels, channels, 3, 1 if small else 2, norm_layer=norm, act_layer=act)]
        for t, c, n, s in _small_input_settings(V2_SETTINGS) if small else V2_SETTINGS:
            out_channels = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(channels, out_channels, s if i == 0 else 1, t, norm_layer=norm,
                                               act_layer=act))
                channels = out_channels
        self.num_features = make_divisible(V2_LAST * max(1.0, width_mult))
        layers.append(conv_bn_act(channels, self.num_features, 1, norm_layer=norm, act_layer=act))
        self.features = nn.Sequential(*layers)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(self.num_features, num_classes))
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, C, H, W) -> (B, num_features, H/32, W/32)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.classify(torch.flatten(self.global_pool(x), 1), pre_logits)


def _small_input_settings(settings: Sequence[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """The rows with the first strided stage at stride 1 (with a stride-1 stem: total stride 8)."""
    first = next(i for i, row in enumerate(settings) if row[3] > 1)
    return [(t, c, n, 1 if i == first else s) for i, (t, c, n, s) in enumerate(settings)]


def _init_weights(model: nn.Module) -> None:
    """He init (fan_out) for convs, unit BN, small normal FC weights: torchvision's MobileNet init."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


@register_model
def mobilenet_v1(**kwargs) -> MobileNetV1:
    """MobileNet v1 (13 depthwise-separable blocks; ``width_mult`` scales the channels)."""
    return MobileNetV1(arch="mobilenet_v1", **kwargs)


@register_model
def mobilenet_v2(**kwargs) -> MobileNetV2:
    """MobileNet v2 (inverted residuals with linear bottlenecks; ``width_mult`` scales the channels)."""
    return MobileNetV2(arch="mobilenet_v2", **kwargs)
