"""NiN (Network in Network): convolutions followed by 1x1 convs ("mlpconv"), global average pooling.

Paper: "Network In Network", Lin, Chen and Yan, ICLR 2014. https://arxiv.org/abs/1312.4400

Block: a `NiNBlock` is a KxK conv followed by two 1x1 convs, each with ReLU: a small MLP slid
over every position. The network (the course's version, from Dive into Deep Learning) is three
NiN blocks (96, 256, 384 channels) with 3x3/2 max pools, dropout, then a last NiN block with one
channel per class and a global average pool: no fully connected layer. ``forward_features``
ends at the third pool (384 channels); the classifier is the last NiN block and the pooling.
Weights are initialised with Xavier/Glorot as in the course.

``nin_small_bn`` puts a batch norm after every conv but the class-map conv (as torchvision's
``vgg*_bn`` does for VGG): the mlpconv blocks and the global average pooling stay, and the net
trains in a few epochs with SGD instead of needing Adam's many small steps.

Small-input stem (inputs <= 64 px, or ``small_stem=True``): the first block's 11x11 stride-4
conv becomes a 5x5 stride-1 conv (padding 2); the three max pools stay, so 32x32 inputs end in a
3x3 map and 28x28 in 2x2 instead of a crash.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cnnlab.layers import get_act_layer, get_norm_layer, make_act
from cnnlab.layers.create import LayerFactory
from cnnlab.models._base import ImageClassifier, check_count, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

# No batch norm: AdamW trains the stack of ReLU mlpconv blocks without lr tuning.
TRAIN_DEFAULTS = TrainDefaults(optimizer="adamw", lr=0.002, weight_decay=0.05, epochs=5, batch_size=128,
                               min_image_size=28, min_steps=500)
# With batch norm: SGD with a one-cycle schedule, as the other batch-norm families.
BN_TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                                  min_steps=500)

# (out channels, kernel, stride, padding) of each feature block; a 3x3/2 max pool follows each.
NIN_BLOCKS = ((96, 11, 4, 0), (256, 5, 1, 2), (384, 3, 1, 1))
NIN_SMALL_BLOCKS = ((24, 11, 4, 0), (64, 5, 1, 2), (96, 3, 1, 1))  # a quarter of the widths
SMALL_STEM_KERNEL = (5, 1, 2)  # kernel, stride, padding of the first block's conv for small inputs


class NiNBlock(nn.Sequential):
    """KxK conv -> act -> 1x1 conv -> act -> 1x1 conv -> act (a norm after each conv if ``norm_layer``).

    ``norm_last=False`` leaves the last conv without a norm: the class-map block's last conv gives
    the logits.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 *, act_layer: LayerFactory = nn.ReLU, norm_layer: LayerFactory | None = None,
                 norm_last: bool = True) -> None:
        convs = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding),
                 nn.Conv2d(out_channels, out_channels, 1), nn.Conv2d(out_channels, out_channels, 1)]
        layers: list[nn.Module] = []
        for i, conv in enumerate(convs):
            layers.append(conv)
            if norm_layer is not None and (norm_last or i < len(convs) - 1):
                layers.append(norm_layer(out_channels))
            layers.append(make_act(act_layer))
        super().__init__(*layers)


class NiN(ImageClassifier):
    """Three NiN blocks with max pools, then a class-map NiN block and global average pooling."""

    classifier_name = "classifier"

    def __init__(
        self,
        *,
        arch: str = "nin",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        blocks: Sequence[tuple[int, int, int, int]] = NIN_BLOCKS,
        act_layer: str | LayerFactory = "relu",
        norm_layer: str | LayerFactory | None = None,
        drop_rate: float = 0.5,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        self.act_layer = get_act_layer(act_layer)
        self.norm_layer = get_norm_layer(norm_layer) if norm_layer is not None else None
        if use_small_stem(small_stem, input_size):
            blocks = ((blocks[0][0], *SMALL_STEM_KERNEL), *blocks[1:])
        layers: list[nn.Module] = []
        for out_channels, kernel, stride, padding in blocks:
            layers += [NiNBlock(in_channels, out_channels, kernel, stride, padding, act_layer=self.act_layer,
                                norm_layer=self.norm_layer),
                       nn.MaxPool2d(3, stride=2)]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.num_features = in_channels
        self.drop = nn.Dropout(drop_rate)
        self.classifier = self._make_classifier(num_classes)
        self._init_weights()

    def _make_classifier(self, num_classes: int) -> nn.Sequential:
        class_maps = NiNBlock(self.num_features, num_classes, 3, padding=1, act_layer=self.act_layer,
                              norm_layer=self.norm_layer, norm_last=False)
        return nn.Sequential(class_maps, nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def _init_weights(self, module: nn.Module | None = None) -> None:
        for m in (module or self).modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 384, h, w)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """``pre_logits`` gives the globally pooled features (B, 384): the class maps are the logits."""
        if pre_logits:
            return torch.flatten(self.classifier[1](x), 1)
        return self.classifier(self.drop(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = check_count("num_classes", num_classes, "e.g. num_classes=10")
        device = next(self.classifier.parameters()).device
        self.classifier = self._make_classifier(num_classes).to(device)
        self._init_weights(self.classifier)


@register_model
def nin(**kwargs) -> NiN:
    """Network in Network (mlpconv blocks, global average pooling, no FC layers)."""
    return NiN(arch="nin", **kwargs)


@register_model
def nin_small(**kwargs) -> NiN:
    """NiN at a quarter of the widths (24-64-96 channels), for 28x28 images."""
    model_args = dict(blocks=NIN_SMALL_BLOCKS)
    return NiN(arch="nin_small", **dict(model_args, **kwargs))


@register_model(train_defaults=BN_TRAIN_DEFAULTS)
def nin_small_bn(**kwargs) -> NiN:
    """``nin_small`` with a batch norm after every conv but the class-map conv."""
    model_args = dict(blocks=NIN_SMALL_BLOCKS, norm_layer="batchnorm")
    return NiN(arch="nin_small_bn", **dict(model_args, **kwargs))
