"""Conv -> norm -> activation, the unit most CNNs are built from.

Attributes are named ``conv``, ``bn``, ``act`` (torchvision's ``BasicConv2d`` uses the same
names, so its weights load unchanged).
"""
from __future__ import annotations

from torch import nn

from cnnlab.layers.create import LayerFactory, make_act


class ConvNormAct(nn.Sequential):
    """A bias-free convolution followed by ``norm_layer`` and ``act_layer`` (either may be None)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        *,
        groups: int = 1,
        conv_layer: LayerFactory = nn.Conv2d,
        norm_layer: LayerFactory | None = nn.BatchNorm2d,
        act_layer: LayerFactory | None = nn.ReLU,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2 if padding is None else padding
        self.conv = conv_layer(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                               groups=groups, bias=norm_layer is None)
        if norm_layer is not None:
            self.bn = norm_layer(out_channels)
        if act_layer is not None:
            self.act = make_act(act_layer)
