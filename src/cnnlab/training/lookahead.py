"""Lookahead (airbench94's form): every few steps the weights are pulled back onto a slow average of themselves.

The slow copy starts as the initial weights. Every ``every`` optimizer steps, and at the last step,
it moves towards the current ("fast") weights, ``slow <- decay * slow + (1 - decay) * fast``, and the
model's weights are set to it. The decay ramps with the cube of training progress,
``base_decay ** every * (step / total_steps) ** 3``: about 0 for most of the run (plain SGD), rising
to 0.95**5 = 0.77 per sync at the end, where it averages away the noise of the last steps. Unlike
an EMA kept on the side (`ema_decay`), the averaged weights are the ones training continues from,
so validation and test need no second model.

BatchNorm running statistics are averaged the same way (every floating-point entry of the state
dict, as airbench does); integer buffers such as ``num_batches_tracked`` are left alone.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Lookahead:
    """Slow weights for ``model``; call ``after_step(model, step)`` after every optimizer step (step 1, 2, ...)."""

    def __init__(self, model: nn.Module, total_steps: int, every: int = 5, base_decay: float = 0.95) -> None:
        self.total_steps, self.every, self.base_decay = total_steps, every, base_decay
        self.slow = {name: t.detach().clone() for name, t in model.state_dict().items() if t.is_floating_point()}

    def decay(self, step: int) -> float:
        """The slow weights' share at a sync after ``step`` optimizer steps."""
        return self.base_decay ** self.every * min(step / self.total_steps, 1.0) ** 3

    @torch.no_grad()
    def after_step(self, model: nn.Module, step: int) -> None:
        if step % self.every and step != self.total_steps:
            return
        decay = self.decay(step)
        for name, fast in model.state_dict().items():
            if name in self.slow:
                slow = self.slow[name]
                slow.lerp_(fast, 1.0 - decay)
                fast.copy_(slow)

    def state_dict(self) -> dict[str, Any]:
        return {"slow": self.slow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, tensor in state["slow"].items():
            self.slow[name].copy_(tensor)


def make_lookahead(model: nn.Module, enabled: bool, total_steps: int) -> Lookahead | None:
    """A `Lookahead` over ``total_steps`` optimizer steps, or None when ``enabled`` is false."""
    return Lookahead(model, total_steps) if enabled else None
