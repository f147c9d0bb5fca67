"""The named time-to-accuracy recipes: each one runs end to end for a few steps (no timing thresholds).

The recipes are tuned for Fashion-MNIST; here they run on scikit-learn's 8x8 digits (offline, a
few steps per epoch) with one epoch, which checks that every setting they name is valid together.
"""
from __future__ import annotations

import json

import pytest
import torch
import yaml

from cnnlab.eval import evaluate_model
from cnnlab.eval.tta import TestTimeAugmentation
from cnnlab.training import list_recipes, resolve_config, train
from cnnlab.training.config import load_yaml, recipe_path

SPEED_RECIPES = [name for name in list_recipes() if name.startswith("fashion-mnist-")]


def test_the_speed_recipes_exist():
    assert {"fashion-mnist-90", "fashion-mnist-93", "fashion-mnist-95"} <= set(SPEED_RECIPES)


@pytest.mark.parametrize("name", SPEED_RECIPES)
def test_recipe_resolves_to_its_file(name):
    settings = load_yaml(recipe_path(name))
    cfg = resolve_config(recipe=name).to_dict()
    assert settings["data"] == "fashion-mnist" and settings["precision"] == "auto"
    assert {key: cfg[key] for key in settings} == settings   # every setting of the file, none overridden


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
    if saved["tta"] != "none":
        assert results["evaluated"].endswith(f"{TestTimeAugmentation(saved['tta']).description})")


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
