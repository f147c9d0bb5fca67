"""The conv/pool arithmetic calculator against the course's worked examples and against torch itself."""
from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.errors import CnnlabError, ConfigError, ShapeError
from cnnlab.inspect import ReceptiveFieldTracker, conv_arithmetic, conv_output_size, parse_size, stacked_receptive_field


# --- the course's examples -------------------------------------------------------------------


@pytest.mark.parametrize("stride, expected", [(1, 5), (2, 3)])
def test_7x7_input_3x3_filter(stride, expected):
    assert conv_output_size(7, 3, stride) == expected
    assert conv_arithmetic(7, 3, stride=stride).output_shape == (1, expected, expected)


def test_7x7_input_3x3_filter_stride_3_is_an_error_that_suggests_a_fix():
    with pytest.raises(ShapeError) as info:
        conv_output_size(7, 3, 3)
    message = str(info.value)
    assert "not an integer" in message and "2.333" in message
    paddings = [int(p) for p in re.findall(r"padding (\d+) \(output", message)]
    strides = [int(s) for s in re.findall(r"stride (\d+) \(output", message)]
    assert paddings and strides
    for p in paddings:  # every suggestion really fits, and says what it gives
        out = conv_output_size(7, 3, 3, p)
        assert f"padding {p} (output {out})" in message
    for s in strides:
        out = conv_output_size(7, 3, s)
        assert f"stride {s} (output {out})" in message
    for n in [int(n) for n in re.findall(r"input size (\d+) \(output", message)]:
        out = conv_output_size(n, 3, 3)
        assert f"input size {n} (output {out})" in message


def test_alexnet_224_does_not_fit_but_227_does():
    with pytest.raises(ShapeError, match=r"input size 227 \(output 55\)"):
        conv_output_size(224, 11, 4)
    assert conv_output_size(227, 11, 4) == 55


def test_ten_5x5_filters_on_cifar_sized_input():
    report = conv_arithmetic((3, 32, 32), 5, stride=1, padding=2, filters=10)
    assert report.output_shape == (10, 32, 32)
    assert report.params == 760 == (5 * 5 * 3 + 1) * 10
    conv = nn.Conv2d(3, 10, 5, stride=1, padding=2)
    assert report.params == sum(p.numel() for p in conv.parameters())
    assert tuple(conv(torch.zeros(1, 3, 32, 32)).shape[1:]) == report.output_shape


@pytest.mark.parametrize("layers", [1, 2, 3, 5])
@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_receptive_field_of_stacked_stride_1_convs(layers, kernel):
    expected = 1 + layers * (kernel - 1)
    assert stacked_receptive_field([(kernel, 1, 1)] * layers).size == (expected,)
    report = conv_arithmetic(64, kernel, padding="same", layers=layers)
    assert report.receptive_field.size == (expected,)
    assert report.output_shape == (1, 64, 64)
    net = nn.Sequential(*[nn.Conv2d(1, 1, kernel, padding=kernel // 2) for _ in range(layers)])
    assert _gradient_extent(net, 1, 64, (32, 32)) == expected


# --- the general formula, checked against a measurement --------------------------------------


def _gradient_extent(net: nn.Module, channels: int, size: int, where: tuple[int, int]) -> int:
    """Rows of the input that one output position depends on (with positive weights, no ReLU)."""
    net = net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1.0)
    x = torch.ones(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, :, where[0], where[1]].sum().backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
    assert 0 < rows.min() and rows.max() < size - 1, "the field touches the border: use a larger input"
    return int(rows.max() - rows.min() + 1)


LAYER_STACKS = [
    [(3, 2, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1)],
    [(5, 1, 2), (3, 2, 1), (3, 1, 3)],
    [(7, 2, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1)],
]


@pytest.mark.parametrize("stack", LAYER_STACKS)
def test_general_receptive_field_matches_gradient_and_tracker(stack):
    net = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s, dilation=d, bias=False) for k, s, d in stack])
    field = stacked_receptive_field(stack)
    x = torch.zeros(1, 1, 96, 96)
    with torch.no_grad(), ReceptiveFieldTracker() as tracker:
        out = net(tracker.track(x))
    assert tracker.lookup(out).size == (field.size[0],) * 2
    assert tracker.lookup(out).jump == (field.jump[0],) * 2
    mid = out.shape[-1] // 2
    assert _gradient_extent(net, 1, 96, (mid, mid)) == field.size[0]


