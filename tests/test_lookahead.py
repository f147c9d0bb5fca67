"""Lookahead (airbench94): which steps sync, by how much, and what it leaves alone."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnlab.training import train
from cnnlab.training.lookahead import Lookahead


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))


def _take_step(model: nn.Module) -> None:
    """A stand-in for an optimizer step: every floating-point entry moves by +1."""
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.add_(1.0)


def _train(steps: int, total_steps: int) -> tuple[nn.Module, Lookahead]:
    model = _model()
    lookahead = Lookahead(model, total_steps=total_steps)
    for step in range(1, steps + 1):
        _take_step(model)
        lookahead.after_step(model, step)
    return model, lookahead


def test_the_weights_change_only_at_every_fifth_step_and_become_the_slow_average():
    model = _model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    lookahead = Lookahead(model, total_steps=10)
    for step in range(1, 5):
        _take_step(model)
        lookahead.after_step(model, step)
        assert torch.allclose(model[0].weight, start["0.weight"] + step)  # steps 1-4: plain training
    _take_step(model)
    lookahead.after_step(model, 5)
    decay = 0.95 ** 5 * 0.5 ** 3                                          # halfway: (5 / 10) ** 3
    assert lookahead.decay(5) == pytest.approx(decay)
    for name in ("0.weight", "0.bias", "1.weight", "1.running_mean", "1.running_var"):
        want = decay * start[name] + (1 - decay) * (start[name] + 5)
        assert torch.allclose(model.state_dict()[name], want), name
        assert torch.equal(lookahead.slow[name], model.state_dict()[name])
    assert model[1].num_batches_tracked.item() == 0                       # integer buffers are not averaged


def test_the_decay_ramps_with_the_cube_of_progress_to_airbenchs_095_per_step():
    lookahead = Lookahead(_model(), total_steps=100)
    assert lookahead.decay(0) == 0.0
    assert lookahead.decay(50) == pytest.approx(0.95 ** 5 / 8)
    assert lookahead.decay(100) == pytest.approx(0.95 ** 5)


def test_the_last_step_syncs_even_off_the_five_step_grid():
    model, lookahead = _train(7, total_steps=7)
    assert torch.equal(lookahead.slow["0.weight"], model[0].weight)       # synced at 5 and at 7
    _take_step(model)
    lookahead.after_step(model, 8)                                        # past the end (resumed longer): 8 % 5 != 0
    assert not torch.equal(lookahead.slow["0.weight"], model[0].weight)


def test_the_slow_weights_survive_a_state_dict_round_trip():
    _, lookahead = _train(5, total_steps=10)
    fresh = Lookahead(_model(), total_steps=10)
    fresh.load_state_dict(lookahead.state_dict())
    assert all(torch.equal(fresh.slow[k], lookahead.slow[k]) for k in lookahead.slow)


def test_a_short_run_with_lookahead_is_warned_about(tmp_path, capsys):
    train("linear", "digits", epochs=1, lookahead=True, threads=1, quiet=True, report=False, run_dir=str(tmp_path / "r"))
    out = capsys.readouterr().out
    assert "warning: lookahead over only" in out and "drop --lookahead" in out
