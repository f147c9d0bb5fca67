"""The live view's files: live.json (heartbeat, curves) and the weights snapshot a training writes,
and the run status the explorer derives from them."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch

import cnnlab
from cnnlab.runs import LIVE_FILE, LIVE_SECONDS, SNAPSHOT_FILE, run_status
from cnnlab.training.callbacks import StartEvent, StepEvent
from cnnlab.training.live import LiveSnapshot, read_live

from viz_support import digits_meta, tiny_cnn, tiny_loader, write_run


def test_a_training_leaves_a_completed_live_file_and_a_loadable_snapshot_of_its_weights(tmp_path):
    result = cnnlab.train("fastnet_small", data="digits", epochs=1, batch_size=64, threads=1, report=False, quiet=True,
                          out=str(tmp_path), name="run", seed=0)
    live = read_live(result.run_dir)
    total = live["total_steps"]
    assert live["status"] == "completed" and live["step"] == total and live["snapshot_step"] == total
    history = live["history"]
    assert history["step"] == list(range(1, total + 1)) and len(history["loss"]) == len(history["train_acc"]) == total
    snapshot = cnnlab.load_model(result.run_dir / SNAPSHOT_FILE)
    for name, value in result.model.state_dict().items():  # one epoch: the best weights are the last ones
        assert torch.equal(snapshot.model.state_dict()[name], value)
    assert run_status(result.run_dir) == "completed"


def _step(model: torch.nn.Module, step: int) -> StepEvent:
    return StepEvent(step, 100, 0, 2.0 / step, 1.0, 0.1 * (step % 10), 0.01, 50.0, model)


def test_the_snapshot_is_written_at_most_every_few_seconds_and_skipped_for_large_models(tmp_path):
    run = write_run(tmp_path / "run", checkpoint=False)
    model = tiny_cnn()
    live = LiveSnapshot(every_s=3600)
    live.on_start(StartEvent(run, model, 100, 10, 10.0, 0))
    first = (run / SNAPSHOT_FILE).stat().st_mtime_ns
    for step in range(1, 6):
        live.on_step(_step(model, step))
    assert read_live(run)["step"] == 0  # within the interval: nothing rewritten
    assert (run / SNAPSHOT_FILE).stat().st_mtime_ns == first
    live.every_s = 0
    live.on_step(_step(model, 6))
    state = read_live(run)
    assert state["status"] == "running" and state["step"] == 6 and state["history"]["step"] == [1, 2, 3, 4, 5, 6]
    assert torch.load(run / SNAPSHOT_FILE, weights_only=True)["step"] == 6

    big = tmp_path / "big"
    write_run(big, checkpoint=False)
    LiveSnapshot(max_params=10).on_start(StartEvent(big, model, 100, 10, 10.0, 0))
    assert read_live(big)["snapshot"] is None and not (big / SNAPSHOT_FILE).exists()


def test_run_status_completed_running_interrupted(tmp_path):
    done = write_run(tmp_path / "done")  # results.json without a status field: an older completed run
    assert run_status(done) == "completed"
    (done / "results.json").write_text(json.dumps({"status": "completed"}))
    assert run_status(done) == "completed"

    going = write_run(tmp_path / "going", checkpoint=False)
    (going / "results.json").unlink()
    (going / LIVE_FILE).write_text("{}")
    assert run_status(going) == "running"
    old = time.time() - LIVE_SECONDS - 5
    os.utime(going / LIVE_FILE, (old, old))
    assert run_status(going) == "no checkpoint"
    (going / Path(SNAPSHOT_FILE).parent).mkdir()
    (going / SNAPSHOT_FILE).write_bytes(b"x")
    assert run_status(going) == "interrupted"
    assert run_status(going, now=old + 1) == "running"

    stopped = write_run(tmp_path / "stopped")
    (stopped / "results.json").write_text(json.dumps({"status": "interrupted"}))
    assert run_status(stopped) == "interrupted"


def test_a_run_in_progress_is_listed_with_its_snapshot(tmp_path):
    from fastapi.testclient import TestClient

    from cnnlab.app.server import create_app

    run = write_run(tmp_path / "runs" / "going", checkpoint=False, meta=digits_meta())
    (run / "results.json").unlink()
    live = LiveSnapshot(every_s=0)
    live.on_start(StartEvent(run, tiny_cnn(), 100, 10, 10.0, 0))

    client = TestClient(create_app(tmp_path / "runs", loader=tiny_loader))
    [listed] = client.get("/api/runs").json()["runs"]
    assert listed["id"] == "going" and listed["state"] == "running"
    for step in range(1, 4):
        live.on_step(_step(tiny_cnn(), step))
    data = client.post("/api/runs/going/live").json()
    assert data["status"] == "running" and data["weights"] == "weights.pt" and data["step"] == 3
    assert [p[0] for p in data["curves"]["train_acc"]] == [1, 2, 3]
    assert data["filters"]["image"].startswith("data:image/png")


@pytest.mark.parametrize("status", ["completed", "interrupted"])
def test_the_end_of_training_is_written_to_live_json(tmp_path, status):
    run = write_run(tmp_path / "run", checkpoint=False)
    live = LiveSnapshot()
    live.on_start(StartEvent(run, tiny_cnn(), 10, 10, 1.0, 0))
    live.on_end(type("Result", (), {"status": status})())
    assert read_live(run)["status"] == status