# --- the formulas against torch --------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 4),
       padding=st.integers(0, 3), dilation=st.integers(1, 3))
def test_output_size_matches_torch(size, kernel, stride, padding, dilation):
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if span < 0:
        with pytest.raises(ShapeError):
            conv_output_size(size, kernel, stride, padding, dilation)
        return
    torch_size = conv(torch.zeros(1, 1, size, size)).shape[-1]
    assert conv_output_size(size, kernel, stride, padding, dilation, exact=False) == torch_size
    if span % stride:
        with pytest.raises(ShapeError):
            conv_output_size(size, kernel, stride, padding, dilation)
    else:
        assert conv_output_size(size, kernel, stride, padding, dilation) == torch_size


@pytest.mark.parametrize("channels, filters, kernel, stride, padding", [(3, 16, 3, 1, 1), (8, 4, 5, 2, 2), (1, 6, 5, 1, 0)])
def test_params_and_macs_match_torch(channels, filters, kernel, stride, padding):
    report = conv_arithmetic((channels, 21, 21), kernel, stride=stride, padding=padding, filters=filters, exact=False)
    conv = nn.Conv2d(channels, filters, kernel, stride=stride, padding=padding)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = conv(torch.zeros(1, channels, 21, 21))
    assert report.output_shape == tuple(out.shape[1:])
    assert report.params == sum(p.numel() for p in conv.parameters())
    assert report.flops == counter.get_total_flops() == 2 * report.macs


def test_separable_counts_match_torch_depthwise_pointwise():
    report = conv_arithmetic((32, 16, 16), 3, padding=1, filters=64, separable=True)
    net = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.Conv2d(32, 64, 1))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 32, 16, 16))
    assert report.params == sum(p.numel() for p in net.parameters())
    assert report.macs == counter.get_total_flops() // 2
    dense = report.layers[0]
    assert dense.dense_params == 3 * 3 * 32 * 64 + 64
    assert report.macs / dense.dense_macs == pytest.approx(1 / 64 + 1 / 9)


@pytest.mark.parametrize("pool, module", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_pooling_has_no_params_keeps_channels_and_defaults_stride_to_filter(pool, module):
    report = conv_arithmetic((16, 28, 28), 2, pool=pool)
    assert report.output_shape == tuple(module(2)(torch.zeros(1, 16, 28, 28)).shape[1:]) == (16, 14, 14)
    assert report.params == 0 and report.macs == 0
    assert report.receptive_field.size == (2,) and report.receptive_field.jump == (2,)


def test_stacked_layers_chain_shapes_and_add_params():
    report = conv_arithmetic((3, 32, 32), 3, padding=1, filters=8, layers=3)
    assert [layer.input_shape for layer in report.layers] == [(3, 32, 32), (8, 32, 32), (8, 32, 32)]
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1))
    assert report.params == sum(p.numel() for p in net.parameters())
    assert [layer.receptive_field.size[0] for layer in report.layers] == [3, 5, 7]


# --- bad input -------------------------------------------------------------------------------


def test_same_padding_keeps_size_and_needs_an_odd_filter():
    assert conv_output_size(13, 5, padding="same") == 13
    assert conv_output_size(13, 3, padding="same", dilation=2) == 13
    with pytest.raises(ConfigError, match="odd"):
        conv_output_size(13, 4, padding="same")


def test_filter_larger_than_input_is_a_shape_error():
    with pytest.raises(ShapeError, match="padding of at least"):
        conv_output_size(3, 7)


@pytest.mark.parametrize("kwargs", [dict(pool="max", filters=4), dict(pool="median"), dict(layers=0), dict(padding=-1)])
def test_inconsistent_options_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        conv_arithmetic((3, 32, 32), 3, **kwargs)


def test_parse_size():
    assert parse_size("3x224x224") == (3, 224, 224)
    assert parse_size("32", lengths=(1, 2, 3)) == (32,)
    assert parse_size(" 28X28 ", lengths=(2,)) == (28, 28)
    for bad in ("3x224", "3x0x4", "axbxc", "", "3x-1x2"):
        with pytest.raises(CnnlabError, match="CxHxW"):
            parse_size(bad)
