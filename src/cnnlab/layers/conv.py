"""Convolutions by dimension and option: 1-D, 2-D, 3-D, dilated, grouped and transposed.

torch already has these layers (``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d``, with
``dilation=`` and ``groups=``); the factories here pick the class by the number of spatial
dimensions, choose the padding that keeps the size, and check arguments with messages that name
the fix. The formulas they obey are in `cnnlab.inspect.conv_arithmetic`:

- 1-D (sequences, ``(B, C, L)``), 2-D (images, ``(B, C, H, W)``), 3-D (volumes or video,
  ``(B, C, D, H, W)``): the output-size rule ``(N + 2P - D(F-1) - 1)/S + 1`` holds per axis and a
  filter has ``F^dims * C/G`` weights.
- dilated: the ``F`` taps are ``D`` pixels apart, so the filter spans ``D(F-1) + 1`` pixels (a
  larger receptive field for the same weights); padding ``D(F-1)/2`` keeps the size.
- grouped: the channels are split into ``G`` groups convolved separately, so each filter sees
  ``C/G`` channels: ``1/G`` of the weights and MACs (``G = C`` is a depthwise convolution).
- transposed ("deconvolution", learned upsampling): output ``(N-1)S - 2P + D(F-1) + output_padding + 1``,
  i.e. ``(N-1)S - 2P + F + output_padding`` without dilation; it inverts the conv size rule.
"""
from __future__ import annotations

from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.inspect.conv_arithmetic import check_groups, resolve_padding

CONV_LAYERS: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_TRANSPOSE_LAYERS: dict[int, type[nn.Module]] = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def _layer_class(table: dict[int, type[nn.Module]], dims: int) -> type[nn.Module]:
    try:
        return table[dims]
    except (KeyError, TypeError):
        raise ConfigError(f"dims must be 1 (sequences), 2 (images) or 3 (volumes), got {dims!r}") from None


def conv_layer(dims: int = 2) -> type[nn.Module]:
    """``nn.Conv1d``, ``nn.Conv2d`` or ``nn.Conv3d`` for ``dims`` spatial dimensions."""
    return _layer_class(CONV_LAYERS, dims)


def conv_transpose_layer(dims: int = 2) -> type[nn.Module]:
    """``nn.ConvTranspose1d``, ``2d`` or ``3d`` for ``dims`` spatial dimensions."""
    return _layer_class(CONV_TRANSPOSE_LAYERS, dims)


def conv_nd(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    dims: int = 2,
    stride: int = 1,
    padding: int | str | None = None,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Module:
    """A ``dims``-D convolution; ``padding=None`` pads ``D(F-1)/2`` so stride 1 keeps the size.

    Raises `ConfigError` when ``groups`` does not divide both channel counts or when the default
    padding cannot keep the size (an even filter span: give ``padding`` explicitly).
    """
    check_groups(in_channels, out_channels, groups)
    pad = resolve_padding("same" if padding is None else padding, kernel_size, dilation)
    return conv_layer(dims)(in_channels, out_channels, kernel_size, stride=stride, padding=pad,
                            dilation=dilation, groups=groups, bias=bias)


def dilated_conv(
    in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 2, *, dims: int = 2, bias: bool = True
) -> nn.Module:
    """A size-keeping dilated convolution: ``F`` taps spread over ``D(F-1) + 1`` pixels."""
    return conv_nd(in_channels, out_channels, kernel_size, dims=dims, dilation=dilation, bias=bias)


def grouped_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    groups: int = 2,
    *,
    dims: int = 2,
    stride: int = 1,
    bias: bool = True,
) -> nn.Module:
    """A size-keeping convolution in ``groups`` independent channel groups (1/G of the weights)."""
    return conv_nd(in_channels, out_channels, kernel_size, dims=dims, stride=stride, groups=groups, bias=bias)


def transposed_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 2,
    stride: int = 2,
    *,
    dims: int = 2,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
    groups: int = 1,
    bias: bool = True,
) -> nn.Module:
    """A transposed convolution: output side ``(N-1)S - 2P + D(F-1) + output_padding + 1``.

    The default (F=2, S=2) doubles the size exactly, the learned upsampling of U-Net decoders.
    """
    check_groups(in_channels, out_channels, groups)
    if output_padding >= max(stride, dilation):
        raise ConfigError(f"output_padding must be smaller than the stride or the dilation (here "
                          f"{max(stride, dilation)}), got {output_padding}")
    return conv_transpose_layer(dims)(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                      output_padding=output_padding, dilation=dilation, groups=groups, bias=bias)
