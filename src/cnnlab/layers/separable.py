"""Separable convolutions: a dense ``F x F`` convolution factored into cheaper convolutions.

Depthwise-separable (MobileNet, Xception; Howard et al. 2017, arXiv:1704.04861): a depthwise
``F x F`` convolution filters each of the ``C`` channels on its own (``groups=C``), then a
pointwise 1x1 convolution mixes channels ``C -> K``::

    params  F*F*C + C*K            instead of  F*F*C*K          (biases aside)
    MACs    (F*F*C + C*K) * H*W    instead of  F*F*C*K * H*W    ratio about 1/K + 1/F^2

(`cnnlab conv --separable` prints both.) Without norm and activation in between it is a dense
convolution whose weights are constrained to ``W[k, c] = pointwise[k, c] * depthwise[c]``.

Spatially separable (Inception v3's factorized 7x7; Szegedy et al. 2016): an ``F x 1``
convolution followed by a ``1 x F`` one: ``F*C*M + F*M*K`` weights instead of ``F*F*C*K``. With one
channel and nothing in between it is the ``F x F`` convolution with the rank-1 kernel
``column (x) row``.
"""
from __future__ import annotations

from torch import nn

from cnnlab.layers.conv_norm_act import ConvNormAct
from cnnlab.layers.create import LayerFactory


class DepthwiseSeparableConv(nn.Sequential):
    """``depthwise`` F x F conv (one filter per channel) -> ``pointwise`` 1x1 conv ``C -> K``.

    Each part is a `ConvNormAct`: with ``norm_layer``/``act_layer`` (MobileNet v1 uses
    BatchNorm + ReLU after both) or without (plain convolutions with biases).
    ``(B, C, H, W) -> (B, K, H', W')`` with ``H' = (H + 2*(F//2) - F)/S + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(in_channels, in_channels, kernel_size, stride, groups=in_channels,
                                     norm_layer=norm_layer, act_layer=act_layer)
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, norm_layer=norm_layer, act_layer=act_layer)


class SpatiallySeparableConv(nn.Sequential):
    """``vertical`` F x 1 conv ``C -> M`` -> ``horizontal`` 1 x F conv ``M -> K`` (M defaults to K).

    Padding ``F//2`` on the filtered axis keeps the size at stride 1; a stride applies to rows in the
    first conv and to columns in the second, so the output size equals an F x F conv's.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        *,
        mid_channels: int | None = None,
        norm_layer: LayerFactory | None = None,
        act_layer: LayerFactory | None = None,
    ) -> None:
        super().__init__()
        mid = mid_channels or out_channels
        pad = kernel_size // 2
        self.vertical = ConvNormAct(in_channels, mid, (kernel_size, 1), (stride, 1), (pad, 0),
                                    norm_layer=norm_layer, act_layer=act_layer)
        self.horizontal = ConvNormAct(mid, out_channels, (1, kernel_size), (1, stride), (0, pad),
                                      norm_layer=norm_layer, act_layer=act_layer)
