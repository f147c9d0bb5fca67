"""Hooks into a running training: what a notebook's live plot or the explorer's live view reads.

A callback is any object with some of these methods; the engine calls the ones it has, on the main
process only, and never lets them change the numbers (they see copies of the figures, not the graph)::

    class Printer:
        def on_step(self, event: StepEvent) -> None: print(event.step, event.loss)

    cnnlab.train("fastnet_small", "digits", callbacks=[Printer()])
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

from torch import nn


@dataclass(frozen=True)
class StartEvent:
    run_dir: Path
    model: nn.Module                 # the model being trained (read it, do not modify it)
    total_steps: int
    steps_per_epoch: int
    epochs: float
    start_step: int                  # > 0 when resuming


@dataclass(frozen=True)
class StepEvent:
    step: int                        # optimizer steps done, 1-based
    total_steps: int
    epoch: int                       # 0-based index of the epoch in progress
    loss: float                      # this batch's mean cross-entropy, nats
    train_loss: float                # running mean over the epoch so far
    train_acc: float                 # running accuracy over the epoch so far, 0..1
    lr: float
    images_per_s: float
    model: nn.Module


class TrainCallback(Protocol):
    """Any subset of these methods; the engine skips the ones a callback lacks."""

    def on_start(self, event: StartEvent) -> None: ...
    def on_step(self, event: StepEvent) -> None: ...
    def on_epoch(self, row: dict[str, Any]) -> None: ...     # the metrics.csv row of the epoch just finished
    def on_end(self, result: Any) -> None: ...               # the TrainResult (completed or interrupted)


class Callbacks:
    """Fan one event out to every callback that defines its method."""

    def __init__(self, callbacks: Iterable[Any] = (), enabled: bool = True) -> None:
        self._callbacks = list(callbacks) if enabled else []

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def __call__(self, method: str, payload: Any) -> None:
        for callback in self._callbacks:
            hook = getattr(callback, method, None)
            if hook is not None:
                hook(payload)
