"""Per-model training defaults: declared by every family, resolved below recipe/config/flags, fitted to the dataset."""
from __future__ import annotations

import importlib

import pytest

from cnnlab.models import TrainDefaults, list_models, model_info, train_defaults
from cnnlab.training import describe_settings, resolve_config, resolve_settings, train
from cnnlab.training.config import load_yaml, recipe_path
from train_support import misbehaving_models  # noqa: F401  (a fixture)

# The smallest variant of every family (options where the family has no small variant), for the
# default suite's short runs; the slow test below covers every registered model.
SMALLEST: dict[str, tuple[str, dict]] = {
    "linear": ("linear", {}),
    "mlp": ("mlp", {}),
    "lenet": ("lenet5", {}),
    "alexnet": ("alexnet_small", {}),
    "vgg": ("vgg_small_bn", {}),
    "nin": ("nin_small", {}),
    "googlenet": ("googlenet_small", {}),
    "resnet": ("resnet18_small", {}),
    "senet": ("se_resnet18", dict(widths=[16, 32, 64, 128], stem_width=16, small_stem_pool=True)),
    "densenet": ("densenet_small", {}),
    "fastnet": ("fastnet_small", {}),
    "mobilenet": ("mobilenet_v1", dict(width_mult=0.25)),
    "shufflenet": ("shufflenet_v2_x0_5", {}),
}
# a short run: the model's optimizer, lr, schedule and label smoothing over this many epochs of digits
# at 16x16 in batches of 32 (40 steps an epoch; 1 epoch unless listed: the nets without batch norm and
# the depthwise ones need more steps, the sigmoid LeNet and NiN's ReLU class maps the most)
SHORT_EPOCHS = {"lenet": 6, "nin": 6, "alexnet": 3, "vgg": 3, "mobilenet": 3, "shufflenet": 3}
SHORT_RUN = dict(batch_size=32, image_size=16, threads=1, report=False, quiet=True)


def cnnlab_families() -> set[str]:
    return {model_info(n).family for n in list_models() if model_info(n).builder.__module__.startswith("cnnlab.")}


def test_every_family_declares_its_training_defaults() -> None:
    assert set(SMALLEST) == cnnlab_families()
    for family in cnnlab_families():
        module = importlib.import_module(f"cnnlab.models.{family}")
        assert isinstance(module.TRAIN_DEFAULTS, TrainDefaults), family
    assert train_defaults("lenet5") == importlib.import_module("cnnlab.models.lenet").TRAIN_DEFAULTS
    fastnet = importlib.import_module("cnnlab.models.fastnet")  # two lineages in one family file
    assert train_defaults("fastnet_small") == fastnet.TRAIN_DEFAULTS
    assert train_defaults("airnet_small") == fastnet.AIRNET_TRAIN_DEFAULTS != fastnet.TRAIN_DEFAULTS


def test_a_model_registered_elsewhere_trains_with_the_built_in_defaults(misbehaving_models) -> None:
    assert train_defaults("_test_nan_after") == TrainDefaults()
    cfg = resolve_config("_test_nan_after", "digits")
    assert (cfg.lr, cfg.epochs, cfg.image_size) == (0.1, 10, None)


