"""One training step (`cnnlab.training.train_step`): the engine's and the bench's, checked against a
plain PyTorch step, with its skip and its after-step hooks."""
from __future__ import annotations

import copy
import contextlib

import pytest
import torch
from torch import nn

from cnnlab.numerics import FP32
from cnnlab.training import StepParts, train_step


def _parts(model: nn.Module, **kwargs) -> StepParts:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return StepParts(net=model, model=model, optimizer=optimizer,
                     scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5),
                     scaler=torch.amp.GradScaler("cpu", enabled=False), loss_fn=nn.CrossEntropyLoss(),
                     numerics=FP32, autocast=contextlib.nullcontext, **kwargs)


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 1, 4, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def test_a_step_is_forward_loss_backward_optimizer_scheduler():
    x, y = _batch()
    ours, reference = _model(), _model()
    parts = _parts(ours)
    result = train_step(parts, x, y, 1)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    loss = nn.functional.cross_entropy(reference(x), y)
    loss.backward()
    optimizer.step()
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert result.updated and result.loss == pytest.approx(loss.item()) and result.lr == 0.1
    assert parts.lr == 0.05 and result.logits.shape == (8, 3)  # the schedule stepped once


def test_hooks_run_after_the_update_in_order_and_a_refused_loss_skips_everything():
    x, y = _batch()
    model = _model()
    calls = []
    parts = _parts(model, after_step=[lambda m, step: calls.append(("lookahead", step)),
                                      lambda m, step: calls.append(("ema", step))])
    before = copy.deepcopy(model.state_dict())
    skipped = train_step(parts, x, y, 1, check=lambda loss: False)
    assert not skipped.updated and calls == [] and parts.lr == 0.1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    train_step(parts, x, y, 2)
    assert calls == [("lookahead", 2), ("ema", 2)]


def test_gradients_are_clipped_before_the_update():
    x, y = _batch()
    model = _model()
    parts = _parts(model, grad_clip=1e-3)
    train_step(parts, x, y, 1)
    norm = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    assert norm == pytest.approx(1e-3, rel=1e-3)


def test_the_bench_times_the_same_step(monkeypatch):
    import cnnlab.bench.throughput as throughput

    steps = []
    real = throughput.train_step
    monkeypatch.setattr(throughput, "train_step", lambda *args, **kw: steps.append(1) or real(*args, **kw))
    result = throughput.bench_train("fastnet_small", input_shape=(1, 16, 16), batch_size=8, steps=2, warmup=1,
                                    rounds=1, textbook=False, peak_size=64, peak_seconds=0.01, precision="fp32",
                                    channels_last=False)
    assert len(steps) == 1 + result.steps  # the warm-up step and every timed one
