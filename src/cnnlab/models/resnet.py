"""ResNet: deep residual networks, y = F(x) + x.

Paper: "Deep Residual Learning for Image Recognition", He, Zhang, Ren and Sun, CVPR 2016.
https://arxiv.org/abs/1512.03385

Blocks: `BasicBlock` (two 3x3 convs; ResNet-18/34) and `Bottleneck` (1x1 -> 3x3 -> 1x1 with 4x
expansion; ResNet-50/101/152; the stride sits on the 3x3 conv as in torchvision, "ResNet v1.5").
When a stage changes the size or width, the shortcut is a 1x1 stride-2 projection conv + norm
(option B of the paper). The architecture is data: block type and blocks per stage, e.g.
``layers=(2, 2, 2, 2)`` for ResNet-18. Same parameters and module names as torchvision's ResNets.
Blocks take ``norm_layer``/``act_layer`` classes, ``groups``/``base_width`` (ResNeXt, Wide
ResNet) and an optional ``attn_layer`` applied before the addition (squeeze-excitation), so the
later families can reuse them.

Other dimensions: ``dims=1`` builds the same network of 1-D layers for sequences (B, C, L) and
``dims=3`` of 3-D layers for volumes (B, C, D, H, W); ``input_size`` is then a length or (D, H, W),
e.g. ``create_model("resnet18", dims=1, in_channels=1, num_classes=4, input_size=128)``. The
layer classes come from `cnnlab.layers.dims`; the stem rule below applies to the last axes.

Small-input stem (inputs <= 64 px, or ``small_stem=True``): the 7x7 stride-2 conv and the 3x3
max pool are replaced by one 3x3 stride-1 conv (as in the paper's CIFAR networks), so the four
stages see 32x32 -> 4x4 (28x28 -> 4x4) instead of a 1x1 map. ``small_stem_pool=True`` keeps the
3x3 stride-2 max pool after it (28x28 -> 14x14 at the first stage): a quarter of the cost.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.layers import get_act_layer, get_norm_layer, make_act
from cnnlab.layers.create import LayerFactory
from cnnlab.layers.dims import CONV_CLASSES, NORM_CLASSES, for_dims
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                               min_steps=500)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1, dims: int = 2) -> nn.Module:
    conv = for_dims(nn.Conv2d, dims)
    return conv(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1, dims: int = 2) -> nn.Module:
    return for_dims(nn.Conv2d, dims)(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """3x3 conv -> norm -> act -> 3x3 conv -> norm, plus the shortcut, then act."""

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 64,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
        attn_layer: LayerFactory | None = None,
        dims: int = 2,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ConfigError("BasicBlock supports only groups=1 and base_width=64; use a Bottleneck ResNet")
        self.conv1 = conv3x3(in_channels, planes, stride, dims=dims)
        self.bn1 = norm_layer(planes)
        self.act1 = make_act(act_layer)
        self.conv2 = conv3x3(planes, planes, dims=dims)
        self.bn2 = norm_layer(planes)
        self.attn = attn_layer(planes) if attn_layer is not None else nn.Identity()
        self.downsample = downsample
        self.act2 = make_act(act_layer)

    def spatial_path(self) -> list[nn.Module]:
        return [self.conv1, self.conv2]

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.attn(self.bn2(self.conv2(x)))
        return self.act2(x + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (strided, grouped) -> 1x1 expand (x4), plus the shortcut, then act."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        groups: int = 1,
        base_width: int = 64,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
        attn_layer: LayerFactory | None = None,
        dims: int = 2,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        out_channels = planes * self.expansion
        self.conv1 = conv1x1(in_channels, width, dims=dims)
        self.bn1 = norm_layer(width)
        self.act1 = make_act(act_layer)
        self.conv2 = conv3x3(width, width, stride, groups, dims=dims)
        self.bn2 = norm_layer(width)
        self.act2 = make_act(act_layer)
        self.conv3 = conv1x1(width, out_channels, dims=dims)
        self.bn3 = norm_layer(out_channels)
        self.attn = attn_layer(out_channels) if attn_layer is not None else nn.Identity()
        self.downsample = downsample
        self.act3 = make_act(act_layer)

    def spatial_path(self) -> list[nn.Module]:
        return [self.conv1, self.conv2, self.conv3]

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.act2(self.bn2(self.conv2(x)))
        x = self.attn(self.bn3(self.conv3(x)))
        return self.act3(x + shortcut)


class ResNet(ImageClassifier):
    """Stem, four stages of residual blocks (64, 128, 256, 512 planes), global average pool, FC."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "resnet18",
        block: type[BasicBlock | Bottleneck] = BasicBlock,
        layers: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        small_stem_pool: bool = False,
        stem_width: int = 64,
        widths: Sequence[int] = (64, 128, 256, 512),
        groups: int = 1,
        base_width: int = 64,
        norm_layer: str | LayerFactory = "batchnorm",
        act_layer: str | LayerFactory = "relu",
        attn_layer: LayerFactory | None = None,
        drop_rate: float = 0.0,
        zero_init_residual: bool = False,
        dims: int = 2,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                         dims=dims)
        norm, act = for_dims(get_norm_layer(norm_layer), dims), get_act_layer(act_layer)
        small = use_small_stem(small_stem, input_size)
        conv = for_dims(nn.Conv2d, dims)
        self.conv1 = (conv3x3(in_channels, stem_width, dims=dims) if small
                      else conv(in_channels, stem_width, kernel_size=7, stride=2, padding=3, bias=False))
        self.bn1 = norm(stem_width)
        self.act1 = make_act(act)
        pool = not small or small_stem_pool
        self.maxpool = for_dims(nn.MaxPool2d, dims)(kernel_size=3, stride=2, padding=1) if pool else nn.Identity()
        block_args = dict(groups=groups, base_width=base_width, norm_layer=norm, act_layer=act, attn_layer=attn_layer,
                          dims=dims)
        channels = stem_width
        for i, (planes, depth) in enumerate(zip(widths, layers)):
            stride = 1 if i == 0 else 2
            stage, channels = _make_stage(block, channels, planes, depth, stride, norm, block_args)
            setattr(self, f"layer{i + 1}", stage)
        self.num_stages = len(layers)
        self.num_features = channels
        self.global_pool = for_dims(nn.AdaptiveAvgPool2d, dims)(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, CONV_CLASSES):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (*NORM_CLASSES, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # each block starts as the identity (Goyal et al., 2017)
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    m.zero_init_last()

    def stages(self) -> list[nn.Module]:
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def feature_modules(self) -> list[nn.Module]:
        return [self.conv1, self.bn1, self.act1, self.maxpool, *self.stages()]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.feature_modules():
            x = module(x)
        return x  # (B, num_features, h, w)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return self.classify(x, pre_logits)


def _make_stage(
    block: type[BasicBlock | Bottleneck],
    in_channels: int,
    planes: int,
    depth: int,
    stride: int,
    norm_layer: LayerFactory,
    block_args: dict,
) -> tuple[nn.Sequential, int]:
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride, dims=block_args.get("dims", 2)),
                                   norm_layer(out_channels))
    blocks = [block(in_channels, planes, stride, downsample, **block_args)]
    blocks += [block(out_channels, planes, **block_args) for _ in range(depth - 1)]
    return nn.Sequential(*blocks), out_channels


