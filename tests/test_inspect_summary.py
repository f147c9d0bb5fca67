"""`cnnlab.summary` on nets we did not write (torchvision) and small hand-built ones."""
from __future__ import annotations

import json

import pytest
import torch
import torchvision.models as tvm
from torch import nn

import cnnlab
from cnnlab.errors import ConfigError, ShapeError
from cnnlab.inspect import conv_arithmetic, summary


def _on_meta(builder, **kwargs) -> nn.Module:
    """A torchvision model with shapes only: no weights computed, no forward arithmetic."""
    with torch.device("meta"):
        return builder(**kwargs)


# torchvision's own published figures (weights metadata; nothing is downloaded):
# parameter count and GFLOPS, which torchvision counts as multiply-adds at 3x224x224.
TORCHVISION = [
    (tvm.resnet18, tvm.ResNet18_Weights, {}),
    (tvm.alexnet, tvm.AlexNet_Weights, {}),
    (tvm.vgg11, tvm.VGG11_Weights, {}),
    (tvm.googlenet, tvm.GoogLeNet_Weights, {"aux_logits": False, "init_weights": False}),
    (tvm.densenet121, tvm.DenseNet121_Weights, {}),
]


@pytest.mark.parametrize("builder, weights, kwargs", TORCHVISION, ids=lambda v: getattr(v, "__name__", ""))
def test_totals_match_torchvision_published_figures(builder, weights, kwargs):
    model = _on_meta(builder, **kwargs)
    result = summary(model, (3, 224, 224))
    meta = weights.IMAGENET1K_V1.meta
    assert result.totals.params == meta["num_params"] == sum(p.numel() for p in model.parameters())
    assert round(result.totals.macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-3)
    assert result.totals.flops == 2 * result.totals.macs
    assert result.totals.output_shape == (1000,)


def test_leaf_rows_add_up_to_the_totals():
    model = tvm.resnet18(num_classes=10)
    result = summary(model, (3, 64, 64))
    assert sum(r.params for r in result.rows) == result.totals.params == sum(p.numel() for p in model.parameters())
    assert sum(r.flops for r in result.rows) == result.totals.flops
    # torchvision's BasicBlock calls its ReLU twice: two rows, parameters counted once.
    relu_rows = [r for r in result.rows if r.name == "layer1.0.relu"]
    assert len(relu_rows) == 2


def test_conv_rows_count_two_flops_per_analytic_mac():
    model = tvm.alexnet()
    result = summary(model, (3, 224, 224), device="cpu")
    convs = {name: m for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    shape = (3, 224, 224)
    for row in result.rows:
        if row.name in convs:
            conv = convs[row.name]
            report = conv_arithmetic(shape, conv.kernel_size[0], stride=conv.stride[0], padding=conv.padding[0],
                                     filters=conv.out_channels, exact=False)  # 224 does not fit exactly
            assert row.output_shape == report.output_shape
            assert row.params == report.params
            assert row.flops == 2 * report.macs
        if isinstance(row.output_shape, tuple) and len(row.output_shape) == 3:
            shape = row.output_shape


def test_depth_collapses_blocks():
    model = _on_meta(tvm.resnet18)
    leaves = summary(model, (3, 224, 224))
    blocks = summary(model, (3, 224, 224), depth=2)
    top = summary(model, (3, 224, 224), depth=1)
    assert [r.name for r in top.rows] == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                                          "avgpool", "fc"]
    assert [r.output_shape for r in top.rows if r.name.startswith("layer")] == [
        (64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)]
    assert [r.name for r in blocks.rows if r.type == "BasicBlock"] == [f"layer{i}.{j}" for i in range(1, 5) for j in (0, 1)]
    for result in (leaves, blocks, top):
        assert sum(r.params for r in result.rows) == leaves.totals.params
        assert sum(r.flops for r in result.rows) == leaves.totals.flops
    assert summary(model, (3, 224, 224), depth=0).rows[0].name == ""


