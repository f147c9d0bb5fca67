"""Transfer learning: `cnnlab train MODEL --weights FILE` with a new head, frozen or fine-tuned.

The weights files are made here: a (randomly initialised, seeded) torchvision resnet18 state_dict
saved with torch.save, and the checkpoint of a tiny cnnlab run. The data is a generated folder:
dataset of 32x32 images, 1 epoch on one thread.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cnnlab.cli import main
from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.models import create_model
from cnnlab.training import TrainConfig, load_model, read_checkpoint, train
from cnnlab.training.optim import build_optimizer
from cnnlab.training.transfer import adapt_input_channels, apply_pretrained, freeze_backbone, read_pretrained

TINY = dict(epochs=1, batch_size=4, lr=0.05, threads=1, report=False, quiet=True, val_fraction=0.2)


def make_folder(root, classes, mode, per_class=5, size=32, seed=0):
    """Class k: a bright square at a class-specific place on noise (learnable, not the point here)."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            img[4 + 8 * k: 12 + 8 * k, 4:12] = 255
            Image.fromarray(img).convert(mode).save(root / name / f"{i}.png")
    return f"folder:{root}"


@pytest.fixture(scope="module")
def gray3(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("gray3"), ["a", "b", "c"], "L")


@pytest.fixture(scope="module")
def rgb2(tmp_path_factory):
    # 16 images: 10 train after the 20% validation and test hold-outs, two steps of 4 for one-cycle to schedule
    return make_folder(tmp_path_factory.mktemp("rgb2"), ["x", "y"], "RGB", per_class=8, seed=1)


@pytest.fixture(scope="module")
def tv_file(tmp_path_factory):
    torch.manual_seed(0)
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path_factory.mktemp("weights") / "resnet18-tv.pth"
    torch.save(state, path)
    return path, state


def _trained(result) -> dict[str, torch.Tensor]:
    return read_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]


def test_frozen_backbone_from_torchvision_weights_on_gray_images(tv_file, gray3, tmp_path, capsys):
    path, state = tv_file
    result = train("resnet18", gray3, weights=str(path), freeze_backbone=True, out=str(tmp_path), **TINY)
    assert result.status == "completed"
    got = _trained(result)
    assert got["fc.weight"].shape == (3, 512) and got["fc.bias"].shape == (3,)
    assert not torch.equal(got["fc.weight"][:, :8], state["fc.weight"][:3, :8])
    # a 1-channel model gets the 3-channel ImageNet stem summed over its input channels
    torch.testing.assert_close(got["conv1.weight"], state["conv1.weight"].sum(1, keepdim=True))
    backbone = [k for k in state if not k.startswith("fc.") and k != "conv1.weight"]
    changed = [k for k in backbone if not torch.equal(got[k], state[k])]
    assert not changed, f"frozen tensors changed (norm statistics included): {changed[:5]}"
    loaded = load_model(result.run_dir)  # meta.json records small_stem=False: the run rebuilds as trained
    assert loaded.meta["model_kwargs"] == {"small_stem": False} and loaded.model.conv1.kernel_size == (7, 7)
    out = capsys.readouterr().out
    assert "new classifier layer 'fc' for 3 classes" in out and "(1000, 512)" in out
    assert "conv1.weight adapted from 3 to 1 input channels" in out


