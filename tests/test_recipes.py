"""The named time-to-accuracy recipes: each one runs end to end for a few steps (no timing thresholds).

The recipes are tuned for Fashion-MNIST; here they run on scikit-learn's 8x8 digits (offline, a
few steps per epoch) with one epoch, which checks that every setting they name is valid together.
"""
from __future__ import annotations

import contextlib
import json

import pytest
import torch
import yaml

from cnnlab.training import evaluate, list_recipes, resolve_config, train
from cnnlab.errors import ConfigError
from cnnlab.training.config import RECIPE_VARIANTS, load_yaml, recipe_path
from cnnlab.training.distributed import init

SPEED_RECIPES = [name for name in list_recipes() if name.startswith("fashion-mnist-")]


def test_the_speed_recipes_exist():
    assert {"fashion-mnist-90", "fashion-mnist-93", "fashion-mnist-95"} <= set(SPEED_RECIPES)


@pytest.mark.parametrize("native_bf16", [True, False])
@pytest.mark.parametrize("name", SPEED_RECIPES)
def test_recipe_resolves_to_its_file(name, native_bf16, monkeypatch):
    monkeypatch.setenv("CNNLAB_CPU_BF16", str(int(native_bf16)))
    settings = load_yaml(recipe_path(name))
    variant = (settings.pop(RECIPE_VARIANTS, None) or {}).get("bf16" if native_bf16 else "fp32", {})
    cfg = resolve_config(recipe=name).to_dict()
    assert settings["data"] == "fashion-mnist" and settings["precision"] == "auto"
    expected = {**settings, **variant}
    assert {key: cfg[key] for key in expected} == expected   # every setting of the file, none overridden


@pytest.fixture
def recipe_dir(tmp_path, monkeypatch):
    from cnnlab.training import config

    monkeypatch.setattr(config, "_recipe_dir", lambda: tmp_path)
    return tmp_path


def test_a_recipe_takes_the_settings_of_the_precision_the_run_ends_up_with(recipe_dir, monkeypatch, tmp_path):
    (recipe_dir / "r.yaml").write_text("model: linear\nlr: 0.5\nepochs: 3\nprecision: auto\n"
                                       "by_precision:\n  fp32: {lr: 0.2, batch_size: 128}\n  bf16: {epochs: 2}\n")
    monkeypatch.setenv("CNNLAB_CPU_BF16", "0")
    fp32 = resolve_config(recipe="r")
    assert (fp32.lr, fp32.batch_size, fp32.epochs) == (0.2, 128, 3)
    monkeypatch.setenv("CNNLAB_CPU_BF16", "1")
    bf16 = resolve_config(recipe="r")
    assert (bf16.lr, bf16.batch_size, bf16.epochs) == (0.5, 256, 2)
    # an explicit precision picks its own settings; config files and flags still win over them
    assert resolve_config(recipe="r", overrides={"precision": "fp32"}).lr == 0.2
    (tmp_path / "c.yaml").write_text("lr: 0.05\n")
    assert resolve_config(recipe="r", config=tmp_path / "c.yaml", overrides={"precision": "fp32"}).lr == 0.05
    assert resolve_config(recipe="r", overrides={"precision": "fp32", "batch_size": 64}).batch_size == 64


def test_a_run_says_which_settings_its_recipe_chose(recipe_dir, monkeypatch, capsys, tmp_path):
    (recipe_dir / "r.yaml").write_text("model: linear\ndata: digits\nepochs: 1\nreport: false\nquiet: true\n"
                                       "by_precision:\n  fp32: {batch_size: 32}\n")
    monkeypatch.setenv("CNNLAB_CPU_BF16", "0")
    train(recipe="r", run_dir=str(tmp_path / "run"))
    assert "recipe r: its settings for fp32 training on this machine: batch_size 32" in capsys.readouterr().out


def test_bad_recipe_variants_fail_on_any_cpu(recipe_dir):
    (recipe_dir / "r.yaml").write_text("model: linear\nby_precision:\n  fp64: {lr: 0.1}\n")
    with pytest.raises(ConfigError, match="unknown precision in recipe r's by_precision 'fp64'"):
        resolve_config(recipe="r")
    (recipe_dir / "r.yaml").write_text("model: linear\nby_precision:\n  fp32: {lrr: 0.1}\n")
    with pytest.raises(ConfigError, match="unknown training setting 'lrr'"):
        resolve_config(recipe="r")


@pytest.mark.parametrize("name", SPEED_RECIPES)
def test_recipe_runs_a_few_steps(name, tmp_path):
    # digits are 8x8: resized to Fashion-MNIST's 28x28, the size the recipes' networks are built for
    result = train(recipe=name, data="digits", image_size=28, epochs=1, batch_size=256, run_dir=str(tmp_path / name),
                   quiet=True, report=False)
    assert result.status == "completed"
    results = json.loads((tmp_path / name / "results.json").read_text())
    assert results["steps"] == 1437 * 9 // 10 // 256 >= 4   # digits' train split minus the 10% held out
    assert 0.0 <= results["test_acc"] <= 1.0
    saved = yaml.safe_load((tmp_path / name / "config.yaml").read_text())
    assert saved["model"] == load_yaml(recipe_path(name))["model"]
    if saved["tta"]:
        tta = ("flip + 3x3 translate TTA" if saved.get("tta_grid") else
               "flip + translate TTA" if saved.get("tta_translate") else "flip TTA")
        assert results["evaluated"].endswith(f"{tta})")


def test_flip_tta_averages_the_logits_of_image_and_mirror():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    x, y = torch.randn(10, 1, 3, 4), torch.randint(0, 3, (10,))
    loader = [(x[:6], y[:6]), (x[6:], y[6:])]
    loss, acc = evaluate(model, loader, contextlib.nullcontext, False, init("cpu"), tta=True)
    with torch.no_grad():
        logits = (model(x) + model(x.flip(3))) / 2
    assert loss == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == y).float().mean().item())
