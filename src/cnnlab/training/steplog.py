"""Per-step metrics: the mean training loss and the learning rate every few steps, into steps.csv.

The interval is chosen from the run's length so that every run, even a fraction of an epoch, gets
a curve of about STEP_ROWS points (metrics.csv has one row per epoch only).
"""
from __future__ import annotations

import math

from cnnlab.runs import RunDir

STEP_ROWS = 200  # rows a run's steps.csv aims at


def step_interval(total_steps: int) -> int:
    """Optimizer steps between two rows: every step for runs of up to STEP_ROWS steps."""
    return max(1, total_steps // STEP_ROWS)


class StepLog:
    """Averages the finite training losses of each interval and writes one row at its end."""

    def __init__(self, run: RunDir, total_steps: int, steps_per_epoch: int) -> None:
        self.run, self.steps_per_epoch = run, steps_per_epoch
        self.every = step_interval(total_steps)
        self.loss_sum, self.count = 0.0, 0

    def record(self, step: int, loss: float, lr: float) -> None:
        """After optimizer step ``step`` (1-based) with batch ``loss`` at learning rate ``lr``."""
        if math.isfinite(loss):
            self.loss_sum, self.count = self.loss_sum + loss, self.count + 1
        if step % self.every == 0 and self.count:
            self.run.append_step({"step": step, "epoch": step / self.steps_per_epoch,
                                  "train_loss": self.loss_sum / self.count, "lr": lr})
            self.loss_sum, self.count = 0.0, 0
