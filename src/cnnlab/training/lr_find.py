"""The learning-rate range test (Leslie Smith, "Cyclical Learning Rates", 2015; fastai's ``lr_find``).

Train a copy of the model for a few hundred steps while the learning rate grows exponentially from
``start_lr`` to ``end_lr``; record the loss, smoothed by an exponential moving average (with bias
correction); stop once it exceeds ``diverge`` times its minimum. The suggestion is the rate where the
smoothed loss falls fastest (steepest descent in log-lr), before its minimum: large enough to learn
fast, below where training blows up. The model passed in is never changed.
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from cnnlab.errors import ConfigError

SMOOTHING = 0.98   # weight of the running average per step (fastai's beta)
DIVERGE = 4.0      # stop when the smoothed loss exceeds this multiple of its minimum
SKIP_START_FRACTION = 10  # the suggestion ignores the first 1/10 of the steps


@dataclass
class LRFindResult:
    lrs: list[float]                     # the rate of each step taken
    losses: list[float]                  # smoothed training loss after each step (nats)
    suggestion: float                    # steepest descent of the smoothed loss before its minimum
    min_loss_lr: float                   # the rate at the smoothed loss's minimum
    stopped_early: bool = False          # the loss diverged before end_lr
    notes: list[str] = field(default_factory=list)

    def plot(self, path: str | Path) -> Path:
        """Loss against learning rate (log axis) with the suggestion marked, as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        ax.plot(self.lrs, self.losses, color="tab:blue")
        ax.axvline(self.suggestion, color="tab:red", linestyle="--", label=f"suggested lr {self.suggestion:.3g}")
        ax.axvline(self.min_loss_lr, color="gray", linestyle=":", label=f"minimum loss at {self.min_loss_lr:.3g}")
        ax.set(xscale="log", xlabel="learning rate", ylabel="training loss (smoothed)", title="learning-rate range test")
        ax.set_ylim(min(self.losses) * 0.95, min(max(self.losses), self.losses[0] * 1.5))  # not the blow-up's scale
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path


def lr_range_test(model: nn.Module, batches: Iterator[tuple[torch.Tensor, torch.Tensor]], make_optimizer: Any,
                  loss_fn: nn.Module, *, start_lr: float = 1e-6, end_lr: float = 10.0, steps: int = 100,
                  autocast: Any = None, layout: Any = None) -> LRFindResult:
    """Sweep a copy of ``model`` (train mode) over ``steps`` batches of ``batches``.

    ``make_optimizer(module)`` builds the optimizer for the copy; each parameter group's rate keeps
    its ratio to the first group's (learning-rate multipliers survive the sweep).
    """
    if not 0 < start_lr < end_lr:
        raise ConfigError(f"the sweep needs 0 < start_lr < end_lr, got {start_lr:g} and {end_lr:g}")
    if steps < 10:
        raise ConfigError(f"steps={steps}: the range test needs at least 10 steps (100-300 are usual)")
    probe = copy.deepcopy(model).train()
    optimizer = make_optimizer(probe)
    ratios = [group["lr"] / optimizer.param_groups[0]["lr"] for group in optimizer.param_groups]
    autocast = autocast or contextlib.nullcontext
    growth = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs, losses, average, best, stopped = [], [], 0.0, math.inf, False
    with torch.random.fork_rng(devices=[]):               # the caller's random stream is left as it was
        for i in range(steps):
            x, y = next(batches)
            lr = start_lr * growth**i
            for group, ratio in zip(optimizer.param_groups, ratios):
                group["lr"] = lr * ratio
            with autocast():
                loss = loss_fn(probe(layout(x) if layout else x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            value = loss.item()
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            smoothed = average / (1 - SMOOTHING ** (i + 1))
            if not math.isfinite(smoothed):
                stopped = True
                break
            lrs.append(lr)
            losses.append(smoothed)
            best = min(best, smoothed)
            if i > 0 and smoothed > DIVERGE * best:
                stopped = True
                break
    if len(losses) < 5:
        raise ConfigError(f"the loss diverged within {len(losses)} steps of the sweep: lower --start-lr "
                          f"(it was {start_lr:g})")
    return _suggest(lrs, losses, stopped)


def _suggest(lrs: list[float], losses: list[float], stopped: bool) -> LRFindResult:
    lowest = int(np.argmin(losses))
    log_lr = np.log10(lrs)
    slope = np.gradient(np.asarray(losses), log_lr)       # d(loss) / d(log10 lr)
    # before the minimum (past it the loss rises), and not among the first steps, whose average
    # still follows single noisy batches (fastai skips the first 10 points)
    first = min(len(lrs) // SKIP_START_FRACTION, max(lowest - 1, 0))
    steepest = first + int(np.argmin(slope[first: max(lowest, first + 1)]))
    notes = [] if lowest > 0 else ["the loss never fell: the sweep may start too high (lower --start-lr)"]
    return LRFindResult(lrs, losses, float(lrs[steepest]), float(lrs[lowest]), stopped, notes)


def _cycle(loader: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def lr_find(model: str | None = None, data: str | None = None, *, recipe: str | None = None, config: Any = None,
            start_lr: float = 1e-6, end_lr: float = 10.0, steps: int = 100, **overrides: Any) -> LRFindResult:
    """The range test for a training configuration (as `cnnlab train` would build it, same flags).

    The model, data, optimizer, batch size, augmentation, precision and layout come from the
    resolved config; the learning rate and its schedule are the sweep's. Nothing is written.
    """
    from cnnlab.training import distributed
    from cnnlab.training.config import resolve_config
    from cnnlab.training.optim import build_optimizer
    from cnnlab.training.setup import build_session, check_names, torch_settings

    cfg = resolve_config(model, data, config=config, recipe=recipe, overrides=overrides)
    check_names(cfg)
    dist = distributed.init(cfg.device)
    if dist.enabled:
        raise ConfigError("run the learning-rate finder in one process, not under torchrun")
    try:
        with torch_settings(cfg):
            s = build_session(cfg, dist)
            return lr_range_test(s.model, _cycle(s.train_loader), lambda m: build_optimizer(m, cfg), s.parts.loss_fn,
                                 start_lr=start_lr, end_lr=end_lr, steps=steps, autocast=s.parts.autocast,
                                 layout=s.numerics.layout)
    finally:
        distributed.shutdown(dist)