def test_fine_tuning_with_a_lower_backbone_lr_through_the_cli(tv_file, rgb2, tmp_path):
    path, state = tv_file
    run = tmp_path / "ft"
    with pytest.raises(SystemExit) as done:
        main(["train", "resnet18", "--weights", str(path), "--data", rgb2, "--backbone-lr-mult", "0.1",
              "--epochs", "1", "--batch-size", "4", "--lr", "0.05", "--threads", "1", "--no-report", "--quiet",
              "--val-fraction", "0.2", "--run-dir", str(run)])
    assert done.value.code in (0, None)
    ckpt = read_checkpoint(run / "checkpoints" / "last.pt")
    got = ckpt["model"]
    assert got["fc.weight"].shape == (2, 512)
    assert got["conv1.weight"].shape == (64, 3, 7, 7)  # ImageNet stem kept for torchvision weights
    assert not torch.equal(got["layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert not torch.equal(got["conv1.weight"], state["conv1.weight"])
    peaks = [g["max_lr"] for g in ckpt["optimizer"]["param_groups"]]  # one-cycle's peak per group
    assert peaks == pytest.approx([0.05, 0.05, 0.005, 0.005])


def test_param_groups_put_the_head_at_lr_and_the_backbone_lower():
    model = create_model("resnet18", num_classes=2, in_channels=3, input_size=32)
    cfg = TrainConfig(model="resnet18", lr=0.2, backbone_lr_mult=0.1)
    groups = build_optimizer(model, cfg).param_groups
    head = {id(p) for p in model.fc.parameters()}
    assert [g["lr"] for g in groups] == pytest.approx([0.2, 0.2, 0.02, 0.02])
    assert {id(p) for g in groups[:2] for p in g["params"]} == head
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_frozen_norms_keep_their_statistics_in_train_mode():
    model = create_model("resnet18", num_classes=2, in_channels=3, input_size=32)
    frozen = freeze_backbone(model)
    assert "fc.weight" not in frozen and "conv1.weight" in frozen
    before = model.bn1.running_mean.clone()
    model.train()
    model(torch.randn(4, 3, 32, 32) * 5 + 3)
    torch.testing.assert_close(model.bn1.running_mean, before)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]


def test_from_a_cnnlab_run_to_another_class_count(gray3, tmp_path):
    first = train("fastnet_small", gray3, out=str(tmp_path), name="first", **TINY)
    source = _trained(first)
    folder2 = make_folder(tmp_path / "two", ["p", "q"], "L", seed=2)
    second = train("fastnet_small", folder2, weights=str(first.run_dir), freeze_backbone=True,
                   out=str(tmp_path), name="second", **TINY)
    got = _trained(second)
    head = {k for k in got if got[k].shape != source[k].shape}
    assert head and all(got[k].shape[0] == 2 for k in head if k.endswith("weight"))
    same = [k for k in source if k not in head]
    assert all(torch.equal(got[k], source[k]) for k in same)


def test_class_count_mismatch_without_a_new_head_names_the_layer(tv_file, rgb2, tmp_path):
    path, _ = tv_file
    with pytest.raises(CheckpointError, match=r"'fc.weight' has shape \(1000, 512\).*but \(2, 512\)"):
        train("resnet18", rgb2, weights=str(path), new_head=False, out=str(tmp_path), **TINY)


def test_another_stem_is_refused_naming_the_layer(tv_file, rgb2, tmp_path):
    path, _ = tv_file
    with pytest.raises(CheckpointError, match=r"'conv1.weight' has shape \(64, 3, 7, 7\).*\(64, 3, 3, 3\)"):
        train("resnet18", rgb2, weights=str(path), model_kwargs={"small_stem": True}, out=str(tmp_path), **TINY)


def test_weights_of_another_model_are_refused(gray3, tmp_path):
    first = train("fastnet_small", gray3, out=str(tmp_path), name="src", **TINY)
    with pytest.raises(CheckpointError, match="holds a fastnet_small checkpoint but this run trains resnet18"):
        train("resnet18", gray3, weights=str(first.run_dir), out=str(tmp_path), **TINY)


@pytest.mark.parametrize("settings,match", [
    (dict(freeze_backbone=True), "need pretrained weights"),
    (dict(weights="w.pth", freeze_backbone=True, backbone_lr_mult=0.1), "choose one of them"),
])
def test_contradictory_transfer_settings(settings, match):
    with pytest.raises(ConfigError, match=match):
        train("resnet18", "digits", **settings, **TINY)


def test_adapted_filters_give_the_same_response():
    torch.manual_seed(0)
    weight = torch.randn(8, 3, 3, 3)
    gray = torch.randn(2, 1, 10, 10)
    expected = torch.nn.functional.conv2d(gray.expand(-1, 3, -1, -1), weight)
    torch.testing.assert_close(torch.nn.functional.conv2d(gray, adapt_input_channels(weight, 1)), expected)
    # more channels than the file: cyclic repeat, scaled by 3/4 (timm's rule)
    torch.testing.assert_close(adapt_input_channels(weight, 4), torch.cat([weight, weight[:, :1]], 1) * 0.75)


def test_a_multi_layer_classifier_keeps_its_hidden_layers(tmp_path):
    """Only the final Linear is new; LeNet's hidden FC layers come from the file (a bare state_dict)."""
    torch.manual_seed(0)
    source = create_model("lenet5", num_classes=10)
    path = tmp_path / "lenet.pth"
    torch.save(source.state_dict(), path)
    model = create_model("lenet5", num_classes=3)
    apply_pretrained(model, read_pretrained(path), log=lambda message: None)
    final = model.get_classifier()[-1]
    assert final.out_features == 3
    theirs = dict(source.get_classifier().named_parameters())
    hidden = {n: p for n, p in model.get_classifier().named_parameters()
              if p is not final.weight and p is not final.bias}
    assert hidden and all(torch.equal(p, theirs[n]) for n, p in hidden.items())
    torch.testing.assert_close(model.features[0].weight, source.features[0].weight)
