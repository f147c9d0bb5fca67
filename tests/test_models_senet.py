"""Squeeze-and-excitation (layer and SE-ResNets) and the Wide ResNets.

The SE layer is compared with torchvision.ops.SqueezeExcitation; parameter counts with the
formula and the papers' figures. Wide ResNet-50/101-2 against torchvision are in
test_models_torchvision.py (they are in its list because torchvision has them).
"""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import SqueezeExcitation

from cnnlab.layers import SqueezeExcite
from cnnlab.models import create_model
from cnnlab.models.resnet import BasicBlock, Bottleneck


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_squeeze_excite_matches_torchvision(dims):
    torch.manual_seed(0)
    ours = SqueezeExcite(32, reduction=4)
    theirs = SqueezeExcitation(32, 8)  # 1x1 convs instead of Linear: same numbers
    with torch.no_grad():
        theirs.fc1.weight.copy_(ours.fc1.weight[:, :, None, None])
        theirs.fc1.bias.copy_(ours.fc1.bias)
        theirs.fc2.weight.copy_(ours.fc2.weight[:, :, None, None])
        theirs.fc2.bias.copy_(ours.fc2.bias)
    x = torch.randn(2, 32, *([5] * dims))
    x2d = x.reshape(2, 32, -1, 1)  # torchvision's is 2-D only; the average over all positions is the same
    torch.testing.assert_close(ours(x).reshape(2, 32, -1, 1), theirs(x2d))


@pytest.mark.parametrize("channels,reduction", [(64, 16), (256, 16), (512, 4)])
def test_squeeze_excite_parameter_formula(channels, reduction):
    hidden = max(8, channels // reduction)
    assert _count(SqueezeExcite(channels, reduction)) == 2 * channels * hidden + channels + hidden


@pytest.mark.parametrize("name,base", [("se_resnet18", "resnet18"), ("se_resnet50", "resnet50")])
def test_se_resnet_is_resnet_plus_one_gate_per_block(name, base):
    with torch.device("meta"):
        se, plain = create_model(name), create_model(base)
    blocks = [m for m in se.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    gates = [b.attn for b in blocks]
    assert all(isinstance(g, SqueezeExcite) for g in gates)
    assert _count(se) == _count(plain) + sum(_count(g) for g in gates)


def test_se_resnet50_parameters_match_the_paper():
    with torch.device("meta"):
        assert round(_count(create_model("se_resnet50")) / 1e6, 1) == 28.1  # Hu et al., Table 1


def test_a_closed_gate_leaves_only_the_shortcut():
    model = create_model("se_resnet18", num_classes=3, in_channels=3, input_size=32).eval()
    block = model.layer1[0]
    with torch.no_grad():
        block.attn.fc2.bias.fill_(-1e4)  # sigmoid -> 0: the residual branch is switched off
        x = torch.randn(2, 64, 8, 8)
        torch.testing.assert_close(block(x), torch.relu(x))


@pytest.mark.parametrize("name,millions", [("wrn28_10", 36.5), ("wrn16_4", 2.7)])
def test_cifar_wide_resnets_match_the_paper(name, millions):
    """Zagoruyko and Komodakis, Table 1 / Fig. 1 parameter counts (10 classes)."""
    with torch.device("meta"):
        model = create_model(name, num_classes=10, in_channels=3, input_size=32)
    assert round(_count(model) / 1e6, 1) == millions
    assert model.num_features == {"wrn28_10": 640, "wrn16_4": 256}[name]


def test_wide_resnet_forward_on_cifar_size():
    model = create_model("wrn16_4", num_classes=10, in_channels=3, input_size=32).eval()
    with torch.no_grad():
        features = model.forward_features(torch.randn(2, 3, 32, 32))
    assert features.shape == (2, 256, 8, 8)
