"""`open_run(path)`: a finished or interrupted run folder as an object a notebook displays."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.runs import RunDir, RunState, pick_run, read_json, run_state


@dataclass(frozen=True)
class Run:
    """What a run folder says about itself: its state, results.json and metrics.csv rows (one per epoch)."""

    path: Path
    state: RunState
    results: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, float]] = field(default_factory=list)

    def __repr__(self) -> str:
        from cnnlab.notebook.display import run_text
        return run_text(self)

    def _repr_html_(self) -> str:
        from cnnlab.notebook.display import run_html
        return run_html(self)


def open_run(path: str | Path) -> Run:
    """A run folder (or a folder of runs: its latest), read from its small files only.

    ``cnnlab.open_run("runs/lenet")`` in a notebook shows the report's key figures and the epochs.
    """
    from cnnlab.errors import CheckpointError

    path = Path(path).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"no run folder at {path}: pass a folder written by `cnnlab train` (`cnnlab runs` lists them)")
    run_dir = pick_run(path)
    return Run(run_dir, run_state(run_dir), read_json(run_dir / "results.json"), RunDir(run_dir, writer=False).read_metrics())
