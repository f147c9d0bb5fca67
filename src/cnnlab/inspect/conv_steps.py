"""The numbers behind one output channel of a trained model's conv layer, position by position.

For layer L, output channel k and output position (i, j): the input patch each of the filter's
input channels shows the kernel (after the layer's padding, at its stride and dilation), the
kernel's weights, the sum of products per input channel, the bias and their total. The layer's
real input and output come from forward hooks on the user's model, so the total can be checked
against what the model computed (``model_output``); grouped and depthwise convolutions read only
their group's input channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.inspect.conv_layers import resolve_conv_layer


@dataclass(frozen=True)
class ConvChannel:
    """One output channel of a conv layer for one image, with every position's arithmetic."""

    layer: str
    channel: int
    input_channels: tuple[int, ...]  # the layer-input channels this filter reads (its group)
    padded_input: np.ndarray         # (Cg, H + pads, W + pads): those channels after the layer's padding
    weights: np.ndarray              # (Cg, kh, kw)
    bias: float
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int]         # (top, left) rows/columns added before the first input pixel
    channel_sums: np.ndarray         # (Ho, Wo, Cg): sum(weights[c] * patch[c]) per input channel
    model_output: np.ndarray         # (Ho, Wo): the layer's output, from the model's forward pass

    @property
    def output(self) -> np.ndarray:
        """(Ho, Wo): per-channel sums added up, plus the bias (float64)."""
        return self.channel_sums.sum(axis=-1) + self.bias

    def origin(self, i: int, j: int) -> tuple[int, int]:
        """Top-left corner (row, column) of output (i, j)'s window in the padded input."""
        return i * self.stride[0], j * self.stride[1]

    def patch(self, i: int, j: int) -> np.ndarray:
        """(Cg, kh, kw): the padded input values under the kernel's taps for output (i, j)."""
        top, left = self.origin(i, j)
        kh, kw = self.weights.shape[1:]
        rows = top + self.dilation[0] * np.arange(kh)
        cols = left + self.dilation[1] * np.arange(kw)
        return self.padded_input[:, rows[:, None], cols[None, :]]

    def position(self, i: int, j: int) -> "ConvPosition":
        ho, wo = self.model_output.shape
        if not (0 <= i < ho and 0 <= j < wo):
            raise ConfigError(f"position ({i}, {j}) is outside {self.layer}'s {ho}x{wo} output")
        sums = self.channel_sums[i, j]
        return ConvPosition(self.layer, self.channel, (i, j), self.origin(i, j), self.input_channels, self.patch(i, j),
                            self.weights, sums, self.bias, float(sums.sum() + self.bias), float(self.model_output[i, j]))


@dataclass(frozen=True)
class ConvPosition:
    """Output (i, j) of channel k: ``value = sum_c sum(weights[c] * patch[c]) + bias``."""

    layer: str
    channel: int
    position: tuple[int, int]
    origin: tuple[int, int]
    input_channels: tuple[int, ...]
    patch: np.ndarray          # (Cg, kh, kw)
    weights: np.ndarray        # (Cg, kh, kw)
    channel_sums: np.ndarray   # (Cg,)
    bias: float
    value: float               # the written-out arithmetic's total
    model_output: float        # what the model computed there


def capture_layer_io(model: nn.Module, layer: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, output) of module ``layer`` on its first call during ``model(x)``."""
    module = dict(model.named_modules())[layer]
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen.setdefault("io", (inputs[0].detach().clone(), output.detach().clone()))

    handle = module.register_forward_hook(record)
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    if "io" not in seen:
        raise ConfigError(f"layer {layer!r} did not run in the forward pass, so it has no numbers to show")
    return seen["io"]


def pad_like(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``x`` padded as ``conv`` pads it (zeros, or its reflect/replicate/circular mode; 'same' too)."""
    pads = conv._reversed_padding_repeated_twice  # (left, right, top, bottom), as F.pad takes them
    if not any(pads):
        return x
    mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
    return F.pad(x, pads, mode=mode)


def conv_channel(model: nn.Module, x: torch.Tensor, layer: str, channel: int) -> ConvChannel:
    """Output channel ``channel`` of conv layer ``layer`` for the image ``x`` (1, C, H, W), written out."""
    conv = resolve_conv_layer(model, layer)
    if not 0 <= channel < conv.out_channels:
        raise ConfigError(f"{layer} has {conv.out_channels} output channels (0-{conv.out_channels - 1}); "
                          f"channel {channel} does not exist")
    layer_in, layer_out = capture_layer_io(model, layer, x)
    per_group = conv.in_channels // conv.groups
    group = channel // (conv.out_channels // conv.groups)
    reads = tuple(range(group * per_group, (group + 1) * per_group))
    padded = pad_like(conv, layer_in[:1, list(reads)].double())        # (1, Cg, Hp, Wp)
    weights = conv.weight.detach()[channel].double()                    # (Cg, kh, kw)
    kh, kw = weights.shape[1:]
    cols = F.unfold(padded, (kh, kw), dilation=conv.dilation, stride=conv.stride)  # (1, Cg*kh*kw, Ho*Wo)
    ho, wo = layer_out.shape[2:]
    products = cols[0].reshape(per_group, kh * kw, ho, wo) * weights.reshape(per_group, kh * kw, 1, 1)
    sums = products.sum(dim=1).permute(1, 2, 0)                         # (Ho, Wo, Cg)
    bias = float(conv.bias.detach()[channel]) if conv.bias is not None else 0.0
    pads = conv._reversed_padding_repeated_twice
    return ConvChannel(layer, channel, reads, padded[0].cpu().numpy(), weights.cpu().numpy(), bias,
                       tuple(conv.stride), tuple(conv.dilation), (pads[2], pads[0]),
                       sums.cpu().numpy(), layer_out[0, channel].double().cpu().numpy())


def conv_position(model: nn.Module, x: torch.Tensor, layer: str, channel: int, i: int, j: int) -> ConvPosition:
    """The arithmetic of output (i, j) of channel ``channel`` of conv layer ``layer`` for image ``x``."""
    return conv_channel(model, x, layer, channel).position(i, j)