def _resnet(arch: str, **kwargs) -> ResNet:
    return ResNet(arch=arch, **kwargs)


@register_model
def resnet18(**kwargs) -> ResNet:
    """ResNet-18 (BasicBlock, 2-2-2-2)."""
    model_args = dict(block=BasicBlock, layers=(2, 2, 2, 2))
    return _resnet("resnet18", **dict(model_args, **kwargs))


@register_model
def resnet34(**kwargs) -> ResNet:
    """ResNet-34 (BasicBlock, 3-4-6-3)."""
    model_args = dict(block=BasicBlock, layers=(3, 4, 6, 3))
    return _resnet("resnet34", **dict(model_args, **kwargs))


@register_model
def resnet50(**kwargs) -> ResNet:
    """ResNet-50 (Bottleneck, 3-4-6-3)."""
    model_args = dict(block=Bottleneck, layers=(3, 4, 6, 3))
    return _resnet("resnet50", **dict(model_args, **kwargs))


@register_model
def resnet101(**kwargs) -> ResNet:
    """ResNet-101 (Bottleneck, 3-4-23-3)."""
    model_args = dict(block=Bottleneck, layers=(3, 4, 23, 3))
    return _resnet("resnet101", **dict(model_args, **kwargs))


@register_model
def resnet152(**kwargs) -> ResNet:
    """ResNet-152 (Bottleneck, 3-8-36-3)."""
    model_args = dict(block=Bottleneck, layers=(3, 8, 36, 3))
    return _resnet("resnet152", **dict(model_args, **kwargs))


