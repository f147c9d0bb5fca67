"""What a training run shows while it runs: a heartbeat file and a small weights snapshot.

`LiveSnapshot` is a training callback (`cnnlab.training.callbacks`) the engine always adds. It writes,
atomically and at most every ``every_s`` seconds:

- ``RUN/live.json``: status ("running", then "completed" or "interrupted"), step, total steps, time
  (Unix seconds) and the per-step history of the batch loss, running training accuracy and
  learning rate (thinned to at most ``MAX_POINTS`` points). Its modification time is the
  heartbeat: a run whose live.json says running and changed in the last `cnnlab.runs.LIVE_SECONDS` is running.
- ``RUN/live/weights.pt``: the model's weights as a checkpoint `cnnlab.load_model` reads (with the
  run's meta), for the explorer's evolving filters and prediction. Models of more than
  ``max_params`` parameters get no snapshot (writing it every few seconds would cost too much).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from cnnlab.files import atomic_write, atomic_write_text
from cnnlab.runs import FORMAT_VERSION, LIVE_FILE, SNAPSHOT_FILE
from cnnlab.training.callbacks import StartEvent, StepEvent

MAX_POINTS = 2000         # history points kept (every other point dropped when full)
MAX_SNAPSHOT_PARAMS = 5_000_000


class LiveSnapshot:
    """Heartbeat, curves and weights of a running training (see the module docs)."""

    def __init__(self, every_s: float = 2.0, max_params: int = MAX_SNAPSHOT_PARAMS) -> None:
        self.every_s, self.max_params = every_s, max_params
        self.run_dir: Path | None = None
        self.model: torch.nn.Module | None = None
        self.meta: dict[str, Any] = {}
        self.history: dict[str, list[float]] = {"step": [], "loss": [], "train_acc": [], "lr": []}
        self.val: dict[str, list[float]] = {"step": [], "val_acc": []}
        self.stride, self.last_write, self.step, self.total, self.snapshot_step = 1, 0.0, 0, 0, None

    def on_start(self, event: StartEvent) -> None:
        self.run_dir, self.model = Path(event.run_dir), event.model
        self.step, self.total = event.start_step, event.total_steps
        meta_path = self.run_dir / "meta.json"
        self.meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        self._write("running", snapshot=True)

    def on_step(self, event: StepEvent) -> None:
        self.step, self.model = event.step, event.model
        if event.step % self.stride == 0:
            for key, value in (("step", event.step), ("loss", event.loss), ("train_acc", event.train_acc), ("lr", event.lr)):
                self.history[key].append(float(value))
            if len(self.history["step"]) >= MAX_POINTS:
                self.history = {k: v[::2] for k, v in self.history.items()}
                self.stride *= 2
        if time.time() - self.last_write >= self.every_s:
            self._write("running", snapshot=True)

    def on_epoch(self, row: dict[str, Any]) -> None:
        if row.get("val_acc") is not None:
            self.val["step"].append(float(row["step"]))
            self.val["val_acc"].append(float(row["val_acc"]))

    def on_end(self, result: Any) -> None:
        self._write(str(getattr(result, "status", "completed")), snapshot=True)

    def _write(self, status: str, *, snapshot: bool) -> None:
        if self.run_dir is None:
            return
        self.last_write = time.time()
        if snapshot and self._snapshot():
            self.snapshot_step = self.step
        state = {"status": status, "step": self.step, "total_steps": self.total, "time": self.last_write,
                 "snapshot": SNAPSHOT_FILE if self.snapshot_step is not None else None,
                 "snapshot_step": self.snapshot_step, "history": self.history, "validation": self.val}
        atomic_write_text(self.run_dir / LIVE_FILE, json.dumps(state))

    def _snapshot(self) -> bool:
        model = self.model
        if model is None or not self.meta or sum(p.numel() for p in model.parameters()) > self.max_params:
            return False
        weights = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}
        state = {"format_version": FORMAT_VERSION, "meta": self.meta, "model": weights, "step": self.step}
        atomic_write(self.run_dir / SNAPSHOT_FILE, lambda f: torch.save(state, f))  # type: ignore[operator]
        return True


def read_live(run_dir: Path) -> dict[str, Any] | None:
    """RUN/live.json, or None when the run has none (or it is being replaced right now)."""
    try:
        return json.loads((Path(run_dir) / LIVE_FILE).read_text())
    except (OSError, ValueError):
        return None
