"""Published architecture tables, reproduced by our models (shapes on the meta device: no compute)."""
from __future__ import annotations

import torch
from torch import nn

from cnnlab.models import create_model
from cnnlab.models.vgg import VGGBlock


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_lenet5_has_61706_parameters():
    assert n_params(create_model("lenet5", num_classes=10, in_channels=1, input_size=28)) == 61_706
    model = create_model("lenet5")
    assert isinstance(model.features.act1, nn.Sigmoid) and isinstance(model.features.pool1, nn.AvgPool2d)
    relu = create_model("lenet5_relu")
    assert isinstance(relu.features.act1, nn.ReLU) and isinstance(relu.features.pool1, nn.MaxPool2d)


def test_alexnet_2012_layer_table():
    with torch.device("meta"):
        model = create_model("alexnet_2012", num_classes=1000, in_channels=3, input_size=227)
        x = torch.empty(1, 3, 227, 227)
        shapes = {}
        for name, layer in model.features.named_children():
            x = layer(x)
            shapes[name] = tuple(x.shape[1:])
    assert shapes["conv1"] == (96, 55, 55) and shapes["pool1"] == (96, 27, 27)
    assert shapes["conv2"] == (256, 27, 27) and shapes["pool2"] == (256, 13, 13)
    assert shapes["conv3"] == shapes["conv4"] == (384, 13, 13) and shapes["conv5"] == (256, 13, 13)
    assert shapes["pool3"] == (256, 6, 6)
    assert n_params(model.features.conv1) == 11 * 11 * 3 * 96 + 96 == 34_944
    assert [m.out_features for m in model.classifier if isinstance(m, nn.Linear)] == [4096, 4096, 1000]
    assert model.classifier[0].in_features == 6 * 6 * 256
    assert [type(m) for m in model.features if isinstance(m, nn.LocalResponseNorm)] == [nn.LocalResponseNorm] * 2


def test_alexnet_2012_lrn_is_the_papers_formula():
    """b = a / (k + alpha * sum over n neighbouring channels of a^2)^beta, k=2, n=5, alpha=1e-4, beta=0.75."""
    lrn = create_model("alexnet_2012").features.norm1
    a = torch.randn(2, 9, 4, 4) * 30
    sq = nn.functional.pad(a.pow(2), (0, 0, 0, 0, 2, 2))  # zero channels beyond the edges
    window = torch.stack([sq[:, c:c + 5].sum(1) for c in range(9)], 1)
    torch.testing.assert_close(lrn(a), a / (2 + 1e-4 * window) ** 0.75)


def test_vgg11_blocks_on_1x224x224():
    with torch.device("meta"):
        model = create_model("vgg11", num_classes=10, in_channels=1, input_size=224)
        x = torch.empty(1, 1, 224, 224)
        outputs = []
        for block in model.features:
            x = block(x)
            outputs.append(tuple(x.shape[1:]))
    assert len(model.features) == 5 and all(isinstance(b, VGGBlock) for b in model.features)
    assert outputs == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    convs = [sum(isinstance(m, nn.Conv2d) for m in block) for block in model.features]
    assert convs == [1, 1, 2, 2, 2]  # configuration A: 8 conv layers + 3 FC = 11


def test_googlenet_paper_5x5_branch_option():
    """torchvision's (and our default) '5x5' branch is 3x3; branch3_kernel=5 restores the paper's."""
    with torch.device("meta"):
        default, paper = create_model("googlenet"), create_model("googlenet", branch3_kernel=5)
    assert paper.inception3a.branch3[1].conv.kernel_size == (5, 5)
    extra = sum((25 - 9) * b.branch3[1].conv.in_channels * b.branch3[1].conv.out_channels
                for b in (m for m in paper.modules() if type(m).__name__ == "Inception"))
    assert n_params(paper) - n_params(default) == extra


def test_alexnet_2012_paper_init():
    torch.manual_seed(0)
    model = create_model("alexnet_2012", paper_init=True)
    f = model.features
    assert all((c.bias == 1).all() for c in (f.conv2, f.conv4, f.conv5, model.classifier[0], model.classifier[3]))
    assert (f.conv1.bias == 0).all() and (f.conv3.bias == 0).all() and (model.classifier[-1].bias == 0).all()
    assert abs(f.conv3.weight.std().item() - 0.01) < 1e-3
