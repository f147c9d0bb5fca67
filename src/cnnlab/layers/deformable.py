"""Deformable convolution: each filter tap samples the input at a learned, input-dependent offset.

Papers: "Deformable Convolutional Networks", Dai et al., ICCV 2017 (arXiv:1703.06211), and
"Deformable ConvNets v2", Zhu et al., CVPR 2019 (arXiv:1811.11168), which adds a per-tap
modulation mask in [0, 1].

A plain convolution reads its ``F x F`` taps on a fixed grid. Here an ordinary convolution with
the same kernel, stride, padding and dilation predicts, at every output position, a (dy, dx)
offset per tap (``2*F*F`` channels per offset group) and, with ``modulated=True``, a mask
(``F*F`` channels, through a sigmoid); torchvision's ``deform_conv2d`` then samples the input
bilinearly at the shifted taps. The offset predictor starts at zero, so a fresh layer is exactly a
plain convolution (v1) or half of it (v2, mask = sigmoid(0) = 0.5) and learns to deform.

Parameters: the main conv's ``F*F*C/G*K (+K)`` plus the predictor's, a conv ``C -> (2 or 3)*O*F*F``
channels for ``O`` offset groups. The output size follows the ordinary convolution rule.
"""
from __future__ import annotations

import torch
from torch import nn


class DeformableConv2d(nn.Module):
    """``offset`` (an nn.Conv2d predicting offsets [and masks]) + ``conv`` (torchvision's DeformConv2d)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        dilation: int = 1,
        *,
        groups: int = 1,
        offset_groups: int = 1,
        bias: bool = True,
        modulated: bool = False,
    ) -> None:
        from torchvision.ops import DeformConv2d  # here, so that importing cnnlab.layers stays light

        super().__init__()
        padding = dilation * (kernel_size - 1) // 2 if padding is None else padding
        taps = offset_groups * kernel_size * kernel_size
        self.modulated = modulated
        self.num_offsets = 2 * taps  # (dy, dx) per tap and offset group
        self.offset = nn.Conv2d(in_channels, self.num_offsets + (taps if modulated else 0), kernel_size,
                                stride=stride, padding=padding, dilation=dilation)
        nn.init.zeros_(self.offset.weight)
        nn.init.zeros_(self.offset.bias)
        self.conv = DeformConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                 dilation=dilation, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        predicted = self.offset(x)  # (B, 2*O*F*F [+ O*F*F], H_out, W_out)
        offset = predicted[:, : self.num_offsets]
        mask = predicted[:, self.num_offsets :].sigmoid() if self.modulated else None
        return self.conv(x, offset, mask)
