"""Where a run stands, read from its small files only: completed, running, interrupted or no checkpoint.

A training process keeps ``live.json`` fresh (every few seconds, `LIVE_FILE`); a run whose heartbeat
is older than `LIVE_SECONDS` without results.json has stopped: killed, crashed or interrupted.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.runs.folder import CHECKPOINT_NAMES, RunDir, read_json

RUN_STATES = ("completed", "running", "interrupted", "no checkpoint")
LIVE_FILE = "live.json"     # the training process's heartbeat: status, step, total steps, curves, time
LIVE_SECONDS = 30.0         # a heartbeat older than this is a stopped run's
SNAPSHOT_FILE = "live/weights.pt"  # the latest weights of a running run, for the explorer's live view


def run_status(run: str | Path | RunDir, *, now: float | None = None) -> str:
    """"completed" (results.json says so), "running" (a fresh heartbeat), "interrupted" (a checkpoint
    or live weights but neither: stopped or crashed) or "no checkpoint" (stopped before its first checkpoint)."""
    run = run if isinstance(run, RunDir) else RunDir(run, writer=False)
    results = run.results()
    if results and results.get("status", "completed") == "completed":  # results.json is written at the end
        return "completed"
    live = run.path / LIVE_FILE
    if live.is_file() and (time.time() if now is None else now) - live.stat().st_mtime <= LIVE_SECONDS:
        if read_json(live).get("status", "running") == "running":  # a stop writes its own status at once
            return "running"
    kept = [run.checkpoint(n) for n in CHECKPOINT_NAMES] + [run.path / SNAPSHOT_FILE]  # the snapshot: to look at
    return "interrupted" if any(path.is_file() for path in kept) else "no checkpoint"


@dataclass(frozen=True)
class RunState:
    """What `cnnlab runs` lists about one run folder.

    ``state``: one of RUN_STATES (`run_status`). ``epochs_done`` may be fractional (from steps.csv);
    ``eval_split`` says which split ``eval_acc`` is of.
    """

    path: Path
    kind: str
    model: str
    dataset: str
    state: str
    epochs_done: float | None
    epochs: float | None
    best_val_acc: float | None
    eval_acc: float | None
    eval_split: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path), "name": self.path.name}


def run_state(run_dir: Path) -> RunState:
    """The state of a run folder; epochs done of planned; accuracies."""
    run = RunDir(run_dir, writer=False)
    meta, results, config = run.meta(), run.results(), run.config()
    epochs, steps = run.read_metrics(), run.read_metrics("steps.csv")
    state = run_status(run)
    best_val = results.get("best_val_acc", results.get("val_acc"))
    if state == "completed":
        done = results.get("epochs")
    else:
        # steps.csv's epoch is fractional; metrics.csv's counts a partial last epoch as whole
        done = (steps or epochs or [{}])[-1].get("epoch")
        best_val = max((r["val_acc"] for r in epochs if r.get("val_acc") is not None), default=None)
    evaluated = results.get("eval_split") or ("test" if results.get("test_acc") is not None else None)
    model = str(meta.get("model") or meta.get("method") or "")
    return RunState(run_dir, meta.get("kind", "cnn"), model, str(meta.get("dataset", "")), state, done,
                    config.get("epochs"), best_val, results.get("eval_acc", results.get("test_acc")), evaluated)
