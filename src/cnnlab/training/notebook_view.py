"""`LiveTraining`: a progress bar and loss / accuracy / learning-rate curves redrawn in place in a notebook.

``cnnlab.train(..., live=True)`` adds it to the run's callbacks. One output area (an IPython display
handle) holds a HTML progress bar and the curves as a PNG drawn by matplotlib's Agg canvas; it is
replaced at most every ``every`` seconds, at each epoch's end and at the end, so drawing costs a few
percent of a run. The same output updates in JupyterLab, classic Notebook, VS Code and a headless
``nbclient`` run, and is kept in the saved notebook.

Interrupting the kernel (the stop button, or ``I, I``) sends SIGINT: the trainer saves
``checkpoints/last.pt`` at the step boundary; the view then shows the line that resumes the run and
raises KeyboardInterrupt, so the cell stops as any interrupted cell does (the cells after it in a
"Run All" do not start).
"""
from __future__ import annotations

import base64
import html
import time
from typing import Any

from cnnlab.display import figure_png
from cnnlab.training.callbacks import StartEvent, StepEvent

DEFAULT_EVERY_S = 1.0   # shortest time between redraws, seconds
DRAW_SHARE = 0.15       # at most this share of the time goes to drawing (a PNG takes 0.1-1.5 s on a busy CPU)
MAX_POINTS = 400        # per-step curves are thinned to about this many points before drawing