# Wide ResNets ("Wide Residual Networks", Zagoruyko and Komodakis, BMVC 2016, https://arxiv.org/abs/1605.07146).
# torchvision's ImageNet variants: ResNet-50/101 whose bottleneck 3x3 convs are twice as wide (base_width=128).
@register_model
def wide_resnet50_2(**kwargs) -> ResNet:
    """Wide ResNet-50-2 (Bottleneck with 2x wider 3x3 convs, 3-4-6-3), as torchvision's."""
    model_args = dict(block=Bottleneck, layers=(3, 4, 6, 3), base_width=128)
    return _resnet("wide_resnet50_2", **dict(model_args, **kwargs))


@register_model
def wide_resnet101_2(**kwargs) -> ResNet:
    """Wide ResNet-101-2 (Bottleneck with 2x wider 3x3 convs, 3-4-23-3), as torchvision's."""
    model_args = dict(block=Bottleneck, layers=(3, 4, 23, 3), base_width=128)
    return _resnet("wide_resnet101_2", **dict(model_args, **kwargs))


# The paper's CIFAR networks WRN-d-k: a 3x3 stem of 16 channels, three stages of (d-4)/6 basic
# blocks of 16k, 32k, 64k channels. Ours use ResNet's post-activation blocks with a norm after the
# 1x1 projection shortcut (the paper's are pre-activation), which changes the count by <0.1%.
def _cifar_wrn(arch: str, depth: int, k: int, **kwargs) -> ResNet:
    blocks = (depth - 4) // 6
    model_args = dict(block=BasicBlock, layers=(blocks,) * 3, widths=(16 * k, 32 * k, 64 * k), stem_width=16,
                      small_stem=True)
    return _resnet(arch, **dict(model_args, **kwargs))


@register_model
def wrn28_10(**kwargs) -> ResNet:
    """WRN-28-10, the paper's CIFAR network (3 stages of 4 basic blocks, 160-320-640 channels)."""
    return _cifar_wrn("wrn28_10", 28, 10, **kwargs)


@register_model
def wrn16_4(**kwargs) -> ResNet:
    """WRN-16-4, a small CIFAR Wide ResNet (3 stages of 2 basic blocks, 64-128-256 channels)."""
    return _cifar_wrn("wrn16_4", 16, 4, **kwargs)


@register_model
def resnet18_small(**kwargs) -> ResNet:
    """ResNet-18 (BasicBlock, 2-2-2-2) at a quarter of the widths (16-32-64-128), stages at 14-7-4-2 px for 28x28."""
    model_args = dict(block=BasicBlock, layers=(2, 2, 2, 2), widths=(16, 32, 64, 128), stem_width=16,
                      small_stem_pool=True)
    return _resnet("resnet18_small", **dict(model_args, **kwargs))
