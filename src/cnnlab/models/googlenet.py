"""GoogLeNet (Inception v1): parallel 1x1, 3x3, 5x5 and pooling branches, concatenated.

Paper: "Going Deeper with Convolutions", Szegedy et al., CVPR 2015. https://arxiv.org/abs/1409.4842

Blocks: `Inception` (four branches: 1x1; 1x1 -> 3x3; 1x1 -> "5x5"; 3x3 max pool -> 1x1, their
outputs concatenated) and `InceptionAux` (the auxiliary classifiers on inception 4a and 4d, used
only in training, ``aux_logits=True``). Every conv is conv -> BN -> ReLU as in torchvision (which
added batch norm to the 2014 network). The architecture is data: ``GOOGLENET_STAGES`` lists each
inception block's branch widths and the max pool after each stage. Same parameters and module
names as ``torchvision.models.googlenet`` with the same ``aux_logits``; like torchvision the
"5x5" branch uses a 3x3 conv (``branch3_kernel=5`` gives the paper's 5x5). With
``aux_logits=True`` a model in training mode returns ``GoogLeNetOutputs(logits, aux_logits2,
aux_logits1)``; in eval mode it returns the logits. ``transform_input=True`` maps ImageNet-normalised
inputs to the normalisation torchvision's pretrained weights expect.

Small-input stem (inputs <= 64 px, or ``small_stem=True``): the 7x7 stride-2 conv becomes a 3x3
stride-1 conv and the first max pool is dropped (total stride 8 instead of 32 at the end), so
32x32 inputs reach inception 3 at 16x16 and end in a 4x4 map (28x28 too, thanks to ceil-mode
pooling) instead of 1x1. ``small_stem_pool=True`` keeps the first max pool (28x28 inputs reach
inception 3 at 7x7): a quarter of the cost.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.layers import ConvNormAct
from cnnlab.layers.create import LayerFactory
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                               min_steps=500)

# Per stage: {block name: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj)}, then (pool name, kernel) or None.
GOOGLENET_STAGES: tuple[tuple[dict[str, tuple[int, ...]], tuple[str, int] | None], ...] = (
    ({"inception3a": (64, 96, 128, 16, 32, 32),
      "inception3b": (128, 128, 192, 32, 96, 64)}, ("maxpool3", 3)),
    ({"inception4a": (192, 96, 208, 16, 48, 64),
      "inception4b": (160, 112, 224, 24, 64, 64),
      "inception4c": (128, 128, 256, 24, 64, 64),
      "inception4d": (112, 144, 288, 32, 64, 64),
      "inception4e": (256, 160, 320, 32, 128, 128)}, ("maxpool4", 2)),
    ({"inception5a": (256, 160, 320, 32, 128, 128),
      "inception5b": (384, 192, 384, 48, 128, 128)}, None),
)
AUX_TAPS = {"aux1": "inception4a", "aux2": "inception4d"}  # auxiliary classifier -> block it reads
STEM_WIDTHS = (64, 64, 192)  # conv1, conv2 (1x1), conv3 (3x3)

# googlenet_small, for 28x28 images: every width half the paper's, and the blocks of inception 3
# and the first two of inception 4 (four parallel branches each, as the paper's).
GOOGLENET_SMALL_STAGES: tuple[tuple[dict[str, tuple[int, ...]], tuple[str, int] | None], ...] = (
    ({"inception3a": (32, 48, 64, 8, 16, 16),
      "inception3b": (64, 64, 96, 16, 48, 32)}, ("maxpool3", 3)),
    ({"inception4a": (96, 48, 104, 8, 24, 32),
      "inception4b": (80, 56, 112, 12, 32, 32)}, None),
)


def batch_norm(num_channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(num_channels, eps=0.001)  # as in the TensorFlow original and torchvision


class GoogLeNetOutputs(NamedTuple):
    logits: torch.Tensor
    aux_logits2: torch.Tensor
    aux_logits1: torch.Tensor


class Inception(nn.Module):
    """Four parallel branches whose outputs are concatenated along the channels."""

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        *,
        branch3_kernel: int = 3,
        norm_layer: LayerFactory = batch_norm,
    ) -> None:
        super().__init__()

        def conv(cin: int, cout: int, k: int) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, norm_layer=norm_layer)

        self.branch1 = conv(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, ch3x3red, 1), conv(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(conv(in_channels, ch5x5red, 1), conv(ch5x5red, ch5x5, branch3_kernel))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     conv(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool -> 1x1 conv (128) -> FC 1024 -> dropout -> FC classes."""

    def __init__(self, in_channels: int, num_classes: int, *, drop_rate: float = 0.7,
                 norm_layer: LayerFactory = batch_norm) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = ConvNormAct(in_channels, 128, 1, norm_layer=norm_layer)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(drop_rate)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.drop(self.act(self.fc1(x))))


