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
    _assert_same(out, expected, approximate)
    out.backward(grad.contiguous(memory_format=torch.channels_last))  # as a channels-last net's next layer sends it
    expected.backward(grad)
    assert channels_last.grad.is_contiguous(memory_format=torch.channels_last)
    _assert_same(channels_last.grad, nchw.grad, approximate)


def _assert_same(actual: torch.Tensor, expected: torch.Tensor, approximate: str) -> None:
    """Bit for bit; the tanh form to float32 rounding (a few eps of the largest value), as its AVX-512 kernel
    rounds a block's tail its own way (`cnnlab.layers.GELU`'s docstring)."""
    if approximate == "none":
        assert torch.equal(actual, expected)
    else:
        rounding = 4 * torch.finfo(torch.float32).eps * expected.abs().max().item()
        torch.testing.assert_close(actual, expected, rtol=0, atol=rounding)


@pytest.mark.parametrize("shape", [(4, 16, 7, 7), (8, 32), (2, 1, 5, 5), (3, 4, 5, 6, 7)])
def test_other_layouts_take_nn_gelus_path(shape):
    x = torch.randn(shape)
    assert torch.equal(GELU()(x), nn.GELU()(x))


def test_the_gelu_activation_name_builds_it():
    assert get_act_layer("gelu") is GELU
