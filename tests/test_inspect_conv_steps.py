"""The explorer's convolution numbers against torch: F.conv2d, the model's own forward pass, and
`cnnlab explain conv` for the first layer."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.inspect.conv_steps import conv_channel, conv_position
from cnnlab.scratch.explain import explain_conv


class TwoConvs(nn.Module):
    def __init__(self, **second: object) -> None:
        super().__init__()
        self.first = nn.Conv2d(3, 8, 3, padding=1)
        self.second = nn.Conv2d(8, 4, **second)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x))).mean((2, 3))


GEOMETRIES = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(2, 0), dilation=(2, 1)),
    dict(kernel_size=3, padding=1, groups=2),
    dict(kernel_size=3, padding=1, groups=4, bias=False),
    dict(kernel_size=3, padding="same", padding_mode="reflect"),
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: ",".join(f"{k}={v}" for k, v in g.items()))
def test_every_position_matches_torch_and_the_forward_hook(geometry):
    torch.manual_seed(0)
    model = TwoConvs(**geometry).eval()
    x = torch.randn(1, 3, 11, 10)
    hidden = torch.relu(model.first(x))
    for k in range(4):
        numbers = conv_channel(model, x, "second", k)
        conv = model.second
        reference = conv._conv_forward(hidden, conv.weight, conv.bias)[0, k].detach().numpy()  # torch, padding mode included
        np.testing.assert_allclose(numbers.output, reference, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(numbers.model_output, reference, rtol=1e-6, atol=1e-6)
        per_group = 8 // conv.groups
        assert numbers.input_channels == tuple(range(k // (4 // conv.groups) * per_group, (k // (4 // conv.groups) + 1) * per_group))
        # each input channel's share: F.conv2d of that channel alone with its kernel slice
        single = copy.deepcopy(conv)
        single.groups = 1
        for c_local, c in enumerate(numbers.input_channels):
            one = single._conv_forward(hidden[:, c:c + 1], conv.weight[k:k + 1, c_local:c_local + 1], None)[0, 0]
            np.testing.assert_allclose(numbers.channel_sums[..., c_local], one.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_a_position_lists_patch_weights_sums_bias_and_the_models_value():
    torch.manual_seed(1)
    model = TwoConvs(kernel_size=3, stride=2, padding=1).eval()
    x = torch.randn(1, 3, 9, 9)
    step = conv_position(model, x, "second", 2, 1, 3)
    assert step.patch.shape == step.weights.shape == (8, 3, 3) and step.channel_sums.shape == (8,)
    np.testing.assert_allclose(step.channel_sums, (step.patch * step.weights).sum(axis=(1, 2)))
    assert step.value == pytest.approx(step.channel_sums.sum() + step.bias)
    assert step.value == pytest.approx(step.model_output, abs=1e-5)
    assert step.bias == pytest.approx(float(model.second.bias.detach()[2]))
    hidden = F.pad(torch.relu(model.first(x)), (1, 1, 1, 1))[0].detach().numpy()
    np.testing.assert_allclose(step.patch, hidden[:, 2:5, 6:9], rtol=1e-6)  # origin = (1*2, 3*2) in the padded input


def test_the_first_layer_agrees_with_cnnlab_explain_conv():
    torch.manual_seed(2)
    conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
    model = nn.Sequential(conv, nn.ReLU()).eval()
    x = torch.randn(1, 1, 7, 7, dtype=torch.float64).float()
    ours = conv_channel(model, x, "0", 3)
    theirs = explain_conv(x[0].double().numpy(), conv.weight[3].detach().double().numpy(), stride=2, padding=1)
    for step in theirs.steps:
        i, j = step.position
        here = ours.position(i, j)
        assert here.origin == step.origin
        np.testing.assert_allclose(here.patch[0].ravel(), step.channels[0].window)
        np.testing.assert_allclose(here.weights[0].ravel(), step.channels[0].kernel)
        assert here.channel_sums[0] == pytest.approx(step.channels[0].total, abs=1e-12)
        assert here.value == pytest.approx(step.value + float(conv.bias[3]), abs=1e-5)


def test_bad_channel_and_position_name_the_valid_range():
    model = TwoConvs(kernel_size=3).eval()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ConfigError, match="0-3"):
        conv_channel(model, x, "second", 4)
    with pytest.raises(ConfigError, match="outside"):
        conv_position(model, x, "second", 0, 9, 0)
    with pytest.raises(ConfigError, match="no conv layer named"):
        conv_channel(model, x, "third", 0)
