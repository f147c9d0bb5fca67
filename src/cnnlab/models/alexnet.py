"""AlexNet: the network that won ILSVRC-2012 and started the deep-learning era of vision.

Paper: "ImageNet Classification with Deep Convolutional Neural Networks", Krizhevsky, Sutskever
and Hinton, NeurIPS 2012. https://papers.nips.cc/paper/4824

Two variants:

- ``alexnet``: torchvision's version (from "One weird trick...", Krizhevsky 2014): 64-192-384-256-256
  filters, no LRN, an adaptive 6x6 average pool before the classifier, dropout before each hidden
  FC layer. Same parameters and module names as ``torchvision.models.alexnet``.
- ``alexnet_2012``: the paper's single-tower configuration: 96-256-384-384-256 filters, local
  response normalization after ReLU in layers 1 and 2, overlapping max pooling (3x3, stride 2),
  227x227 input, FC 4096-4096-classes with dropout after the hidden FC layers. On 3x227x227:
  CONV1 55x55x96 (34,944 parameters), POOL1 27x27x96, CONV2 27x27x256, POOL2 13x13x256,
  CONV3/4 13x13x384, CONV5 13x13x256, POOL3 6x6x256. LRN uses k=2, n=5, alpha=1e-4, beta=0.75
  in the paper's formula; torch's LocalResponseNorm divides alpha by n, so it gets alpha=5e-4.
  Its classifier sees the flattened POOL3 map, so it takes exactly its ``input_size`` (227 by
  default; at 224 POOL3 is 5x5). ``paper_init=True`` uses the paper's N(0, 0.01) weights and
  unit biases in CONV2, CONV4, CONV5 and the hidden FC layers.

Small-input stem (inputs <= 64 px, or ``small_stem=True``): CONV1 becomes a 5x5 stride-1 conv
(padding 2) with the same filter count, the three 3x3/2 max pools stay, so 32x32 inputs end in a
3x3 map and 28x28 in 2x2 (instead of a crash). The classifier is narrowed: ``alexnet`` pools to
2x2 (``pool_size``) and both use 1024 hidden units (``head_hidden``).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from cnnlab.layers import get_act_layer, make_act, mlp_classifier
from cnnlab.layers.create import LayerFactory
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

# No batch norm: AdamW trains the deep un-normalised stack without per-variant lr tuning.
TRAIN_DEFAULTS = TrainDefaults(optimizer="adamw", lr=0.002, weight_decay=0.05, epochs=5, batch_size=128,
                               label_smoothing=0.1, min_image_size=28, min_steps=500)

SMALL_HEAD_HIDDEN = 1024
ALEXNET_WIDTHS = (64, 192, 384, 256, 256)  # torchvision's filters of CONV1..CONV5


def _stem_conv(in_channels: int, out_channels: int, small: bool, imagenet_padding: int) -> nn.Conv2d:
    if small:
        return nn.Conv2d(in_channels, out_channels, kernel_size=5, stride=1, padding=2)
    return nn.Conv2d(in_channels, out_channels, kernel_size=11, stride=4, padding=imagenet_padding)


class AlexNet(ImageClassifier):
    """torchvision's AlexNet: five convs, three max pools, adaptive average pool, three FC layers."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "alexnet",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        drop_rate: float = 0.5,
        pool_size: int | None = None,
        head_hidden: int | None = None,
        act_layer: str | LayerFactory = "relu",
        widths: Sequence[int] = ALEXNET_WIDTHS,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        small = use_small_stem(small_stem, input_size)
        act = get_act_layer(act_layer)
        c1, c2, c3, c4, c5 = widths
        self.features = nn.Sequential(
            _stem_conv(in_channels, c1, small, imagenet_padding=2), make_act(act), nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2), make_act(act), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, padding=1), make_act(act),
            nn.Conv2d(c3, c4, 3, padding=1), make_act(act),
            nn.Conv2d(c4, c5, 3, padding=1), make_act(act), nn.MaxPool2d(3, 2),
        )
        self.num_features = c5
        pool_size = pool_size or (2 if small else 6)
        hidden = head_hidden or (SMALL_HEAD_HIDDEN if small else 4096)
        self.avgpool = nn.AdaptiveAvgPool2d(pool_size)
        self.classifier = mlp_classifier(c5 * pool_size * pool_size, (hidden, hidden), num_classes,
                                         drop_rate=drop_rate, act_layer=act, dropout_first=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, widths[-1], h, w)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.classify(torch.flatten(self.avgpool(x), 1), pre_logits)


class AlexNet2012(ImageClassifier):
    """The paper's AlexNet on one GPU: 96-256-384-384-256 filters, LRN, overlapping pooling."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "alexnet_2012",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 227,
        small_stem: bool | None = None,
        drop_rate: float = 0.5,
        head_hidden: int | None = None,
        lrn_size: int = 5,
        paper_init: bool = False,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                         fixed_input_size=True)
        small = use_small_stem(small_stem, input_size)

        def lrn() -> nn.LocalResponseNorm:
            return nn.LocalResponseNorm(lrn_size, alpha=1e-4 * lrn_size, beta=0.75, k=2.0)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", _stem_conv(in_channels, 96, small, imagenet_padding=0)), ("relu1", nn.ReLU(inplace=True)),
            ("norm1", lrn()), ("pool1", nn.MaxPool2d(3, 2)),
            ("conv2", nn.Conv2d(96, 256, 5, padding=2)), ("relu2", nn.ReLU(inplace=True)),
            ("norm2", lrn()), ("pool2", nn.MaxPool2d(3, 2)),
            ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, 3, padding=1)), ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, 3, padding=1)), ("relu5", nn.ReLU(inplace=True)),
            ("pool3", nn.MaxPool2d(3, 2)),
        ]))
        self.num_features = 256
        h, w = self.feature_hw()
        hidden = head_hidden or (SMALL_HEAD_HIDDEN if small else 4096)
        self.classifier = mlp_classifier(256 * h * w, (hidden, hidden), num_classes, drop_rate=drop_rate)
        if paper_init:
            self._init_as_paper()

    def _init_as_paper(self) -> None:
        """Weights ~ N(0, 0.01); biases 1 in CONV2, CONV4, CONV5 and the hidden FC layers, else 0."""
        linears = [m for m in self.classifier if isinstance(m, nn.Linear)]
        ones = {self.features.conv2, self.features.conv4, self.features.conv5, *linears[:-1]}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.constant_(m.bias, 1.0 if m in ones else 0.0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 256, 6, 6) for 227x227 inputs

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.classify(torch.flatten(x, 1), pre_logits)


@register_model
def alexnet(**kwargs) -> AlexNet:
    """AlexNet as in torchvision (64-192-384-256-256 filters, no LRN)."""
    return AlexNet(arch="alexnet", **kwargs)


@register_model
def alexnet_2012(**kwargs) -> AlexNet2012:
    """AlexNet as in the 2012 paper (96-256-384-384-256 filters, LRN, 227x227), single tower."""
    return AlexNet2012(arch="alexnet_2012", **kwargs)


@register_model
def alexnet_small(**kwargs) -> AlexNet:
    """AlexNet at a quarter of the filters (16-48-96-64-64) and FC 256-256 with dropout, for 28x28 images."""
    model_args = dict(widths=(16, 48, 96, 64, 64), head_hidden=256)
    return AlexNet(arch="alexnet_small", **dict(model_args, **kwargs))
