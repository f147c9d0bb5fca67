"""Convolution variants (cnnlab.layers): output shape and parameter count against the formulas, and
the factored convolutions against the dense convolution they stand for (torch as the reference)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.errors import ConfigError
from cnnlab.inspect.conv_arithmetic import (
    conv_arithmetic,
    conv_output_size,
    conv_params,
    effective_filter_size,
    transposed_conv_output_size,
)
from cnnlab.layers import (
    DeformableConv2d,
    DepthwiseSeparableConv,
    SpatiallySeparableConv,
    conv_nd,
    dilated_conv,
    grouped_conv,
    transposed_conv,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("dims, size, kernel, stride, dilation, groups", [
    (1, 50, 5, 2, 1, 1),       # a sequence
    (1, 33, 3, 1, 3, 4),
    (2, 17, 3, 2, 1, 2),
    (3, 9, 3, 1, 2, 1),        # a volume
    (3, 11, 3, 2, 1, 4),
])
def test_conv_nd_shape_and_params_follow_the_formula(dims, size, kernel, stride, dilation, groups):
    cin, cout = 8, 12
    layer = conv_nd(cin, cout, kernel, dims=dims, stride=stride, dilation=dilation, groups=groups)
    assert type(layer).__name__ == f"Conv{dims}d"
    out = layer(torch.randn(2, cin, *(size,) * dims))
    pad = dilation * (kernel - 1) // 2
    side = conv_output_size(size, kernel, stride, pad, dilation, exact=False)
    assert out.shape == (2, cout, *(side,) * dims)
    assert n_params(layer) == conv_params(cin, cout, kernel, dims=dims, groups=groups)
    assert n_params(layer) == kernel**dims * (cin // groups) * cout + cout


def test_dilated_conv_keeps_the_size_and_spans_the_effective_filter():
    layer = dilated_conv(1, 1, 3, dilation=3, bias=False)
    assert layer(torch.randn(1, 1, 20, 20)).shape == (1, 1, 20, 20)
    assert n_params(layer) == 9  # still 3x3 weights
    # an impulse shows the footprint: the taps sit D apart and span D(F-1)+1 pixels
    with torch.no_grad():
        layer.weight.fill_(1.0)
        x = torch.zeros(1, 1, 21, 21)
        x[0, 0, 10, 10] = 1
        hit = layer(x)[0, 0].nonzero()
    span = effective_filter_size(3, 3)
    assert span == 7
    assert int(hit[:, 0].max() - hit[:, 0].min()) + 1 == span
    assert len(hit) == 9


def test_grouped_conv_has_one_over_g_of_the_weights_and_macs():
    dense, grouped = grouped_conv(16, 32, 3, groups=1, bias=False), grouped_conv(16, 32, 3, groups=4, bias=False)
    assert n_params(grouped) * 4 == n_params(dense)
    x = torch.randn(1, 16, 10, 10)
    flops = []
    for layer in (dense, grouped):
        with FlopCounterMode(display=False) as counter:
            layer(x)
        flops.append(counter.get_total_flops())
    assert flops[0] == 4 * flops[1]
    report = conv_arithmetic((16, 10, 10), 3, padding=1, filters=32, groups=4, bias=False)
    assert report.params == n_params(grouped) and 2 * report.macs == flops[1]
    with pytest.raises(ConfigError, match="groups=3 must divide both"):
        grouped_conv(16, 32, 3, groups=3)


@pytest.mark.parametrize("dims, size, kernel, stride, padding, output_padding, dilation", [
    (2, 7, 2, 2, 0, 0, 1),      # the exact doubling of U-Net decoders
    (2, 7, 3, 2, 1, 1, 1),      # (N-1)S - 2P + F + output_padding = 14
    (2, 5, 4, 3, 1, 2, 1),
    (1, 10, 3, 1, 0, 0, 2),
    (3, 4, 3, 2, 1, 1, 1),
])
def test_transposed_conv_output_size_formula(dims, size, kernel, stride, padding, output_padding, dilation):
    cin, cout = 6, 4
    layer = transposed_conv(cin, cout, kernel, stride, dims=dims, padding=padding, output_padding=output_padding,
                            dilation=dilation)
    out = layer(torch.randn(1, cin, *(size,) * dims))
    side = transposed_conv_output_size(size, kernel, stride, padding, output_padding, dilation)
    if dilation == 1:
        assert side == (size - 1) * stride - 2 * padding + kernel + output_padding
    assert out.shape == (1, cout, *(side,) * dims)
    assert n_params(layer) == conv_params(cin, cout, kernel, dims=dims)
    if dims == 2 and dilation == 1:  # the calculator agrees, and inverts the conv it undoes
        report = conv_arithmetic((cin, size, size), kernel, stride=stride, padding=padding, filters=cout,
                                 transposed=True, output_padding=output_padding)
        assert report.output_shape == tuple(out.shape[1:]) and report.params == n_params(layer)
        assert conv_output_size(side, kernel, stride, padding, exact=False) == size


def test_transposed_conv_macs_match_torch():
    layer = transposed_conv(6, 4, 3, 2, padding=1, output_padding=1, bias=False)
    x = torch.randn(1, 6, 7, 7)
    with FlopCounterMode(display=False) as counter:
        layer(x)
    report = conv_arithmetic((6, 7, 7), 3, stride=2, padding=1, filters=4, transposed=True, output_padding=1, bias=False)
    assert 2 * report.macs == counter.get_total_flops()


def test_transposed_conv_rejects_impossible_output_padding():
    with pytest.raises(ConfigError, match="output_padding must be smaller"):
        transposed_conv(2, 2, 3, 2, output_padding=2)
    with pytest.raises(ConfigError, match="output padding must be smaller"):
        transposed_conv_output_size(5, 3, 2, output_padding=2)
    with pytest.raises(ConfigError, match="dims must be 1"):
        conv_nd(2, 2, dims=4)


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_separable_shape_params_and_macs(stride):
    cin, cout, k = 8, 16, 3
    layer = DepthwiseSeparableConv(cin, cout, k, stride)
    x = torch.randn(2, cin, 12, 12)
    out = layer(x)
    side = conv_output_size(12, k, stride, k // 2, exact=False)
    assert out.shape == (2, cout, side, side)
    report = conv_arithmetic((cin, 12, 12), k, stride=stride, padding=1, filters=cout, separable=True, exact=False)
    assert n_params(layer) == report.params == (k * k * cin + cin) + (cin * cout + cout)
    with FlopCounterMode(display=False) as counter:
        layer(x[:1])
    assert counter.get_total_flops() == 2 * report.macs


def test_depthwise_separable_equals_the_dense_conv_it_factors():
    layer = DepthwiseSeparableConv(4, 6, 3).eval()
    for conv in (layer.depthwise.conv, layer.pointwise.conv):
        nn.init.zeros_(conv.bias)
    dw = layer.depthwise.conv.weight[:, 0]           # (C, 3, 3)
    pw = layer.pointwise.conv.weight[:, :, 0, 0]     # (K, C)
    dense = pw[:, :, None, None] * dw[None]          # W[k, c] = pw[k, c] * dw[c]
    x = torch.randn(2, 4, 9, 9)
    torch.testing.assert_close(layer(x), F.conv2d(x, dense, padding=1), atol=1e-5, rtol=1e-5)


def test_depthwise_separable_with_norm_and_act_is_mobilenets_block():
    layer = DepthwiseSeparableConv(8, 16, norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU)
    assert not any(isinstance(m, nn.Conv2d) and m.bias is not None for m in layer.modules())
    assert [type(m).__name__ for m in layer.depthwise] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert n_params(layer) == 3 * 3 * 8 + 2 * 8 + 8 * 16 + 2 * 16


@pytest.mark.parametrize("stride", [1, 2])
def test_spatially_separable_shape_and_params(stride):
    cin, cout, k = 3, 5, 7
    layer = SpatiallySeparableConv(cin, cout, k, stride)
    out = layer(torch.randn(1, cin, 15, 15))
    side = conv_output_size(15, k, stride, k // 2, exact=False)
    assert out.shape == (1, cout, side, side)  # the same as a 7x7 conv
    assert n_params(layer) == (k * cin * cout + cout) + (k * cout * cout + cout)
    assert n_params(layer) < conv_params(cin, cout, k)


def test_spatially_separable_is_a_rank_one_kernel():
    layer = SpatiallySeparableConv(1, 1, 5)
    for part in (layer.vertical, layer.horizontal):
        nn.init.zeros_(part.conv.bias)
    column, row = layer.vertical.conv.weight[0, 0, :, 0], layer.horizontal.conv.weight[0, 0, 0, :]
    kernel = torch.outer(column, row)[None, None]
    x = torch.randn(2, 1, 11, 13)
    torch.testing.assert_close(layer(x), F.conv2d(x, kernel, padding=2), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("modulated", [False, True])
def test_deformable_conv_starts_as_the_plain_conv(modulated):
    torch.manual_seed(0)
    layer = DeformableConv2d(4, 6, 3, stride=2, modulated=modulated)
    x = torch.randn(2, 4, 11, 11)
    out = layer(x)
    side = conv_output_size(11, 3, 2, 1)
    assert out.shape == (2, 6, side, side)
    plain = F.conv2d(x, layer.conv.weight, None, stride=2, padding=1)
    scale = 0.5 if modulated else 1.0  # a zero mask logit is sigmoid(0) = 0.5 per tap
    torch.testing.assert_close(out, scale * plain + layer.conv.bias.view(1, -1, 1, 1), atol=1e-5, rtol=1e-5)
    taps = 3 * 3
    predictor = (3 if modulated else 2) * taps
    assert n_params(layer) == conv_params(4, 6, 3) + conv_params(4, predictor, 3)


def test_deformable_conv_offsets_move_the_sampling_points():
    torch.manual_seed(0)
    layer = DeformableConv2d(1, 1, 1, padding=0, bias=False)
    nn.init.ones_(layer.conv.weight)
    with torch.no_grad():  # every output reads the pixel one column to the right
        layer.offset.bias.copy_(torch.tensor([0.0, 1.0]))
    x = torch.randn(1, 1, 6, 6)
    out = layer(x)
    torch.testing.assert_close(out[..., :-1], x[..., 1:])
    assert torch.all(out[..., -1] == 0)  # sampled outside the image: zero
    out.sum().backward()
    assert layer.offset.weight.grad is not None and math.isfinite(float(layer.offset.weight.grad.abs().sum()))


def test_cnnlab_conv_shows_the_separable_grouped_and_transposed_arithmetic(capsys):
    from eval_support import run_cli

    code, out, _ = run_cli(["conv", "-i", "32x56x56", "-f", "3", "-p", "1", "-k", "64", "--separable"], capsys)
    assert code == 0
    assert "dense conv: 18,496" in out and "params 2,432" in out and "MACs (3*3*32 + 32*64) * 56*56 = 7,325,696" in out
    code, out, _ = run_cli(["conv", "-i", "32x56x56", "-f", "3", "-p", "1", "-k", "64", "--groups", "4"], capsys)
    assert code == 0 and "params 3*3*(32/4)*64 + 64 = 4,672" in out and "ungrouped: params 18,496" in out
    code, out, _ = run_cli(["conv", "-i", "16x7x7", "-f", "3", "-s", "2", "-p", "1", "--output-padding", "1",
                            "-k", "8", "--transposed"], capsys)
    assert code == 0 and "(7-1)*2 - 2*1 + (3-1) + 1 + 1 = 14" in out and "-> 8x14x14" in out
    code, out, _ = run_cli(["conv", "-i", "1x32x32", "-f", "3", "-d", "2", "-p", "2"], capsys)
    assert code == 0 and "effective filter size 2*(3-1) + 1 = 5" in out
    code, _, err = run_cli(["conv", "-i", "3x8x8", "-f", "3", "-k", "4", "--groups", "2"], capsys)
    assert code == 2 and "groups=2 must divide both" in err
