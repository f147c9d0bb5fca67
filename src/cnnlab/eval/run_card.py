"""`open_run(path)`: a finished or interrupted run folder as an object a notebook displays."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.display import percent, table
from cnnlab.errors import CheckpointError
from cnnlab.eval.report import result_cards
from cnnlab.inspect.summary import _si
from cnnlab.runs import RunDir, RunState, pick_run, read_json, run_state


@dataclass(frozen=True)
class Run:
    """What a run folder says about itself: its state, results.json and metrics.csv rows (one per epoch)."""

    path: Path
    state: RunState
    results: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, float]] = field(default_factory=list)

    def __repr__(self) -> str:
        return run_text(self)

    def _repr_html_(self) -> str:
        return run_html(self)


def open_run(path: str | Path) -> Run:
    """A run folder (or a folder of runs: its latest), read from its small files only.

    ``cnnlab.open_run("runs/lenet")`` in a notebook shows the report's key figures and the epochs.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"no run folder at {path}: pass a folder written by `cnnlab train` (`cnnlab runs` lists them)")
    run_dir = pick_run(path)
    return Run(run_dir, run_state(run_dir), read_json(run_dir / "results.json"), RunDir(run_dir, writer=False).read_metrics())


EPOCH_COLUMNS = (("epoch", "epoch", "{:g}"), ("train_loss", "train loss", "{:.4f}"), ("train_acc", "train acc", "{:.2%}"),
                 ("val_loss", "val loss", "{:.4f}"), ("val_acc", "val acc", "{:.2%}"), ("lr", "lr", "{:.3g}"))


def run_figures(run: Run) -> list[tuple[str, str]]:
    """The report's key figures (`cnnlab.eval.report.result_cards`) plus the training FLOPs."""

    figures = [("state", run.state.state), ("model", run.state.model), ("dataset", run.state.dataset)]
    if run.state.epochs_done is not None:
        planned = f" of {run.state.epochs:g}" if run.state.epochs else ""
        figures.append(("epochs", f"{run.state.epochs_done:g}{planned}"))
    figures += result_cards(run.results)
    if not run.results and run.state.best_val_acc is not None:
        figures.append(("best val accuracy", percent(run.state.best_val_acc)))
    if isinstance(run.results.get("train_flops"), (int, float)):
        figures.append(("training FLOPs", _si(run.results["train_flops"])))
    return figures


def run_text(run: Run) -> str:
    return f"Run({run.path}: " + ", ".join(f"{k} {v}" for k, v in run_figures(run)) + ")"


def run_html(run: Run) -> str:
    rows = [[fmt.format(r[key]) if r.get(key) is not None else "" for key, _, fmt in EPOCH_COLUMNS] for r in run.epochs]
    epochs = table([label for _, label, _ in EPOCH_COLUMNS], rows, cls="epochs") if rows else ""
    return (f'<div class="cnnlab-run">{table(("run", run.path.name), run_figures(run), cls="figures")}'
            f'{epochs}</div>')