class GoogLeNet(ImageClassifier):
    """Stem, nine inception blocks in three stages, global average pool, dropout, FC."""

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "googlenet",
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int | Sequence[int] = 224,
        small_stem: bool | None = None,
        small_stem_pool: bool = False,
        aux_logits: bool = False,
        transform_input: bool = False,
        branch3_kernel: int = 3,
        norm_layer: LayerFactory = batch_norm,
        drop_rate: float = 0.2,
        aux_drop_rate: float = 0.7,
        stages: Sequence[tuple[dict[str, Sequence[int]], tuple[str, int] | None]] = GOOGLENET_STAGES,
        stem_widths: Sequence[int] = STEM_WIDTHS,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        small = use_small_stem(small_stem, input_size)
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        w1, w2, w3 = stem_widths
        self.conv1 = (ConvNormAct(in_channels, w1, 3, norm_layer=norm_layer) if small
                      else ConvNormAct(in_channels, w1, 7, stride=2, padding=3, norm_layer=norm_layer))
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True) if not small or small_stem_pool else nn.Identity()
        self.conv2 = ConvNormAct(w1, w2, 1, norm_layer=norm_layer)
        self.conv3 = ConvNormAct(w2, w3, 3, norm_layer=norm_layer)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.body_names = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"]
        channels, tap_channels = w3, {}
        for blocks, pool in stages:
            for name, widths in blocks.items():
                block = Inception(channels, *widths, branch3_kernel=branch3_kernel, norm_layer=norm_layer)
                self.add_module(name, block)
                self.body_names.append(name)
                channels = tap_channels[name] = block.out_channels
            if pool is not None:
                pool_name, kernel = pool
                self.add_module(pool_name, nn.MaxPool2d(kernel, stride=2, ceil_mode=True))
                self.body_names.append(pool_name)
        if aux_logits:
            missing = sorted(set(AUX_TAPS.values()) - set(tap_channels))
            if missing:
                raise ConfigError(f"aux_logits=True needs the blocks {', '.join(missing)}, which these stages lack; "
                                  "use aux_logits=False")
            for aux, tap in AUX_TAPS.items():
                self.add_module(aux, InceptionAux(tap_channels[tap], num_classes, drop_rate=aux_drop_rate,
                                                  norm_layer=norm_layer))
        self.num_features = channels
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def feature_modules(self) -> list[nn.Module]:
        return [getattr(self, name) for name in self.body_names]

    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet mean/std normalisation -> the (x - 0.5) / 0.5 one of the pretrained weights."""
        mean = torch.tensor([0.485, 0.456, 0.406], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * std + mean - 0.5) / 0.5

    def _body(self, x: torch.Tensor, taps: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if self.transform_input:
            x = self._transform(x)
        for name in self.body_names:
            x = getattr(self, name)(x)
            if taps is not None and name in AUX_TAPS.values():
                taps[name] = x
        return x  # (B, 1024, h, w) with the paper's stages

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._body(x, None)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return self.classify(x, pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        self.check_input(x)
        if not (self.aux_logits and self.training):
            return self.forward_head(self.forward_features(x))
        taps: dict[str, torch.Tensor] = {}
        logits = self.forward_head(self._body(x, taps))
        return GoogLeNetOutputs(logits, self.aux2(taps[AUX_TAPS["aux2"]]), self.aux1(taps[AUX_TAPS["aux1"]]))

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        if self.aux_logits:
            for aux in AUX_TAPS:
                old = getattr(self, aux).fc2
                getattr(self, aux).fc2 = nn.Linear(old.in_features, num_classes, device=old.weight.device,
                                                   dtype=old.weight.dtype)


def torchvision_key(model: GoogLeNet, key: str) -> str | None:
    """torchvision's weights carry the auxiliary classifiers; a model without them drops those keys."""
    return None if key.startswith(tuple(AUX_TAPS)) and not model.aux_logits else key


@register_model
def googlenet(**kwargs) -> GoogLeNet:
    """GoogLeNet / Inception v1 (with batch norm, as torchvision); ``aux_logits=True`` adds the aux heads."""
    return GoogLeNet(arch="googlenet", **kwargs)


@register_model
def googlenet_small(**kwargs) -> GoogLeNet:
    """GoogLeNet at half width with inception 3a-4b (4 parallel branches each), 7x7 and 4x4 maps for 28x28."""
    model_args = dict(stages=GOOGLENET_SMALL_STAGES, stem_widths=(32, 32, 64), small_stem_pool=True)
    return GoogLeNet(arch="googlenet_small", **dict(model_args, **kwargs))
