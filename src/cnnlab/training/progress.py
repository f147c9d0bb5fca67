"""Progress display: rich bars (loss, accuracy, images/s, ETA) or, in quiet mode, one line per epoch."""
from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainProgress:
    """Two bars when attached to a terminal and not quiet: the whole run and the current epoch."""

    def __init__(self, *, total_steps: int, done_steps: int, quiet: bool, enabled: bool = True) -> None:
        self.console = Console(file=sys.stdout, highlight=False)
        self.enabled = enabled
        self.live = enabled and not quiet and self.console.is_terminal
        self._bar: Progress | None = None
        if self.live:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:6.2%}  {task.fields[ips]:5.0f} img/s"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=False,
            )
            self._run = self._bar.add_task("run", total=total_steps, completed=done_steps, loss=0.0, acc=0.0, ips=0.0)
            self._epoch = self._bar.add_task("epoch", total=1, loss=0.0, acc=0.0, ips=0.0)
            self._bar.start()

    def start_epoch(self, epoch: int, epochs: float, batches: int, done: int) -> None:
        if self._bar is not None:
            self._bar.reset(self._epoch, total=batches, completed=done, description=f"epoch {min(epoch + 1, epochs):g}/{epochs:g}",
                            loss=0.0, acc=0.0, ips=0.0)

    def update(self, *, loss: float, acc: float, images_per_s: float) -> None:
        if self._bar is not None:
            fields: dict[str, Any] = dict(loss=loss, acc=acc, ips=images_per_s)
            self._bar.update(self._epoch, advance=1, **fields)
            self._bar.update(self._run, advance=1, **fields)

    def print(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def epoch_line(row: dict[str, Any], epochs: float) -> str:
    """``epoch 3/10  train loss 0.412 acc 85.10%  val loss 0.350 acc 87.90%  lr 0.0812  1932 img/s  27.9 s``.

    A fractional last epoch shows where it stops: ``epoch 0.3/0.3``, ``epoch 2.5/2.5``.
    """
    val = f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%}" if row.get("val_acc") is not None else ""
    return (f"epoch {min(row['epoch'], epochs):g}/{epochs:g}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}{val}"
            f"  lr {row['lr']:.3g}  {row['images_per_s']:.0f} img/s  {row['epoch_time_s']:.1f} s")
