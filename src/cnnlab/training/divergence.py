"""Warnings for training that goes wrong without stopping: a loss that explodes or stops being a
number, a validation accuracy that collapses far below its best. Each is said once per run.

Used by `cnnlab train` (engine.py) and `cnnlab scratch train`; the messages name the learning rate
and a smaller one to try.
"""
from __future__ import annotations

import math

LOSS_BLOWUP = 10.0   # a loss this many times ln(classes) (chance level) has diverged
COLLAPSE_DROP = 0.2  # validation accuracy this far below its best (0..1) is a collapse...
NOISE_SIGMAS = 2.0   # ...when also more than this / sqrt(validation images): noise on a small split is not




class DivergenceWatch:
    """Looks at each loss and each validation accuracy; returns a warning line the first time one is off."""

    def __init__(self, num_classes: int, peak_lr: float, *, best_acc: float = -1.0, best_epoch: int = 0) -> None:
        self.chance_loss = math.log(max(num_classes, 2))
        self.peak_lr = peak_lr
        self.best_acc, self.best_epoch = best_acc, best_epoch
        self.warned: set[str] = set()

    def lr_advice(self, lr: float) -> str:
        """``lr``: the rate of the step that went wrong (a schedule may be below its peak by then)."""
        below_peak = abs(lr - self.peak_lr) > 1e-3 * self.peak_lr
        now = f"{lr:.3g} now, --lr {self.peak_lr:g} at its peak" if below_peak else f"--lr {lr:g}"
        return (f"the learning rate ({now}) is probably too high: try --lr {self.peak_lr / 10:g}, or let "
                "`cnnlab lr-find` suggest one")

    def _once(self, kind: str, message: str) -> str | None:
        if kind in self.warned:
            return None
        self.warned.add(kind)
        return message

    def loss(self, loss: float, where: str, lr: float) -> str | None:
        """A warning when ``loss`` (at ``where``, e.g. "step 12") is NaN/inf or far above chance level."""
        if math.isfinite(loss) and loss <= LOSS_BLOWUP * self.chance_loss:
            return None
        state = (f"rose to {loss:.4g} (chance level is {self.chance_loss:.3g})" if math.isfinite(loss)
                 else f"became {loss}")
        return self._once("loss", f"warning: the training loss {state} at {where}: training is diverging; "
                                  f"{self.lr_advice(lr)}")

    def validation(self, acc: float, epoch: int, images: int, lr: float) -> str | None:
        """A warning when ``acc`` falls far below the best so far (by more than small-split noise)."""
        message = None
        drop = self.best_acc - acc
        if self.best_acc >= 0 and drop > max(COLLAPSE_DROP, NOISE_SIGMAS / math.sqrt(max(images, 1))):
            message = self._once("validation", (
                f"warning: validation accuracy fell to {acc:.1%} at epoch {epoch}, from {self.best_acc:.1%} at "
                f"epoch {self.best_epoch}: training has diverged or collapsed; {self.lr_advice(lr)} (the best "
                f"checkpoint keeps the epoch-{self.best_epoch} weights)"))
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, epoch
        return message
