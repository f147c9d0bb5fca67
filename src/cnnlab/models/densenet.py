"""DenseNet: every layer of a dense block sees the feature maps of all layers before it.

Paper: "Densely Connected Convolutional Networks", Huang, Liu, van der Maaten and Weinberger,
CVPR 2017. https://arxiv.org/abs/1608.06993

Blocks: a `DenseLayer` is BN -> ReLU -> 1x1 conv (``bn_size * growth_rate`` channels) -> BN ->
ReLU -> 3x3 conv (``growth_rate`` channels); a `DenseBlock` concatenates each layer's output to
its input; a `Transition` (BN -> ReLU -> 1x1 conv halving the channels -> 2x2 average pool) sits
between blocks (DenseNet-BC). The architecture is data: growth rate, layers per block and stem
width (``DENSENET_CFGS``). Same parameters and module names as torchvision's DenseNets.
``drop_rate`` is dropout before the classifier; ``layer_drop_rate`` is dropout after each dense
layer (torchvision's ``drop_rate``).

Small-input stem (inputs <= 64 px, or ``small_stem=True``): the 7x7 stride-2 conv and the 3x3
max pool are replaced by one 3x3 stride-1 conv (as in the paper's CIFAR networks); the three
transitions then take 32x32 to 4x4 (28x28 to 3x3) instead of a 1x1 map. ``small_stem_pool=True``
keeps the 3x3 stride-2 max pool after it and rounds the transitions' pooling up (ceil mode), so the
blocks of a 28x28 image see 14x14, 7x7, 4x4 and 2x2 maps.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from cnnlab.layers import get_act_layer, get_norm_layer, make_act
from cnnlab.layers.create import LayerFactory
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                               min_steps=500)

# growth rate, dense layers per block, stem width
DENSENET_CFGS: dict[str, dict] = {
    "densenet121": dict(growth_rate=32, block_config=(6, 12, 24, 16), stem_width=64),
    "densenet161": dict(growth_rate=48, block_config=(6, 12, 36, 24), stem_width=96),
    "densenet169": dict(growth_rate=32, block_config=(6, 12, 32, 32), stem_width=64),
    "densenet201": dict(growth_rate=32, block_config=(6, 12, 48, 32), stem_width=64),
    # the course's DenseNet (4 blocks of 4 layers) at growth 12, for 28x28 images
    "densenet_small": dict(growth_rate=12, block_config=(4, 4, 4, 4), stem_width=24, small_stem_pool=True),
}


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (bottleneck) then BN-ReLU-3x3 conv giving ``growth_rate`` new channels."""

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int,
        *,
        drop_rate: float = 0.0,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.ReLU,
    ) -> None:
        super().__init__()
        width = bn_size * growth_rate
        self.norm1 = norm_layer(in_channels)
        self.relu1 = make_act(act_layer)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = norm_layer(width)
        self.relu2 = make_act(act_layer)
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        return F.dropout(x, p=self.drop_rate, training=self.training) if self.drop_rate > 0 else x


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers; layer i sees ``in_channels + i * growth_rate`` channels."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int, **layer_args) -> None:
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, **layer_args)
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)  # (B, out_channels, H, W)


class Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv (compression) -> 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int, *, norm_layer: LayerFactory = nn.BatchNorm2d,
                 act_layer: LayerFactory = nn.ReLU, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm = norm_layer(in_channels)
        self.relu = make_act(act_layer)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2, ceil_mode=ceil_mode)


class DenseNet(ImageClassifier):
    """Stem, dense blocks joined by transitions, final BN-ReLU, global average pool, FC."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "densenet121",
        growth_rate: int = 32,
        block_config: Sequence[int] = (6, 12, 24, 16),
        stem_width: int = 64,
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        small_stem_pool: bool = False,
        bn_size: int = 4,
        compression: float = 0.5,
        norm_layer: str | LayerFactory = "batchnorm",
        act_layer: str | LayerFactory = "relu",
        drop_rate: float = 0.0,
        layer_drop_rate: float = 0.0,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        norm, act = get_norm_layer(norm_layer), get_act_layer(act_layer)
        if use_small_stem(small_stem, input_size):
            stem = [("conv0", nn.Conv2d(in_channels, stem_width, kernel_size=3, padding=1, bias=False)),
                    ("norm0", norm(stem_width)), ("relu0", make_act(act))]
            if small_stem_pool:
                stem.append(("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)))
        else:
            stem = [("conv0", nn.Conv2d(in_channels, stem_width, kernel_size=7, stride=2, padding=3, bias=False)),
                    ("norm0", norm(stem_width)), ("relu0", make_act(act)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        self.features = nn.Sequential(OrderedDict(stem))
        channels = stem_width
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate=layer_drop_rate,
                               norm_layer=norm, act_layer=act)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels = block.out_channels
            if i != len(block_config) - 1:
                out = int(channels * compression)
                transition = Transition(channels, out, norm_layer=norm, act_layer=act, ceil_mode=small_stem_pool)
                self.features.add_module(f"transition{i + 1}", transition)
                channels = out
        self.features.add_module("norm5", norm(channels))
        self.features.add_module("relu5", make_act(act))
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, num_features, h, w)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return self.classify(x, pre_logits)


def _densenet(arch: str, **kwargs) -> DenseNet:
    return DenseNet(arch=arch, **dict(DENSENET_CFGS[arch], **kwargs))


@register_model
def densenet121(**kwargs) -> DenseNet:
    """DenseNet-121 (growth 32, blocks 6-12-24-16)."""
    return _densenet("densenet121", **kwargs)


@register_model
def densenet161(**kwargs) -> DenseNet:
    """DenseNet-161 (growth 48, blocks 6-12-36-24, stem 96)."""
    return _densenet("densenet161", **kwargs)


@register_model
def densenet169(**kwargs) -> DenseNet:
    """DenseNet-169 (growth 32, blocks 6-12-32-32)."""
    return _densenet("densenet169", **kwargs)


@register_model
def densenet201(**kwargs) -> DenseNet:
    """DenseNet-201 (growth 32, blocks 6-12-48-32)."""
    return _densenet("densenet201", **kwargs)


@register_model
def densenet_small(**kwargs) -> DenseNet:
    """DenseNet-BC, 4 blocks of 4 layers (as the course's) at growth 12; blocks at 14-7-4-2 px for 28x28."""
    return _densenet("densenet_small", **kwargs)
