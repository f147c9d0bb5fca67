"""Our alexnet, vgg*, googlenet, resnet* and densenet* against torchvision's implementations.

At the ImageNet configuration (1000 classes, 3x224x224): the same parameter count, torchvision's
state_dict loads through `cnnlab.models.convert`, and both give the same logits in eval mode.
"""
from __future__ import annotations

import warnings

import pytest
import torch
import torchvision

from cnnlab.errors import CheckpointError
from cnnlab.models import create_model, list_models
from cnnlab.models.convert import (convert_torchvision_state_dict, has_torchvision_counterpart,
                                   load_torchvision_weights)

TV_NAMES = [n for n in list_models() if has_torchvision_counterpart(n)]
# (name, options given to both implementations): GoogLeNet with and without its auxiliary heads
CASES = [(n, {}) for n in TV_NAMES if n != "googlenet"] + [("googlenet", {"aux_logits": False}),
                                                          ("googlenet", {"aux_logits": True})]
IMAGENET = dict(num_classes=1000, in_channels=3, input_size=224)


def _id(case) -> str:
    name, options = case
    return name + "".join(f"-{k}={v}" for k, v in options.items())


def torchvision_model(name: str, **options) -> torch.nn.Module:
    extra = {"init_weights": True} if name == "googlenet" else {}  # its default init, without the warning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torchvision.models.get_model(name, weights=None, **options, **extra)


def test_the_classic_families_are_all_compared():
    classic = ["alexnet", "googlenet", *(f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")),
               *(f"resnet{d}" for d in (18, 34, 50, 101, 152)), *(f"densenet{d}" for d in (121, 161, 169, 201)),
               "wide_resnet50_2", "wide_resnet101_2"]
    assert set(classic) <= set(TV_NAMES)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_same_parameters_as_torchvision(case):
    """Counts, names and shapes after conversion, for every variant (on the meta device: no memory)."""
    name, options = case
    with torch.device("meta"):
        theirs = torchvision_model(name, **options)
        ours = create_model(name, **IMAGENET, **options)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    converted = convert_torchvision_state_dict(name, theirs.state_dict(), **options)
    assert {k: v.shape for k, v in converted.items()} == {k: v.shape for k, v in ours.state_dict().items()}


@pytest.mark.parametrize("case", CASES, ids=_id)  # every variant: the acceptance test
def test_torchvision_weights_give_the_same_logits(case):
    name, options = case
    torch.manual_seed(0)
    theirs = torchvision_model(name, **options).eval()
    with torch.device("meta"):  # every tensor is overwritten by the load, so skip our initialisation
        ours = create_model(name, **IMAGENET, **options)
    ours = ours.to_empty(device="cpu")
    assert load_torchvision_weights(ours, theirs.state_dict()) == []
    ours.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def tv_resnet18() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return torchvision_model("resnet18").state_dict()


def test_transfer_learning_skips_the_mismatched_classifier(tv_resnet18):
    model = create_model("resnet18", num_classes=10, in_channels=3, input_size=224)
    with pytest.raises(CheckpointError, match=r"fc.weight: \(1000, 512\) vs \(10, 512\).*skip_mismatched=True"):
        load_torchvision_weights(model, tv_resnet18)
    assert load_torchvision_weights(model, tv_resnet18, skip_mismatched=True) == ["fc.weight", "fc.bias"]
    torch.testing.assert_close(model.layer4[1].conv2.weight, tv_resnet18["layer4.1.conv2.weight"])


def test_small_stem_does_not_silently_take_imagenet_stem_weights(tv_resnet18):
    model = create_model("resnet18", num_classes=1000, in_channels=3, input_size=32)
    with pytest.raises(CheckpointError, match=r"conv1.weight: \(64, 3, 7, 7\) vs \(64, 3, 3, 3\)"):
        load_torchvision_weights(model, tv_resnet18)


def test_weights_from_a_file(tv_resnet18, tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(tv_resnet18, path)
    model = create_model("resnet18")
    load_torchvision_weights(model, path)
    torch.testing.assert_close(model.conv1.weight, tv_resnet18["conv1.weight"])
    with pytest.raises(CheckpointError, match="does not exist"):
        load_torchvision_weights(model, tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_torchvision_weights(model, tmp_path / "junk.pth")


def test_googlenet_aux_weights_are_dropped_or_required():
    with torch.device("meta"):
        with_aux = torchvision_model("googlenet", aux_logits=True).state_dict()
    assert not any(k.startswith("aux") for k in convert_torchvision_state_dict("googlenet", with_aux))
    model = create_model("googlenet", aux_logits=True)
    without_aux = {k: v for k, v in model.state_dict().items() if not k.startswith("aux")}
    with pytest.raises(CheckpointError, match=r"missing aux1\..*aux_logits=True"):
        load_torchvision_weights(model, without_aux)


def test_models_without_a_torchvision_counterpart():
    with pytest.raises(CheckpointError, match="alexnet_2012 has no torchvision counterpart"):
        convert_torchvision_state_dict("alexnet_2012", {})
    with pytest.raises(CheckpointError, match="nin has no torchvision counterpart"):
        load_torchvision_weights(create_model("nin", input_size=32), {})