def _receptive_field_by_gradient(model: nn.Module, size: int, where: tuple[int, int]) -> tuple[int, int]:
    """Extent (rows) and first row of the input that one output position depends on.

    ReLUs become identities and max pools average pools of the same geometry, weights are 1 and
    batch norm is the identity, so every path carries a positive gradient: the nonzero region is
    exactly the theoretical receptive field (as long as it lies inside the image).
    """
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, child_name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    model = model.double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    x = torch.ones(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    out = model(x)
    out[0, :, where[0], where[1]].sum().backward()
    rows = x.grad[0].abs().sum(dim=(0, 2)).nonzero().flatten()
    assert 0 < rows.min() and rows.max() < size - 1, "the field touches the border"
    return int(rows.max() - rows.min() + 1), int(rows.min())


def test_resnet18_receptive_field_matches_gradient_measurement_and_published_value():
    net = tvm.resnet18()
    body = nn.Sequential(*list(net.children())[:-2])  # up to layer4: (B, 512, H/32, W/32)
    result = summary(body, (3, 224, 224), device="cpu")
    field = result.totals.receptive_field
    assert field.size == (435, 435) and field.jump == (32, 32)  # the commonly published value
    assert result.row("7.1.conv2").receptive_field.size == (435, 435)  # layer4's last conv
    assert result.row("3").receptive_field.size == (11, 11)  # the stem's max pool
    size, _ = _receptive_field_by_gradient(body, 448, (7, 7))
    assert size == 435


def test_jump_matches_gradient_shift_on_a_branching_net():
    class Branchy(nn.Module):
        """An Inception-style concat of a 5x5 path and a stride-2 path feeding a residual add."""

        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3, stride=2)
            self.a = nn.Conv2d(4, 4, 5, padding=2)
            self.b = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 3, padding=1))
            self.pool = nn.MaxPool2d(3, stride=2, padding=1)
            self.c = nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            x = self.stem(x)
            x = torch.cat([self.a(x), self.b(x)], dim=1)
            x = self.pool(x)
            return torch.relu(x + self.c(x))

    model = Branchy()
    result = summary(model, (3, 64, 64))
    expected_size = 3 + (5 - 1) * 2 + (3 - 1) * 2 + (3 - 1) * 4  # stem, widest branch, pool, c
    assert result.totals.receptive_field.size == (expected_size,) * 2
    assert result.totals.receptive_field.jump == (4, 4)
    size, first = _receptive_field_by_gradient(model, 64, (8, 8))
    _, shifted = _receptive_field_by_gradient(Branchy(), 64, (9, 8))
    assert size == expected_size
    assert shifted - first == 4  # one output row further down moves the field by the jump


def test_jump_equals_gradient_shift():
    def make() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 2, 3, stride=2), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3, stride=3))

    result = summary(make(), (3, 96, 96))
    size, first = _receptive_field_by_gradient(make(), 96, (3, 3))
    _, second = _receptive_field_by_gradient(make(), 96, (4, 3))
    assert second - first == result.totals.receptive_field.jump[0] == 2 * 2 * 3
    assert size == result.totals.receptive_field.size[0] == 3 + 1 * 2 + 2 * 4


def test_output_receptive_field_of_a_classifier_covers_its_feature_map():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    result = summary(model, (1, 28, 28))
    assert result.row("0").receptive_field.size == (3, 3)
    assert result.row("2").receptive_field is None  # no spatial axes
    assert result.totals.receptive_field.size == (28, 28)


def test_to_dict_is_json_and_str_is_a_table():
    result = summary(tvm.alexnet(num_classes=7), (3, 224, 224), depth=1)
    data = json.loads(json.dumps(result.to_dict()))
    assert [r["name"] for r in data["rows"]] == ["features", "avgpool", "classifier"]
    assert data["rows"][0]["output_shape"] == [256, 6, 6]
    assert data["rows"][0]["receptive_field"] == {"size": [195, 195], "jump": [32, 32]}
    assert data["totals"]["params"] == result.totals.params
    text = str(result)
    assert "features" in text and "classifier" in text and f"{result.totals.params:,}" in text


def test_training_mode_and_model_are_left_as_they_were():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model.train()
    model[2].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    summary(model, (1, 8, 8), batch_size=3)
    assert torch.equal(rng, torch.get_rng_state())
    assert model.training and model[1].training and not model[2].training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats untouched
    assert not model[0]._forward_hooks and not model[0]._forward_pre_hooks


def test_batch_size_scales_macs_and_memory_not_params():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    one, four = summary(model, (3, 16, 16)), summary(model, (3, 16, 16), batch_size=4)
    assert four.totals.macs == 4 * one.totals.macs
    assert four.totals.input_bytes == 4 * one.totals.input_bytes == 4 * 3 * 16 * 16 * 4
    assert four.totals.params == one.totals.params
    assert four.rows[0].output_shape == (8, 14, 14)


def test_unused_modules_are_noted():
    model = _on_meta(tvm.googlenet, aux_logits=True, init_weights=False)
    result = summary(model, (3, 224, 224), depth=1)
    assert any("aux1" in note for note in result.notes)


def test_bad_arguments():
    model = nn.Conv2d(3, 4, 3)
    for bad in [(3, 0, 4), ("a", 2), ()]:
        with pytest.raises(ConfigError):
            summary(model, bad)
    with pytest.raises(ConfigError):
        summary(model, (3, 8, 8), depth=-1)
    with pytest.raises(ConfigError, match="model.to"):
        summary(model, (3, 8, 8), device="meta")
    with pytest.raises(ShapeError, match="channel count"):
        summary(model, (1, 8, 8))
    with pytest.raises(ShapeError, match="features"):
        summary(tvm.alexnet(), (3, 16, 16))  # too small for AlexNet's pooling


def test_public_names():
    from cnnlab.inspect import conv_output_size

    assert cnnlab.summary is summary and cnnlab.conv_output_size is conv_output_size
