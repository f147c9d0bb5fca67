"""One training step: forward, loss, backward, optimizer, scheduler, then the after-step hooks.

`train_step` is what the engine runs for every batch and what `cnnlab bench` times. The hooks run
after each optimizer step with the model and the step count (1-based): the EMA of the weights
(`ema_hook`) and lookahead's pull onto the slow weights (`Lookahead.after_step`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

import torch
from torch import nn

from cnnlab.numerics import Numerics

AfterStep = Callable[[nn.Module, int], None]  # (model, optimizer steps done)


@dataclass
class StepParts:
    """What a step needs, built once per run (`cnnlab.training.setup.build_session`)."""

    net: nn.Module                     # what the step calls: the model, maybe DDP-wrapped and compiled
    model: nn.Module                   # the raw model: gradients are clipped and hooks run on it
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loss_fn: nn.Module
    numerics: Numerics
    autocast: Callable[[], ContextManager[Any]]
    grad_clip: float = 0.0             # max global gradient L2 norm; 0 = off
    after_step: list[AfterStep] = field(default_factory=list)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


@dataclass(frozen=True)
class StepResult:
    loss: float                        # the batch's mean loss, nats
    logits: torch.Tensor               # (B, classes), detached
    lr: float                          # the learning rate the step used
    updated: bool                      # False: the update was skipped (``check`` refused the loss)


def _finite(loss: float) -> bool:
    return math.isfinite(loss)


def train_step(parts: StepParts, x: torch.Tensor, y: torch.Tensor, step: int,
               check: Callable[[float], bool] = _finite) -> StepResult:
    """Train on one batch ``x`` (B, C, H, W) normalized, ``y`` (B,); ``step`` counts this step (1-based).

    ``check(loss)`` decides after the forward pass whether to update (default: a finite loss); the
    engine's check also asks the other processes and may stop the run.
    """
    x = parts.numerics.layout(x)
    with parts.autocast():
        logits = parts.net(x)                          # (B, num_classes)
        loss = parts.loss_fn(logits, y)                # mean cross-entropy over the batch, nats
    loss_value = loss.item()
    lr = parts.lr
    if not check(loss_value):
        return StepResult(loss_value, logits.detach(), lr, updated=False)
    parts.optimizer.zero_grad(set_to_none=True)
    parts.scaler.scale(loss).backward()
    if parts.grad_clip > 0:
        parts.scaler.unscale_(parts.optimizer)
        nn.utils.clip_grad_norm_(parts.model.parameters(), parts.grad_clip)
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    parts.scheduler.step()
    for hook in parts.after_step:
        hook(parts.model, step)
    return StepResult(loss_value, logits.detach(), lr, updated=True)


def ema_hook(ema: Any) -> AfterStep:
    """The after-step hook of an EMA (`cnnlab.training.ema.make_ema`): average in the new weights."""
    return lambda model, step: ema.update_parameters(model)