def test_settings_resolve_model_default_then_recipe_then_config_file_then_flag(tmp_path) -> None:
    lenet = train_defaults("lenet5")
    r = resolve_settings("lenet5", "fashion-mnist")
    assert (r.config.optimizer, r.config.lr, r.config.batch_size) == (lenet.optimizer, lenet.lr, lenet.batch_size)
    assert r.sources["lr"] == "model default" and r.sources["momentum"] == "built-in default"
    assert r.sources["model"] == "flag" and r.notes == []  # 28x28 images, 210 steps an epoch: nothing to fit

    recipe = load_yaml(recipe_path("demo"))
    r = resolve_settings("lenet5", "fashion-mnist", recipe="demo")  # the recipe's lr over the model's
    assert (r.config.lr, r.sources["lr"]) == (recipe["lr"], "recipe")
    assert (r.config.optimizer, r.sources["optimizer"]) == (recipe["optimizer"], "recipe")
    assert recipe["optimizer"] != lenet.optimizer

    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.03\nweight-decay: 0.001\n")
    r = resolve_settings("lenet5", "fashion-mnist", recipe="demo", config=path)
    assert (r.config.lr, r.sources["lr"], r.sources["weight_decay"]) == (0.03, "config file", "config file")

    r = resolve_settings("lenet5", "fashion-mnist", recipe="demo", config=path, overrides={"lr": 0.01})
    assert (r.config.lr, r.sources["lr"]) == (0.01, "flag")
    assert r.sources["batch_size"] == "recipe"


def test_the_model_named_in_a_recipe_or_config_picks_the_defaults(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: vgg_small_bn\n")
    r = resolve_settings(config=path, data="fashion-mnist")
    assert (r.config.optimizer, r.sources["optimizer"]) == (train_defaults("vgg_small_bn").optimizer, "model default")


def test_small_images_are_resized_and_a_small_dataset_gets_enough_steps() -> None:
    lenet = train_defaults("lenet5")
    r = resolve_settings("lenet5", "digits")
    assert r.config.image_size == lenet.min_image_size == 28
    steps_per_epoch = int(1437 * 0.9) // lenet.batch_size
    assert r.config.epochs * steps_per_epoch >= lenet.min_steps > lenet.epochs * steps_per_epoch
    assert (r.sources["image_size"], r.sources["epochs"]) == ("model default", "model default")
    assert len(r.notes) == 2 and "8x8" in r.notes[0] and "--image-size" in r.notes[0] and "--epochs" in r.notes[1]

    chosen = resolve_settings("lenet5", "digits", overrides={"epochs": 3, "image_size": 32})
    assert (chosen.config.epochs, chosen.config.image_size, chosen.notes) == (3, 32, [])
    assert resolve_settings("fastnet_small", "digits").config.image_size is None  # FastNet takes 8x8 images


def test_show_config_prints_each_setting_with_its_source_and_trains_nothing(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cnnlab.cli import _register_all, app

    _register_all()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "lenet5", "--data", "digits", "--lr", "0.01", "--show-config"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line and not line.startswith("note")}
    assert lines["lr"][1:] == ["0.01", "flag"]
    assert lines["optimizer"][1:] == ["adam", "model", "default"]
    assert lines["momentum"][1:] == ["0.9", "built-in", "default"]
    assert lines["image_size"][1:] == ["28", "model", "default"]
    assert "note: digits's images are 8x8" in result.output
    assert not (tmp_path / "runs").exists()
    assert describe_settings(resolve_settings("lenet5", "digits", overrides={"lr": 0.01})) in result.output


def _short_run(name: str, family: str, tmp_path, **model_kwargs):
    return train(name, "digits", model_kwargs=model_kwargs, epochs=SHORT_EPOCHS.get(family, 1),
                 run_dir=str(tmp_path / "run"), **SHORT_RUN)


@pytest.mark.parametrize("family", sorted(SMALLEST))
def test_the_smallest_model_of_each_family_learns_digits_with_its_defaults(family, tmp_path) -> None:
    name, kwargs = SMALLEST[family]
    result = _short_run(name, family, tmp_path, **kwargs)
    assert result.results["test_acc"] > 0.5, f"{name}: {result.results['test_acc']:.3f} (chance 0.1)"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in list_models() if not n.startswith("_")])
def test_every_model_learns_digits_with_its_defaults(name, tmp_path) -> None:
    """The same short run for every registered model (the big ones take minutes)."""
    result = _short_run(name, model_info(name).family, tmp_path)
    assert result.results["test_acc"] > 0.5, f"{name}: {result.results['test_acc']:.3f} (chance 0.1)"
