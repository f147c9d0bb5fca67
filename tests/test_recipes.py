"""The named time-to-accuracy recipes: each one runs end to end for a few steps (no timing thresholds).

The recipes are tuned for Fashion-MNIST; here they run on scikit-learn's 8x8 digits (offline, a
few steps per epoch) with one epoch, which checks that every setting they name is valid together.
"""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from cnnlab.errors import ConfigError
from cnnlab.eval import evaluate_model
from cnnlab.eval.tta import TestTimeAugmentation
from cnnlab.hardware import BF16_ENV
from cnnlab.training import config as config_mod
from cnnlab.training import list_recipes, resolve_config, train
from cnnlab.training.config import NO_BF16_SECTION, load_yaml, recipe_path

SPEED_RECIPES = [name for name in list_recipes() if name.startswith("fashion-mnist-")]


def test_the_speed_recipes_exist():
    assert {"fashion-mnist-90", "fashion-mnist-93", "fashion-mnist-95"} <= set(SPEED_RECIPES)


@pytest.mark.parametrize("native_bf16", ["1", "0"])
@pytest.mark.parametrize("name", list_recipes())
def test_recipe_resolves_to_its_file(name, native_bf16, monkeypatch):
    monkeypatch.setenv(BF16_ENV, native_bf16)
    settings = load_yaml(recipe_path(name))
    variant = settings.pop(NO_BF16_SECTION, {})
    if native_bf16 == "0":
        settings.update(variant)
    cfg = resolve_config(recipe=name, overrides={"device": "cpu"}).to_dict()
    assert settings["data"] == "fashion-mnist"
    assert settings["precision"] == "auto" or name == "d2l-lenet"   # the book's run is fp32 by design
    assert {key: cfg[key] for key in settings} == settings   # every setting of the file, none overridden
    assert (cfg["recipe_variant"] is not None) == (native_bf16 == "0" and bool(variant))


def _recipe_dir_with(tmp_path, monkeypatch, text: str) -> None:
    (tmp_path / "r.yaml").write_text(text)
    monkeypatch.setattr(config_mod, "_recipe_dir", lambda: tmp_path)


def test_a_recipe_picks_its_settings_by_cpu_class_and_says_so(tmp_path, monkeypatch):
    _recipe_dir_with(tmp_path, monkeypatch, f"model: airnet\nepochs: 4\nlr: 0.4\n{NO_BF16_SECTION}:\n  epochs: 2\n")
    monkeypatch.setenv(BF16_ENV, "1")
    native = resolve_config(recipe="r", overrides={"device": "cpu"})
    assert (native.epochs, native.lr, native.recipe_variant) == (4, 0.4, None)
    monkeypatch.setenv(BF16_ENV, "0")
    fp32 = resolve_config(recipe="r", overrides={"device": "cpu"})
    assert (fp32.epochs, fp32.lr) == (2, 0.4)
    assert "r: settings for CPUs without native bf16" in fp32.recipe_variant and "epochs 2" in fp32.recipe_variant
    flagged = resolve_config(recipe="r", overrides={"device": "cpu", "epochs": 3})
    assert flagged.epochs == 3 and "epochs 3" in flagged.recipe_variant   # a flag still wins, and the line says so


def test_a_misspelt_setting_in_the_cpu_class_section_fails_on_every_cpu(tmp_path, monkeypatch):
    _recipe_dir_with(tmp_path, monkeypatch, f"model: airnet\n{NO_BF16_SECTION}:\n  epochz: 2\n")
    monkeypatch.setenv(BF16_ENV, "1")
    with pytest.raises(ConfigError, match="epochz"):
        resolve_config(recipe="r")


@pytest.mark.parametrize("native_bf16", ["0", "1"])
@pytest.mark.parametrize("name", SPEED_RECIPES)
def test_recipe_runs_a_few_steps(name, native_bf16, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(BF16_ENV, native_bf16)
    # digits are 8x8: resized to Fashion-MNIST's 28x28, the size the recipes' networks are built for;
    # fp32 in both CPU classes, as bf16 is emulated (slow) on most test machines
    result = train(recipe=name, data="digits", image_size=28, epochs=1, batch_size=256, run_dir=str(tmp_path / name),
                   quiet=True, report=False, precision="fp32", device="cpu")
    has_variant = native_bf16 == "0" and NO_BF16_SECTION in load_yaml(recipe_path(name))
    assert ("settings for CPUs without native bf16" in capsys.readouterr().out) == has_variant
    assert result.status == "completed"
    results = json.loads((tmp_path / name / "results.json").read_text())
    assert results["steps"] == 1437 * 9 // 10 // 256 >= 4   # digits' train split minus the 10% held out
    assert 0.0 <= results["test_acc"] <= 1.0
    saved = yaml.safe_load((tmp_path / name / "config.yaml").read_text())
    assert saved["model"] == load_yaml(recipe_path(name))["model"]
    assert (saved["recipe_variant"] is not None) == has_variant    # the saved config records the choice
    if saved["tta"] != "none":
        assert results["evaluated"].endswith(f"{TestTimeAugmentation(saved['tta'], share=saved['tta_share']).description})")


def test_flip_tta_averages_the_logits_of_image_and_mirror():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x, y = torch.randn(10, 1, 3, 4), torch.randint(0, 3, (10,))
    loader = [(x[:6], y[:6]), (x[6:], y[6:])]
    result = evaluate_model(model, loader, ["a", "b", "c"], mean=[0.0], std=[1.0], tta="flip")
    loss, acc = result.metrics.loss, result.metrics.accuracy
    with torch.no_grad():
        logits = (model(x) + model(x.flip(3))) / 2
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
