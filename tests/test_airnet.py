"""airbench's tricks in cnnlab: the frozen patch-whitening stem and the norm-bias learning rate."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import cnnlab
from cnnlab.data import load_dataset, make_loader
from cnnlab.errors import ConfigError
from cnnlab.models import create_model
from cnnlab.models.fastnet import PatchWhitening
from cnnlab.training import TrainConfig, read_checkpoint
from cnnlab.training.optim import build_optimizer, build_scheduler
from cnnlab.training.setup import DATA_INIT_IMAGES


def _correlated_images(n: int = 400, channels: int = 1, size: int = 12) -> torch.Tensor:
    """Smooth random images: neighbouring pixels strongly correlated, unequal variances."""
    torch.manual_seed(0)
    noise = torch.randn(n, channels, size + 2, size + 2)
    return 3.0 * nn.functional.avg_pool2d(noise, 3, stride=1) + 0.5


@pytest.mark.parametrize("channels, kernel", [(1, 2), (1, 3), (3, 2)])
def test_whitening_outputs_have_identity_covariance(channels, kernel):
    images = _correlated_images(channels=channels)
    layer = PatchWhitening(channels, kernel)
    assert layer.out_channels == 2 * channels * kernel * kernel
    layer.fit(images)
    with torch.no_grad():
        out = layer(images)                                     # (N, 2D, H', W')
    half = out[:, : layer.out_channels // 2].permute(0, 2, 3, 1).reshape(-1, layer.out_channels // 2)
    cov = torch.cov(half.T.double())
    # eps = 5e-4 shrinks each unit variance by lambda / (lambda + eps): all eigenvalues here are >> eps
    assert torch.allclose(cov, torch.eye(len(cov), dtype=cov.dtype), atol=0.02)
    assert torch.equal(out[:, layer.out_channels // 2:], -out[:, : layer.out_channels // 2])  # both signs


def test_whitening_stem_is_frozen_and_only_its_bias_learns():
    model = create_model("airnet_small", stem="whiten")
    whiten = model.stem[0]
    assert isinstance(whiten, PatchWhitening) and not whiten.weight.requires_grad and whiten.bias.requires_grad
    optimized = {id(p) for g in build_optimizer(model, TrainConfig(model="airnet_small")).param_groups for p in g["params"]}
    assert id(whiten.weight) not in optimized and id(whiten.bias) in optimized
    before = whiten.weight.clone()
    model.init_from_data(_correlated_images(size=28))
    assert not torch.equal(before, whiten.weight)
    assert "stem.0.weight" in model.state_dict()                # saved with the checkpoint, so eval/resume agree
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_whitening_stem_without_bias_sends_no_gradient_into_the_stem():
    images = _correlated_images(size=28)
    with_bias = create_model("airnet_small", stem="whiten")
    without = create_model("airnet_small", stem="whiten", whiten_bias=False)
    assert without.stem[0].bias is None and "stem.0.bias" not in without.state_dict()
    without.init_from_data(images)
    with_bias.init_from_data(images)                                 # fitting sets the bias to 0
    with_bias.load_state_dict(without.state_dict(), strict=False)  # and the rest to the other net's weights
    assert torch.equal(with_bias.stem[0].bias, torch.zeros(8))
    x = torch.randn(4, 1, 28, 28)
    # the first conv's input needs no gradient, so backward skips it (the step is 1.08x faster on the AVX2 net)
    assert with_bias.train().stem(x).requires_grad and not without.train().stem(x).requires_grad
    assert torch.equal(with_bias.eval()(x), without.eval()(x))
    optimized = {id(p) for g in build_optimizer(without, TrainConfig(model="airnet_small")).param_groups for p in g["params"]}
    assert not any(id(p) in optimized for p in without.stem.parameters())


@pytest.mark.parametrize("options, match", [
    ({"stem": "whiten", "whiten_bias": "no"}, "whiten_bias must be true or false, got 'no'"),
    ({"stem": "conv", "whiten_bias": False}, r"whiten_bias=False drops the whitening stem's bias: add stem='whiten'"),
])
def test_bad_whiten_bias_is_a_config_error(options, match):
    with pytest.raises(ConfigError, match=match):
        create_model("airnet_small", **options)


@pytest.mark.parametrize("stem", ["conv", "whiten"])
def test_act_layer_replaces_every_gelu(stem):
    model = create_model("airnet_small", stem=stem, act_layer="relu")
    kinds = {type(m) for m in model.modules()}
    assert nn.ReLU in kinds and nn.GELU not in kinds
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == sum(
        isinstance(m, nn.GELU) for m in create_model("airnet_small", stem=stem).modules())
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ConfigError, match="unknown activation layer 'swishy'"):
        create_model("airnet_small", act_layer="swishy")


@pytest.mark.parametrize("stem", ["conv", "whiten"])
def test_stem_act_layer_replaces_the_stems_activation_only(stem):
    model = create_model("airnet_small", stem=stem, stem_act_layer="relu")
    plain = create_model("airnet_small", stem=stem)
    assert [type(m) for m in model.stem] == [nn.ReLU if isinstance(m, nn.GELU) else type(m) for m in plain.stem]
    assert [type(m) for m in model.groups.modules()] == [type(m) for m in plain.groups.modules()]  # GELU stays
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_relu_after_the_whitening_stem_keeps_the_whitened_values():
    """The filters come in +-v pairs, so ReLU(z) - ReLU(-z) gives back z: the stem loses nothing."""
    whiten = create_model("airnet_small", stem="whiten", stem_act_layer="relu").stem
    x = torch.randn(4, 1, 28, 28)
    whiten[0].fit(x)
    with torch.no_grad():
        z, out = whiten[0](x), whiten(x)
    half = z.shape[1] // 2
    torch.testing.assert_close(out[:, :half] - out[:, half:], z[:, :half])


def test_depths_set_the_convs_of_each_group():
    model = create_model("airnet_small", depths=[1, 3, 2])
    convs = [sum(isinstance(m, nn.Conv2d) for m in group.modules()) for group in model.groups]
    assert convs == [1, 3, 2]
    assert all(isinstance(group[1], nn.MaxPool2d) for group in model.groups)  # the first conv still pools
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("options", [{"depths": [2, 2, 2]}, {"downsample": "pool"}])
def test_default_depths_and_downsample_build_the_same_network(options):
    torch.manual_seed(0)
    default = create_model("airnet_small").state_dict()
    torch.manual_seed(0)
    explicit = create_model("airnet_small", **options).state_dict()
    assert default.keys() == explicit.keys() and all(torch.equal(default[k], explicit[k]) for k in default)


@pytest.mark.parametrize("depths", [[1, 0, 2], [2, 2], [1.5, 2, 2], [True, 2, 2]])  # a bool is an int to Python
def test_bad_depths_are_a_config_error(depths):
    with pytest.raises(ConfigError, match=r"depths must give each of the 3 groups .* convs >= 1"):
        create_model("airnet_small", depths=depths)


def test_downsample_by_a_strided_conv_instead_of_a_max_pool():
    model = create_model("airnet_small", stem="whiten", downsample=["stride", "stride", "pool"])
    first_convs = [group[0] for group in model.groups]
    assert [conv.stride for conv in first_convs] == [(2, 2), (2, 2), (1, 1)]
    assert [isinstance(group[1], nn.MaxPool2d) for group in model.groups] == [False, False, True]
    x = model.stem(torch.randn(2, 1, 28, 28))                  # 27x27 after the 2x2 whitening conv
    sizes = []
    for group in model.groups:
        x = group(x)
        sizes.append(x.shape[-1])
    assert sizes == [14, 7, 3]                                 # (27 + 2 - 3) // 2 + 1 = 14; then 7; pool: 3
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("downsample", ["avg", ["stride", "pool"]])
def test_bad_downsample_is_a_config_error(downsample):
    with pytest.raises(ConfigError, match="downsample must be 'pool' or 'stride', or a list of those with one per group"):
        create_model("airnet_small", downsample=downsample)


def test_unknown_stem_is_a_config_error():
    with pytest.raises(ConfigError, match="stem must be 'conv' or 'whiten'"):
        create_model("airnet_small", stem="patchify")


def test_trainer_fits_the_whitening_stem_on_training_images(tmp_path):
    # digits are 8x8: a 2x2 unpadded stem would leave too little for three poolings, so 1x1 patches
    result = cnnlab.train("airnet_small", "digits", model_kwargs={"stem": "whiten", "whiten_kernel": 1}, epochs=1, batch_size=64,
                          lr=0.4, threads=1, report=False, quiet=True, run_dir=str(tmp_path / "run"))
    saved = read_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"]["stem.0.weight"]
    bundle = load_dataset("digits", val_fraction=0.1, seed=0)
    images, _ = next(iter(make_loader(bundle.train, batch_size=DATA_INIT_IMAGES, shuffle=False,
                                      mean=bundle.mean, std=bundle.std)))
    expected = PatchWhitening(1, 1)
    expected.fit(images)
    assert torch.allclose(saved, expected.weight, atol=1e-5)   # fitted on the un-augmented training images
    assert result.results["test_acc"] > 0.5                    # and the net trains from there


def test_norm_bias_lr_mult_gives_norm_layers_their_own_rate():
    model = create_model("airnet_small")
    cfg = TrainConfig(model="airnet_small", lr=0.1, norm_bias_lr_mult=64)
    opt = build_optimizer(model, cfg)
    norm_ids = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters(recurse=False)}
    rates = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert norm_ids and all(rates[i] == pytest.approx(6.4) for i in norm_ids)
    assert all(rate == pytest.approx(0.1) for i, rate in rates.items() if i not in norm_ids)
    sched = build_scheduler(opt, cfg, steps_per_epoch=20)          # one-cycle peaks at each group's own rate
    peaks = [0.0] * len(opt.param_groups)
    for _ in range(cfg.epochs * 20):
        peaks = [max(a, g["lr"]) for a, g in zip(peaks, opt.param_groups)]
        opt.step()
        sched.step()
    assert sorted(set(round(p, 6) for p in peaks)) == [0.1, 6.4]


def test_norm_bias_lr_mult_must_be_positive():
    with pytest.raises(ConfigError, match="norm_bias_lr_mult"):
        TrainConfig(norm_bias_lr_mult=0)


BN = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


def _layout(stem: list[str], head: list[str]) -> list[str]:
    """The state_dict keys of the FastNet/AirNet layout with three groups (checkpoints rely on them)."""
    keys = [f"stem.{k}" for k in stem] + head
    for g in range(3):
        keys += [f"groups.{g}.0.weight", *(f"groups.{g}.2.{b}" for b in BN), f"groups.{g}.4.weight",
                 *(f"groups.{g}.5.{b}" for b in BN)]
    return sorted(keys)


@pytest.mark.parametrize("name, options, keys", [
    ("fastnet_small", {}, _layout(["0.weight", *(f"1.{b}" for b in BN)], ["fc.weight", "fc.bias"])),
    ("airnet_small", {}, _layout(["0.weight", *(f"1.{b}" for b in BN)], ["fc.weight"])),
    ("airnet_small", {"stem": "whiten"}, _layout(["0.weight", "0.bias"], ["fc.weight"])),
    ("airnet_small", {"stem": "whiten", "whiten_bias": False}, _layout(["0.weight"], ["fc.weight"])),
])
def test_fastnet_and_airnet_keep_their_checkpoint_keys(name, options, keys):
    """One family with options: the state_dict keys are those of the checkpoints both names wrote."""
    assert sorted(create_model(name, **options).state_dict()) == keys


def test_airnet_is_fastnet_with_airbench_options():
    torch.manual_seed(0)
    air = create_model("airnet_small")
    torch.manual_seed(0)
    fast = create_model("fastnet_small", bn_momentum=0.4, freeze_bn_scale=True, dirac=True, logit_scale=1 / 9,
                        head_bias=False)
    assert all(torch.equal(a, b) for a, b in zip(air.state_dict().values(), fast.state_dict().values()))
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(air.eval()(x), fast.eval()(x))
    frozen = air.groups[0][2]
    assert not any(p is frozen.weight for p in air.parameters()) and air.fc.bias is None  # scale frozen, no bias
    for name in ("airnet", "fastnet"):  # a recipe's model_kwargs override the variant's widths and options
        model = create_model(name, widths=[8, 16, 24], dirac=False)
        assert model.num_features == 24 and model.groups[0][0].out_channels == 8
