"""The lab's sanity checks: each passes on a healthy model and fails on the fault it is meant to catch."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlab.training import train
from cnnlab.training.sanity import (chance_warning, check_eval_mode, check_initial_loss, check_overfit_batch,
                                 expected_initial_loss, sanity_checks)

NUM_CLASSES = 10


def small_net(dropout: float = 0.5, track_running_stats: bool = True) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8, track_running_stats=track_running_stats),
                         nn.ReLU(), nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * 8 * 8, NUM_CLASSES))


def batch(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, NUM_CLASSES, (n,), generator=g)


class AlwaysDropout(nn.Module):
    """A dropout that ignores eval mode: the bug the eval-mode check exists for."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.dropout(x, 0.5, training=True)


class BiasOnly(nn.Module):
    """Ignores its input: cannot memorise a batch whose images have different labels."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), -1)


def test_expected_initial_loss_is_ln_classes():
    assert expected_initial_loss(10) == pytest.approx(math.log(10))


def test_initial_loss_passes_on_a_fresh_model_and_fails_when_the_head_is_too_large():
    x, y = batch()
    model = small_net()
    assert check_initial_loss(model, x, y, NUM_CLASSES).passed
    with torch.no_grad():
        model[-1].weight.mul_(100)
    result = check_initial_loss(model, x, y, NUM_CLASSES)
    assert not result.passed and "too large" in result.detail


def test_initial_loss_check_leaves_the_model_and_rng_untouched():
    x, y = batch()
    model = small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    check_initial_loss(model, x, y, NUM_CLASSES)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN running stats too
    assert torch.equal(rng, torch.get_rng_state())


def test_overfit_passes_on_a_real_model_and_fails_on_one_that_ignores_its_input():
    x, y = batch(16)
    assert check_overfit_batch(small_net(dropout=0.0), x, y).passed
    result = check_overfit_batch(BiasOnly(), x, y, steps=50, lr=0.1)
    assert not result.passed and "cannot memorise" in result.detail


def test_eval_mode_catches_active_dropout_and_batch_statistics():
    x, _ = batch()
    assert check_eval_mode(small_net(), x).passed
    leaky = small_net()
    leaky[4] = AlwaysDropout()
    assert "dropout" in check_eval_mode(leaky, x).detail
    batch_stats = small_net(dropout=0.0, track_running_stats=False)
    result = check_eval_mode(batch_stats, x)
    assert not result.passed and "batch norm" in result.detail


def test_a_runs_checks_find_the_eval_mode_faults_on_the_first_images_of_a_large_batch():
    x, y = batch(256)
    leaky, batch_stats = small_net(), small_net(dropout=0.0, track_running_stats=False)
    leaky[4] = AlwaysDropout()
    for model, fault in ((leaky, "dropout"), (batch_stats, "batch norm")):
        eval_mode = sanity_checks(model, x, y, NUM_CLASSES, overfit=False)[-1]
        assert eval_mode.name == "eval mode" and not eval_mode.passed and fault in eval_mode.detail
    assert all(r.passed for r in sanity_checks(small_net(), x, y, NUM_CLASSES, overfit=False))


def test_eval_mode_check_restores_training_mode():
    model = small_net().train()
    check_eval_mode(model, batch()[0])
    assert model.training


def test_chance_warning_names_the_usual_causes():
    warning = chance_warning(0.1, 10, "validation")
    assert warning is not None and "learning rate" in warning and "normalized" in warning and "labels" in warning
    assert chance_warning(0.5, 10, "validation") is None


def test_a_run_stuck_at_chance_is_warned_about(tmp_path, capsys):
    train("linear", "digits", epochs=1, lr=1e-9, schedule="constant", batch_size=64, report=False, quiet=True,
          run_dir=str(tmp_path / "run"))
    assert "at chance" in capsys.readouterr().out


def test_cli_check_prints_the_three_checks(tmp_path):
    from typer.testing import CliRunner

    from cnnlab.cli import _register_all, app

    _register_all()
    result = CliRunner().invoke(app, ["train", "linear", "--data", "digits", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("initial loss", "overfit a tiny batch", "eval mode"):
        assert name in result.output
    assert not any(tmp_path.iterdir())  # --check writes no run folder
