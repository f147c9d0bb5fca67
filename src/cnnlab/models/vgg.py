"""VGG: very deep networks of stacked 3x3 convolutions, built from VGG blocks.

Paper: "Very Deep Convolutional Networks for Large-Scale Image Recognition", Simonyan and
Zisserman, ICLR 2015. https://arxiv.org/abs/1409.1556

A VGG block is n 3x3 convolutions (padding 1, optionally with batch norm), each followed by ReLU,
then a 2x2 max pool that halves the size. The architecture is data: the conv channels of each of
the five blocks (``VGG_CFGS``, the paper's configurations A, B, D, E). ``model.features`` is a
sequence of the five `VGGBlock` modules, so each block's output can be read; VGG-11 on 1x224x224
gives (64,112,112), (128,56,56), (256,28,28), (512,14,14), (512,7,7). The classifier is
torchvision's: adaptive 7x7 average pool, FC 4096 -> 4096 -> classes with ReLU and dropout.
``vgg*`` and ``vgg*_bn`` have the same parameters as torchvision's models, whose weights load
through `cnnlab.models.convert` (torchvision's ``features`` is one flat sequence).

Small-input stem (inputs <= 64 px, or ``small_stem=True``): only the first three blocks pool
(total stride 8), so 32x32 inputs end in a 4x4 map and 28x28 in 3x3 instead of a 1x1 map (or a
crash). The head then averages to 1x1 (``pool_size``) and uses 512 hidden units (``head_hidden``),
as the usual CIFAR VGGs do.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnnlab.layers import get_act_layer, get_norm_layer, make_act, mlp_classifier
from cnnlab.layers.create import LayerFactory
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

# AdamW trains both the plain and the batch-norm variants without per-variant lr tuning.
TRAIN_DEFAULTS = TrainDefaults(optimizer="adamw", lr=0.002, weight_decay=0.05, epochs=5, batch_size=128,
                               label_smoothing=0.1, min_image_size=28, min_steps=500)

# Output channels of every 3x3 conv, block by block (configurations A, B, D, E of the paper).
VGG_CFGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
# vgg_small_bn, for 28x28 images: three VGG blocks of two 3x3 convs at a quarter of VGG's widths.
VGG_SMALL_CFG = ((16, 16), (32, 32), (64, 64))
SMALL_INPUT_POOLED_BLOCKS = 3  # blocks that end in a max pool with the small-input stem


class VGGBlock(nn.Sequential):
    """``len(channels)`` x (3x3 conv [-> norm] -> act), then a 2x2 max pool when ``pool``."""

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        *,
        pool: bool = True,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory = nn.ReLU,
        conv_layer: LayerFactory = nn.Conv2d,
    ) -> None:
        super().__init__()
        for out_channels in channels:
            self.append(conv_layer(in_channels, out_channels, kernel_size=3, padding=1))
            if norm_layer is not None:
                self.append(norm_layer(out_channels))
            self.append(make_act(act_layer))
            in_channels = out_channels
        if pool:
            self.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.pool = pool
        self.out_channels = in_channels


class VGG(ImageClassifier):
    """Five VGG blocks, an adaptive average pool and a three-layer classifier."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "vgg11",
        cfg: Sequence[Sequence[int]] = VGG_CFGS["vgg11"],
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        batch_norm: bool = False,
        norm_layer: str | LayerFactory = "batchnorm",
        act_layer: str | LayerFactory = "relu",
        drop_rate: float = 0.5,
        pool_size: int | None = None,
        head_hidden: int | None = None,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        small = use_small_stem(small_stem, input_size)
        pooled = SMALL_INPUT_POOLED_BLOCKS if small else len(cfg)
        norm = get_norm_layer(norm_layer) if batch_norm else None
        act = get_act_layer(act_layer)
        blocks = []
        for i, channels in enumerate(cfg):
            blocks.append(VGGBlock(in_channels, channels, pool=i < pooled, norm_layer=norm, act_layer=act))
            in_channels = blocks[-1].out_channels
        self.features = nn.Sequential(*blocks)
        self.num_features = in_channels
        pool_size = pool_size or (1 if small else 7)
        hidden = head_hidden or (512 if small else 4096)
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = mlp_classifier(in_channels * pool_size * pool_size, (hidden, hidden), num_classes,
                                         drop_rate=drop_rate, act_layer=act)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 512, h, w)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.classify(torch.flatten(self.avgpool(x), 1), pre_logits)


def torchvision_key(model: VGG, key: str) -> str:
    """torchvision's flat ``features.<i>`` -> our ``features.<block>.<j>`` (its blocks always pool)."""
    if not key.startswith("features."):
        return key
    _, index, rest = key.split(".", 2)
    i = int(index)
    for b, block in enumerate(model.features):
        tv_len = len(block) + (0 if block.pool else 1)
        if i < tv_len:
            return f"features.{b}.{i}.{rest}"
        i -= tv_len
    return key


def _vgg(arch: str, **kwargs) -> VGG:
    return VGG(arch=arch, **kwargs)


@register_model
def vgg11(**kwargs) -> VGG:
    """VGG-11 (configuration A)."""
    model_args = dict(cfg=VGG_CFGS["vgg11"], batch_norm=False)
    return _vgg("vgg11", **dict(model_args, **kwargs))


@register_model
def vgg13(**kwargs) -> VGG:
    """VGG-13 (configuration B)."""
    model_args = dict(cfg=VGG_CFGS["vgg13"], batch_norm=False)
    return _vgg("vgg13", **dict(model_args, **kwargs))


@register_model
def vgg16(**kwargs) -> VGG:
    """VGG-16 (configuration D)."""
    model_args = dict(cfg=VGG_CFGS["vgg16"], batch_norm=False)
    return _vgg("vgg16", **dict(model_args, **kwargs))


@register_model
def vgg19(**kwargs) -> VGG:
    """VGG-19 (configuration E)."""
    model_args = dict(cfg=VGG_CFGS["vgg19"], batch_norm=False)
    return _vgg("vgg19", **dict(model_args, **kwargs))


@register_model
def vgg11_bn(**kwargs) -> VGG:
    """VGG-11 (configuration A) with batch normalization."""
    model_args = dict(cfg=VGG_CFGS["vgg11"], batch_norm=True)
    return _vgg("vgg11_bn", **dict(model_args, **kwargs))


@register_model
def vgg13_bn(**kwargs) -> VGG:
    """VGG-13 (configuration B) with batch normalization."""
    model_args = dict(cfg=VGG_CFGS["vgg13"], batch_norm=True)
    return _vgg("vgg13_bn", **dict(model_args, **kwargs))


@register_model
def vgg16_bn(**kwargs) -> VGG:
    """VGG-16 (configuration D) with batch normalization."""
    model_args = dict(cfg=VGG_CFGS["vgg16"], batch_norm=True)
    return _vgg("vgg16_bn", **dict(model_args, **kwargs))


@register_model
def vgg19_bn(**kwargs) -> VGG:
    """VGG-19 (configuration E) with batch normalization."""
    model_args = dict(cfg=VGG_CFGS["vgg19"], batch_norm=True)
    return _vgg("vgg19_bn", **dict(model_args, **kwargs))


@register_model
def vgg_small_bn(**kwargs) -> VGG:
    """Three VGG blocks (2 convs each, 16-32-64 channels) with batch normalization, for 28x28 images."""
    model_args = dict(cfg=VGG_SMALL_CFG, batch_norm=True, head_hidden=256)
    return _vgg("vgg_small_bn", **dict(model_args, **kwargs))
