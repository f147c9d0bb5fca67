"""The learning-rate range test (`cnnlab lr-find`, `cnnlab.training.lr_find`)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.training.lr_find import _suggest, lr_find, lr_range_test


def test_the_sweep_finds_a_finite_rate_inside_its_range_and_leaves_the_model_alone():
    torch.manual_seed(0)
    x, y = torch.randn(256, 2), torch.zeros(256, dtype=torch.long)
    y[x[:, 0] > 0] = 1                                    # a separable toy problem
    model = nn.Linear(2, 2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.get_rng_state()
    batches = iter(lambda: (x, y), None)
    result = lr_range_test(model, batches, lambda m: torch.optim.SGD(m.parameters(), lr=1.0, momentum=0.9),
                           nn.CrossEntropyLoss(), start_lr=1e-4, end_lr=100.0, steps=60)
    assert 1e-4 <= result.suggestion <= result.min_loss_lr <= 100.0 and math.isfinite(result.suggestion)
    assert result.lrs == sorted(result.lrs) and len(result.lrs) == len(result.losses) <= 60
    assert result.losses[result.lrs.index(result.min_loss_lr)] == min(result.losses)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), state)


def test_the_suggestion_is_the_steepest_fall_before_the_minimum():
    lrs = [10.0 ** e for e in range(-5, 2)]              # 1e-5 ... 10
    losses = [2.3, 2.29, 2.2, 1.5, 1.2, 1.1, 5.0]          # steepest fall around 1e-2, lowest at 1
    result = _suggest(lrs, losses, stopped=True)
    assert result.min_loss_lr == 1.0 and result.suggestion == 1e-2


def test_bad_ranges_are_config_errors():
    batches = iter(lambda: (torch.randn(4, 2), torch.zeros(4, dtype=torch.long)), None)
    sgd = lambda m: torch.optim.SGD(m.parameters(), lr=0.1)  # noqa: E731
    with pytest.raises(ConfigError, match="start_lr < end_lr"):
        lr_range_test(nn.Linear(2, 2), batches, sgd, nn.CrossEntropyLoss(), start_lr=1.0, end_lr=0.1)
    with pytest.raises(ConfigError, match="at least 10 steps"):
        lr_range_test(nn.Linear(2, 2), batches, sgd, nn.CrossEntropyLoss(), steps=3)


def test_lr_find_on_a_dataset_and_the_command(tmp_path, capsys):
    result = lr_find("fastnet_small", "digits", steps=30, batch_size=64, threads=1, start_lr=1e-5, end_lr=10.0)
    assert 1e-5 <= result.suggestion <= 10.0 and len(result.lrs) >= 5
    from cnnlab.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["lr-find", "fastnet_small", "--data", "digits", "--steps", "20", "--batch-size", "64",
              "--threads", "1", "--out", str(tmp_path / "lr.png")])
    assert exit_.value.code in (0, None)
    out = capsys.readouterr().out
    assert "suggested: --lr " in out and (tmp_path / "lr.png").stat().st_size > 1000
