"""Models for sequences (dims=1) and volumes (dims=3): the LeNet and ResNet builders.

The layer classes come from one table (`cnnlab.layers.dims`); the 2-D default is covered by the
registry-wide tests. Here: shapes and the size arithmetic against torch, and a 1-D CNN that
learns a noisy synthetic sequence task far above chance.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.layers.dims import for_dims
from cnnlab.models import create_model
from cnnlab.models._shapes import output_hw

FAMILIES = ["lenet5_relu", "resnet18", "se_resnet18", "resnet50"]
CYCLES = (3.0, 6.0, 12.0, 24.0)  # class k: a sine of CYCLES[k] periods per sequence


def noisy_sines(n: int, length: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n, 1, length), y (n,)): random phase and amplitude 0.5..1.5, Gaussian noise of std 1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, len(CYCLES), (n,), generator=g)
    t = torch.arange(length) / length
    phase = torch.rand(n, 1, generator=g) * 2 * math.pi
    amplitude = 0.5 + torch.rand(n, 1, generator=g)
    x = amplitude * torch.sin(2 * math.pi * torch.tensor(CYCLES)[y][:, None] * t + phase)
    return (x + torch.randn(n, length, generator=g))[:, None], y


def test_a_1d_cnn_learns_which_frequency_a_noisy_sequence_has():
    torch.manual_seed(0)
    x, y = noisy_sines(512, seed=0)
    x_test, y_test = noisy_sines(512, seed=1)
    model = create_model("lenet5_relu", dims=1, in_channels=1, num_classes=4, input_size=128)
    epochs, batch = 8, 32
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * len(x) // batch)
    model.train()
    for _ in range(epochs):
        for i in range(0, len(x), batch):
            loss = nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.9, f"test accuracy {accuracy:.3f} (chance 0.25)"


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("dims,input_size", [(1, 128), (3, (12, 16, 20))])
def test_forward_shapes_in_1d_and_3d(name, dims, input_size):
    torch.manual_seed(0)
    model = create_model(name, dims=dims, in_channels=2, num_classes=5, input_size=input_size).eval()
    size = (input_size,) if dims == 1 else input_size
    x = torch.randn(2, 2, *size)
    with torch.no_grad():
        features = model.forward_features(x)
        out = model.forward_head(features)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    assert features.dim() == dims + 2 and features.shape[1] == model.num_features
    assert tuple(features.shape[2:]) == output_hw(model.feature_modules(), size)  # our arithmetic == torch
    convs = [m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert convs and all(type(m) is for_dims(nn.Conv2d, dims) for m in convs)


def test_1d_resnet_parameters_follow_the_kernel_size():
    """A 1-D conv has F weights per input channel instead of F^2: ResNet-18's convs shrink by 3 (7 in the stem)."""
    two = create_model("resnet18", num_classes=4, in_channels=1, input_size=128)
    one = create_model("resnet18", dims=1, num_classes=4, in_channels=1, input_size=128)
    conv_params = lambda m: {n: p.numel() for n, p in m.named_parameters() if p.dim() > 2}  # noqa: E731
    c2, c1 = conv_params(two), conv_params(one)
    assert c1.keys() == c2.keys()
    for name, n in c2.items():
        k = two.get_parameter(name).shape[-1]
        assert c1[name] * k == n
    others = lambda m: sum(p.numel() for p in m.parameters() if p.dim() <= 2)  # noqa: E731
    assert others(one) == others(two)


def test_wrong_rank_and_bad_dims_are_clear_errors():
    model = create_model("resnet18", dims=1, in_channels=1, num_classes=4, input_size=64)
    with pytest.raises(ShapeError, match=r"sequences shaped \(B, C, L\).*unsqueeze"):
        model(torch.randn(1, 64))
    with pytest.raises(ShapeError, match=r"sequences shaped \(B, C, L\), got a tensor of shape \(2, 1, 8, 8\)"):
        model(torch.randn(2, 1, 8, 8))
    with pytest.raises(ConfigError, match="dims must be 1"):
        create_model("resnet18", dims=4)
    with pytest.raises(ConfigError, match="input_size for dims=3"):
        create_model("lenet5", dims=3, input_size=(16, 16))
    lenet = create_model("lenet5", dims=1, num_classes=4, input_size=100)
    with pytest.raises(ShapeError, match="takes exactly 100 inputs.*got 90"):
        lenet(torch.randn(1, 1, 90))
