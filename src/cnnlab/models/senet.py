"""SENet: ResNets with squeeze-and-excitation in every residual block.

Paper: "Squeeze-and-Excitation Networks", Hu, Shen and Sun, CVPR 2018. https://arxiv.org/abs/1709.01507

An SE-ResNet is a `cnnlab.models.resnet.ResNet` whose blocks get ``attn_layer=SqueezeExcite``:
the gate rescales the residual branch's channels just before the addition of the shortcut (the
paper's "SE-ResNet module", Fig. 3). Everything else - stems (including the small-input stem for
inputs <= 64 px), stages, head, ``dims`` - is ResNet's, so this file holds only the variants.
SE costs little: se_resnet50 has 28.1M parameters, 10% more than resnet50's 25.6M (the paper: 3.87 vs
3.86 GFLOPs). The gate's FCs are ``nn.Linear`` layers, as in the paper.
torchvision has no SENet, so there are no torchvision weights for it.
"""
from __future__ import annotations

from functools import partial

from cnnlab.layers.squeeze_excite import SqueezeExcite
from cnnlab.models._registry import TrainDefaults, register_model
from cnnlab.models.resnet import BasicBlock, Bottleneck, ResNet

TRAIN_DEFAULTS = TrainDefaults(lr=0.1, epochs=5, batch_size=128, label_smoothing=0.1, min_image_size=28,
                               min_steps=500)

SE_REDUCTION = 16  # the paper's bottleneck ratio r


def _se_resnet(arch: str, **kwargs) -> ResNet:
    kwargs.setdefault("attn_layer", partial(SqueezeExcite, reduction=SE_REDUCTION))
    return ResNet(arch=arch, **kwargs)


@register_model
def se_resnet18(**kwargs) -> ResNet:
    """SE-ResNet-18 (BasicBlock + SE, 2-2-2-2)."""
    model_args = dict(block=BasicBlock, layers=(2, 2, 2, 2))
    return _se_resnet("se_resnet18", **dict(model_args, **kwargs))


@register_model
def se_resnet34(**kwargs) -> ResNet:
    """SE-ResNet-34 (BasicBlock + SE, 3-4-6-3)."""
    model_args = dict(block=BasicBlock, layers=(3, 4, 6, 3))
    return _se_resnet("se_resnet34", **dict(model_args, **kwargs))


@register_model
def se_resnet50(**kwargs) -> ResNet:
    """SE-ResNet-50 (Bottleneck + SE, 3-4-6-3)."""
    model_args = dict(block=Bottleneck, layers=(3, 4, 6, 3))
    return _se_resnet("se_resnet50", **dict(model_args, **kwargs))


@register_model
def se_resnet101(**kwargs) -> ResNet:
    """SE-ResNet-101 (Bottleneck + SE, 3-4-23-3)."""
    model_args = dict(block=Bottleneck, layers=(3, 4, 23, 3))
    return _se_resnet("se_resnet101", **dict(model_args, **kwargs))