class LiveTraining:
    """A training callback (`cnnlab.training.callbacks`) that draws into the notebook cell running it."""

    def __init__(self, every: float = DEFAULT_EVERY_S) -> None:
        self.every = every
        self.handle: Any = None
        self.draws = 0
        self._last_draw = 0.0
        self._draw_cost = 0.0
        self._start = 0.0
        self.steps: list[float] = []         # x of each step point, in epochs
        self.losses: list[float] = []        # each batch's loss, nats
        self.lrs: list[float] = []
        self.epochs: list[dict[str, Any]] = []  # metrics.csv rows
        self._event: StepEvent | None = None
        self._total = 0
        self._per_epoch = 1
        self._epochs_planned = 0.0
        self._done_at_start = 0
        self.run_dir: Any = None
        self._footer = ""

    # --- callback methods ---------------------------------------------------------------------
    def on_start(self, event: StartEvent) -> None:
        from IPython.display import HTML, display

        self.run_dir, self._total, self._per_epoch = event.run_dir, event.total_steps, max(event.steps_per_epoch, 1)
        self._epochs_planned, self._done_at_start = event.epochs, event.start_step
        self._start = self._last_draw = time.perf_counter()
        if event.start_step:
            self._load_history()
        self.handle = display(HTML(self._html(with_curves=False)), display_id=True)

    def on_step(self, event: StepEvent) -> None:
        self._event = event
        self.steps.append(event.step / self._per_epoch)
        self.losses.append(event.loss)
        self.lrs.append(event.lr)
        wait = max(self.every, self._draw_cost / DRAW_SHARE)
        if time.perf_counter() - self._last_draw >= wait:
            self.draw()

    def on_epoch(self, row: dict[str, Any]) -> None:
        self.epochs.append(dict(row))
        self.draw()

    def on_end(self, result: Any) -> None:
        if result.status == "interrupted":
            self._footer = (f"Interrupted: saved {result.run_dir}/checkpoints/last.pt. "
                            f"Continue with cnnlab.train(resume={str(result.run_dir)!r}, live=True)")
            self.draw()
            # everything is saved: now stop the cell (and a "Run All") as any interrupted cell stops
            raise KeyboardInterrupt(self._footer)
        acc = result.results.get("test_acc", result.results.get("eval_acc"))
        self._footer = f"Done: {result.results.get('eval_split') or 'test'} accuracy {acc:.2%}" if acc is not None else "Done"
        self.draw()

    # --- drawing --------------------------------------------------------------------------------
    def draw(self) -> None:
        from IPython.display import HTML

        start = time.perf_counter()
        if self.handle is not None:
            self.handle.update(HTML(self._html(with_curves=bool(self.steps))))
            self.draws += 1
        self._last_draw = time.perf_counter()
        self._draw_cost = self._last_draw - start

    def _html(self, *, with_curves: bool) -> str:
        body = self._progress()
        if with_curves:
            png = base64.b64encode(self.figure_png()).decode("ascii")
            body += f'<img class="curves" alt="training curves" src="data:image/png;base64,{png}"/>'
        if self._footer:
            body += f'<div class="footer"><b>{html.escape(self._footer, quote=False)}</b></div>'
        return f'<div class="cnnlab-live">{body}</div>'

    def _progress(self) -> str:
        e = self._event
        done = e.step if e else self._done_at_start
        elapsed = time.perf_counter() - self._start
        rate = (done - self._done_at_start) / elapsed if elapsed > 0 else 0.0
        eta = (self._total - done) / rate if rate > 0 else None
        parts = [f"step {done}/{self._total}", f"epoch {min(done / self._per_epoch, self._epochs_planned):.2f}/{self._epochs_planned:g}"]
        if e is not None:
            parts += [f"loss {e.train_loss:.4f}", f"acc {e.train_acc:.2%}", f"{e.images_per_s:,.0f} img/s"]
        parts.append(f"{elapsed:.0f} s" + (f", {eta:.0f} s left" if eta is not None and done < self._total else ""))
        return (f'<div class="progress"><progress value="{done}" max="{max(self._total, 1)}" style="width:100%;max-width:860px">'
                f'</progress><div style="font-family:monospace">{html.escape("  ".join(parts))}</div></div>')

    def figure_png(self) -> bytes:
        """Loss, accuracy and learning rate against epochs, as PNG bytes (no pyplot state)."""
        from matplotlib.figure import Figure


        fig = Figure(figsize=(11, 2.8))
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.18, top=0.88, wspace=0.22)
        loss_ax, acc_ax, lr_ax = fig.subplots(1, 3)
        thin = max(1, len(self.steps) // MAX_POINTS)
        steps = self.steps[::thin]
        loss_ax.plot(steps, self.losses[::thin], lw=0.6, alpha=0.5, label="batch")
        ends = [r["epoch"] for r in self.epochs]
        loss_ax.plot(ends, [r["train_loss"] for r in self.epochs], "o-", label="train (epoch)")
        val = [(r["epoch"], r["val_loss"], r["val_acc"]) for r in self.epochs if r.get("val_acc") is not None]
        if val:
            loss_ax.plot([v[0] for v in val], [v[1] for v in val], "s-", label="val")
            acc_ax.plot([v[0] for v in val], [v[2] for v in val], "s-", label="val")
        acc_ax.plot(ends, [r["train_acc"] for r in self.epochs], "o-", label="train")
        if self._event is not None:
            acc_ax.plot([self.steps[-1]], [self._event.train_acc], "x", color="gray", label="train (so far)")
        lr_ax.plot(steps, self.lrs[::thin])
        for ax, title in ((loss_ax, "loss (nats)"), (acc_ax, "accuracy"), (lr_ax, "learning rate")):
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("epoch", fontsize=9)
            ax.set_xlim(0, max(self._epochs_planned, 1e-9))
            ax.tick_params(labelsize=8)
            ax.grid(alpha=0.3)
        loss_ax.legend(fontsize=8)
        acc_ax.legend(fontsize=8, loc="lower right")
        return figure_png(fig, dpi=80)

    def _load_history(self) -> None:
        """A resumed run's earlier curve, from its steps.csv and metrics.csv."""
        from pathlib import Path

        from cnnlab.runs import RunDir

        run = RunDir(Path(self.run_dir), writer=False)
        for row in run.read_metrics("steps.csv"):
            if row.get("step") is not None and row["step"] <= self._done_at_start:
                self.steps.append(row["step"] / self._per_epoch)
                self.losses.append(row["train_loss"])
                self.lrs.append(row["lr"])
        self.epochs = [r for r in run.read_metrics() if r.get("epoch") is not None]


def with_live_view(callbacks: Any, every: float = DEFAULT_EVERY_S) -> list[Any]:
    """``callbacks`` plus a LiveTraining view: what ``cnnlab.train(..., live=True)`` runs with."""
    try:
        import IPython  # noqa: F401
    except ImportError:
        from cnnlab.errors import ConfigError

        raise ConfigError("live=True draws in a Jupyter notebook and needs IPython: pip install 'cnnlab[notebook]', "
                          "or drop live=True (the terminal shows a progress bar anyway)") from None
    return [*callbacks, LiveTraining(every)]
