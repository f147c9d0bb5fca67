"""MobileNet v1/v2 and ShuffleNet v2 against torchvision and the papers' figures."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlab.layers import DepthwiseSeparableConv
from cnnlab.models import create_model
from cnnlab.models.convert import load_torchvision_weights
from cnnlab.models.shufflenet import ShuffleUnit

TORCHVISION_TWINS = ["mobilenet_v2", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                     "shufflenet_v2_x2_0"]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_batchnorm(model: nn.Module) -> None:
    """Non-trivial BN statistics and affine terms, so that eval-mode outputs depend on every buffer."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("name", TORCHVISION_TWINS)
def test_same_parameter_count_as_torchvision(name):
    with torch.device("meta"):
        ours, theirs = create_model(name), getattr(torchvision.models, name)()
    assert n_params(ours) == n_params(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


@pytest.mark.parametrize("name", TORCHVISION_TWINS)
def test_torchvision_weights_give_the_same_logits(name, tmp_path):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, name)(num_classes=1000)
    randomize_batchnorm(theirs)
    theirs.eval()
    path = tmp_path / f"{name}.pth"
    torch.save(theirs.state_dict(), path)
    ours = create_model(name, num_classes=1000, input_size=224)
    assert load_torchvision_weights(ours, path) == []
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), theirs(x), atol=1e-4, rtol=1e-4)


def test_mobilenet_v1_matches_the_paper():
    """Table 1 / 8 of Howard et al.: 4.2M parameters and 569M multiply-adds at 224x224."""
    with torch.device("meta"):
        model = create_model("mobilenet_v1")
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 224, 224))
    assert round(n_params(model) / 1e6, 1) == 4.2
    assert round(counter.get_total_flops() / 2 / 1e6) == 569
    blocks = list(model.blocks)
    assert len(blocks) == 13 and all(isinstance(b, DepthwiseSeparableConv) for b in blocks)
    assert model.forward_features(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 1024, 7, 7)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2"])
def test_width_multiplier_scales_channels_and_cost(name):
    with torch.device("meta"):
        full, half = create_model(name), create_model(name, width_mult=0.5)
    first_conv = [m for m in half.modules() if isinstance(m, nn.Conv2d)][0]
    assert first_conv.out_channels == 16
    # the cost falls roughly with alpha^2 (the classifier and v2's fixed 1280 last conv aside)
    assert n_params(half) < 0.6 * n_params(full)


def test_mobilenet_v2_residual_only_where_size_and_width_are_kept():
    model = create_model("mobilenet_v2", num_classes=10, input_size=224)
    blocks = list(model.features)[1:-1]
    assert [b.use_residual for b in blocks] == [False, False, True, False, True, True, False, True, True, True,
                                                False, True, True, False, True, True, False]


def test_shuffle_unit_keeps_half_the_channels_and_interleaves_them():
    unit = ShuffleUnit(8, 8, stride=1).eval()
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        out = unit(x)
        processed = unit.branch2(x[:, 4:])
    assert out.shape == x.shape
    torch.testing.assert_close(out[:, 0::2], x[:, :4])  # shuffled: the kept half lands on even channels
    torch.testing.assert_close(out[:, 1::2], processed)


def test_shuffle_unit_downsamples_with_two_branches():
    unit = ShuffleUnit(24, 48, stride=2)
    assert unit(torch.randn(1, 24, 8, 8)).shape == (1, 48, 4, 4)
    assert n_params(unit.branch1) > 0


@pytest.mark.parametrize("name, size, side", [("mobilenet_v1", 32, 2), ("mobilenet_v2", 32, 4),
                                              ("shufflenet_v2_x0_5", 32, 4), ("mobilenet_v2", 224, 7),
                                              ("shufflenet_v2_x0_5", 224, 7)])
def test_small_input_stem_total_stride(name, size, side):
    with torch.device("meta"):
        model = create_model(name, num_classes=10, input_size=size)
        features = model.forward_features(torch.empty(1, 3, size, size))
    assert features.shape[-2:] == (side, side)
