"""The run's heartbeat: RUN/live.json, rewritten every few seconds while the run trains, so that a
reader (`cnnlab runs`, the explorer) tells a running run from a stopped one (`cnnlab.runs.run_status`)."""
from __future__ import annotations

import os
import time
from typing import Any

from cnnlab.runs import LIVE_FILE, LIVE_SECONDS, RunDir
from cnnlab.training.callbacks import StartEvent, StepEvent

BEAT_SECONDS = LIVE_SECONDS / 6  # several beats per freshness window: a slow step does not look like a stop


class Heartbeat:
    """A training callback: live.json at the start, at most every BEAT_SECONDS on steps, at every epoch
    end; removed at the end (results.json, or a stop, then tells the state)."""

    def __init__(self, run: RunDir, clock: Any = time.monotonic) -> None:
        self.run, self.clock = run, clock
        self.last = float("-inf")
        self.total_steps = 0

    def on_start(self, event: StartEvent) -> None:
        self.total_steps = event.total_steps
        self._beat(step=event.start_step, epoch=None)

    def on_step(self, event: StepEvent) -> None:
        if self.clock() - self.last >= BEAT_SECONDS:
            self._beat(step=event.step, epoch=event.epoch)

    def on_epoch(self, row: dict[str, Any]) -> None:
        self._beat(step=int(row["step"]), epoch=int(row["epoch"]))

    def on_end(self, result: Any) -> None:
        self.run.remove(LIVE_FILE)

    def _beat(self, *, step: int, epoch: int | None) -> None:
        self.last = self.clock()
        self.run.write_json(LIVE_FILE, {"pid": os.getpid(), "step": step, "total_steps": self.total_steps,
                                        "epoch": epoch, "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
