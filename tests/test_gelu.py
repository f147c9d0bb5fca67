"""cnnlab.layers.GELU: nn.GELU's values and gradients, bit for bit, in the input's own memory layout."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.layers import GELU, get_act_layer


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(4, 16, 7, 7), (2, 3, 5, 6)])
def test_channels_last_gives_the_nchw_values_and_gradients_in_channels_last(approximate, shape):
    torch.manual_seed(0)
    nchw = torch.randn(shape, requires_grad=True)
    channels_last = nchw.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    grad = torch.randn(shape)
    expected = nn.GELU(approximate)(nchw)
    out = GELU(approximate)(channels_last)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, expected)
    out.backward(grad.contiguous(memory_format=torch.channels_last))  # as a channels-last net's next layer sends it
    expected.backward(grad)
    assert channels_last.grad.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(channels_last.grad, nchw.grad)


@pytest.mark.parametrize("shape", [(4, 16, 7, 7), (8, 32), (2, 1, 5, 5), (3, 4, 5, 6, 7)])
def test_other_layouts_take_nn_gelus_path(shape):
    x = torch.randn(shape)
    assert torch.equal(GELU()(x), nn.GELU()(x))


def test_the_gelu_activation_name_builds_it():
    assert get_act_layer("gelu") is GELU
