"""Published tables reproduced by `cnnlab.summary` on our zoo, and our counts against torchvision's."""
from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from cnnlab.inspect import conv_arithmetic, summary
from cnnlab.models import create_model, list_models, model_info


def _meta_model(name: str, **kwargs):
    """Shapes and counts do not depend on weights: build and run on the meta device."""
    with torch.device("meta"):
        return create_model(name, **kwargs)


def test_alexnet_2012_reproduces_the_paper_table():
    model = _meta_model("alexnet_2012", num_classes=1000, in_channels=3, input_size=(227, 227))
    result = summary(model, (3, 227, 227))
    layers = [(r.type, r.output_shape) for r in result.rows if r.type in ("Conv2d", "MaxPool2d", "Linear")]
    # CONV1 55x55x96, POOL1 27x27x96, CONV2 27x27x256, POOL2 13x13x256, CONV3 13x13x384,
    # CONV4 13x13x384, CONV5 13x13x256, POOL3 6x6x256, FC6 4096, FC7 4096, FC8 1000 (as C, H, W).
    assert layers == [
        ("Conv2d", (96, 55, 55)), ("MaxPool2d", (96, 27, 27)),
        ("Conv2d", (256, 27, 27)), ("MaxPool2d", (256, 13, 13)),
        ("Conv2d", (384, 13, 13)), ("Conv2d", (384, 13, 13)), ("Conv2d", (256, 13, 13)), ("MaxPool2d", (256, 6, 6)),
        ("Linear", (4096,)), ("Linear", (4096,)), ("Linear", (1000,)),
    ]
    conv1 = next(r for r in result.rows if r.type == "Conv2d")
    assert conv1.params == 34_944 == 11 * 11 * 3 * 96 + 96
    assert conv1.macs == 105_415_200 == 11 * 11 * 3 * 55 * 55 * 96
    assert conv1.flops == 2 * conv_arithmetic((3, 227, 227), 11, stride=4, filters=96).macs
    assert conv1.receptive_field.size == (11, 11) and conv1.receptive_field.jump == (4, 4)
    assert result.totals.params == sum(p.numel() for p in model.parameters())


def test_vgg11_blocks_on_grayscale_224():
    model = _meta_model("vgg11", num_classes=10, in_channels=1, input_size=(224, 224))
    result = summary(model, (1, 224, 224), depth=2)
    blocks = [r for r in result.rows if r.name.startswith("features.")]
    assert [r.output_shape for r in blocks] == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    assert result.totals.output_shape == (10,)


def test_lenet5_has_61706_parameters():
    model = create_model("lenet5", num_classes=10, in_channels=1, input_size=(28, 28))
    result = summary(model, (1, 28, 28))
    assert result.totals.params == 61_706 == sum(p.numel() for p in model.parameters())
    assert sum(r.params for r in result.rows) == 61_706


# Our ImageNet configurations against torchvision's: same parameters, same multiply-adds.
TORCHVISION_TWINS = [
    ("alexnet", tvm.alexnet, {}),
    ("vgg11_bn", tvm.vgg11_bn, {}),
    ("googlenet", tvm.googlenet, {"aux_logits": False, "init_weights": False}),
    ("resnet50", tvm.resnet50, {}),
    ("densenet121", tvm.densenet121, {}),
]


@pytest.mark.parametrize("name, builder, kwargs", TORCHVISION_TWINS, ids=[t[0] for t in TORCHVISION_TWINS])
def test_counts_equal_torchvision(name, builder, kwargs):
    ours = summary(_meta_model(name, num_classes=1000, in_channels=3, input_size=(224, 224)), (3, 224, 224))
    with torch.device("meta"):
        theirs = summary(builder(**kwargs), (3, 224, 224))
    assert ours.totals.params == theirs.totals.params
    assert ours.totals.macs == theirs.totals.macs
    assert ours.totals.output_shape == theirs.totals.output_shape == (1000,)


def _one_per_family() -> set[str]:
    """The shortest name of each family (resnet18, vgg11, densenet121, ...)."""
    first: dict[str, str] = {}
    for name in sorted(list_models(), key=lambda n: (len(n), n)):
        first.setdefault(model_info(name).family, name)
    return set(first.values())


@pytest.mark.parametrize("name", [
    n if n in _one_per_family() else pytest.param(n, marks=pytest.mark.slow) for n in list_models()
])
def test_every_registered_model_summarizes(name):
    model = _meta_model(name, num_classes=7, in_channels=3, input_size=(32, 32))
    result = summary(model, (3, 32, 32))
    assert result.totals.output_shape == (7,)
    assert result.totals.params == sum(p.numel() for p in model.parameters())
    assert result.totals.macs > 0 and result.rows
    assert result.totals.receptive_field is not None
