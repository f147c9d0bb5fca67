"""A run folder's status, in one place: completed, running, interrupted or no checkpoint.

- completed: results.json says so (it is written when training ends; older runs have no ``status``
  field and count as completed);
- running: otherwise, the heartbeat ``live.json`` changed in the last `HEARTBEAT_S` seconds;
- interrupted: otherwise, with a checkpoint (or a live weights snapshot) to resume or look at;
- no checkpoint: none of these.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from cnnlab.training.live import HEARTBEAT_S, LIVE_FILE, SNAPSHOT_FILE

CHECKPOINTS = ("checkpoints/best.pt", "checkpoints/last.pt", SNAPSHOT_FILE)


def run_status(run_dir: str | Path, now: float | None = None) -> str:
    run_dir = Path(run_dir)
    try:
        results = json.loads((run_dir / "results.json").read_text())
    except (OSError, ValueError):
        results = None
    if isinstance(results, dict) and results.get("status", "completed") == "completed":
        return "completed"
    try:
        age = (time.time() if now is None else now) - (run_dir / LIVE_FILE).stat().st_mtime
    except OSError:
        age = None
    if age is not None and age < HEARTBEAT_S:
        return "running"
    return "interrupted" if any((run_dir / name).is_file() for name in CHECKPOINTS) else "no checkpoint"
