"""Squeeze-and-excitation: reweight each channel by a gate computed from the whole feature map.

Paper: "Squeeze-and-Excitation Networks", Hu, Shen and Sun, CVPR 2018. https://arxiv.org/abs/1709.01507

squeeze: global average pool, (B, C, *spatial) -> (B, C); excitation: FC C -> C/r -> ReLU -> FC
C/r -> C -> sigmoid; scale: x * gate per channel. With reduction r = 16 it adds ``2 C^2 / r + C + C/r``
parameters per block (weights and biases of the two FCs). The pooling averages over every axis
after the channels, so the same module serves 1-D, 2-D and 3-D feature maps.
"""
from __future__ import annotations

import torch
from torch import nn

from cnnlab.layers.create import LayerFactory, make_act


class SqueezeExcite(nn.Module):
    """Channel attention: ``x * sigmoid(fc2(act(fc1(mean(x)))))``.

    Args:
        channels: channels of the input (and output).
        reduction: the bottleneck ratio r of the excitation MLP (the paper's default 16).
        min_channels: the bottleneck never gets fewer units than this (narrow layers).
        act_layer: the activation between the two FCs.
    """

    def __init__(
        self, channels: int, reduction: int = 16, *, min_channels: int = 8, act_layer: LayerFactory = nn.ReLU
    ) -> None:
        super().__init__()
        hidden = max(min_channels, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.act = make_act(act_layer)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=tuple(range(2, x.dim())))  # (B, C)
        weights = self.gate(self.fc2(self.act(self.fc1(squeezed))))  # (B, C), each in (0, 1)
        return x * weights.view(*weights.shape, *([1] * (x.dim() - 2)))
