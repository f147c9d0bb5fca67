"""The run store (cnnlab.runs): one resolver from what a user typed to a run and a checkpoint, the
run folder's layout as one type, and a run's status (completed, running, interrupted)."""
from __future__ import annotations

import os
import time

import pytest

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.runs import LIVE_FILE, LIVE_SECONDS, RunDir, resolve_run, run_status
from eval_support import write_fake_run


def _checkpoints(run, *names):
    (run / "checkpoints").mkdir(exist_ok=True)
    for name in names:
        (run / "checkpoints" / f"{name}.pt").write_bytes(b"x")
    return run


def test_a_run_folder_a_checkpoint_and_a_folder_of_runs_resolve_to_the_same_run(tmp_path):
    run = _checkpoints(write_fake_run(tmp_path / "runs" / "a"), "best", "last")
    for given in (run, run / "checkpoints" / "best.pt", tmp_path / "runs"):
        target = resolve_run(given)
        assert target.run_dir == run and target.checkpoint == run / "checkpoints" / "best.pt"
    assert resolve_run(run, which="last").checkpoint == run / "checkpoints" / "last.pt"


def test_the_resolver_falls_back_to_the_other_checkpoint_and_says_when_there_is_none(tmp_path):
    run = _checkpoints(write_fake_run(tmp_path / "a"), "last")
    assert resolve_run(run, which="best").checkpoint == run / "checkpoints" / "last.pt"
    bare = write_fake_run(tmp_path / "b")
    with pytest.raises(CheckpointError, match="has no checkpoint"):
        resolve_run(bare).require_checkpoint()
    with pytest.raises(ConfigError, match="unknown checkpoint"):
        resolve_run(run, which="first")
    with pytest.raises(CheckpointError, match="no run or checkpoint"):
        resolve_run(tmp_path / "missing")


def test_a_lone_checkpoint_has_no_run(tmp_path):
    (tmp_path / "weights.pt").write_bytes(b"x")
    target = resolve_run(tmp_path / "weights.pt")
    assert target.run is None and target.checkpoint == tmp_path / "weights.pt"
    with pytest.raises(CheckpointError, match="lone checkpoint"):
        target.require_run("cnnlab report")


def test_reading_a_run_folder_writes_nothing(tmp_path):
    RunDir(tmp_path / "r").meta()
    resolve_run(write_fake_run(tmp_path / "s"))
    assert not (tmp_path / "r").exists() and not (tmp_path / "s" / "checkpoints").exists()


def test_run_status_completed_running_interrupted(tmp_path):
    done = write_fake_run(tmp_path / "done")
    assert run_status(done) == "completed"
    stopped = _checkpoints(write_fake_run(tmp_path / "stopped"), "last")
    (stopped / "results.json").unlink()
    assert run_status(stopped) == "interrupted"
    (stopped / LIVE_FILE).write_text("{}")
    assert run_status(stopped) == "running"
    stale = time.time() - LIVE_SECONDS - 5
    os.utime(stopped / LIVE_FILE, (stale, stale))
    assert run_status(stopped) == "interrupted"  # a heartbeat that stopped: killed or crashed
    os.utime(stopped / LIVE_FILE)
    (stopped / LIVE_FILE).write_text('{"status": "interrupted"}')
    assert run_status(stopped) == "interrupted"  # a fresh heartbeat that says it stopped (Ctrl-C)
    (stopped / "checkpoints" / "last.pt").unlink()
    assert run_status(stopped) == "no checkpoint"
