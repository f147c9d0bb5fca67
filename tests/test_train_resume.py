"""Kill a real `cnnlab train` subprocess and resume it: the weights must be bitwise those of an
uninterrupted run (CPU, fixed seed, one thread). Dropout, EMA and random augmentation are on, so
the RNG states and the loader position must all be restored for this to hold."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnnlab.training import read_checkpoint, train

SETTINGS = """\
model: fastnet_small
model_kwargs: {drop_rate: 0.2}
data: digits
epochs: 5
batch_size: 32
lr: 0.05
crop_padding: 1
erasing: 0.5
ema_decay: 0.9
threads: 1
report: false
quiet: true
"""
ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run."""
    root = tmp_path_factory.mktemp("resume")
    (root / "settings.yaml").write_text(SETTINGS)
    return train(config=root / "settings.yaml", run_dir=str(root / "reference")).run_dir


def _start(run_dir: Path, config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnnlab", "train", "--config", str(config), "--run-dir", str(run_dir)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _epochs_logged(run_dir: Path) -> int:
    try:
        with (run_dir / "metrics.csv").open() as f:
            return sum(1 for _ in csv.DictReader(f))
    except FileNotFoundError:
        return 0


def _wait_for_epochs(proc: subprocess.Popen, run_dir: Path, k: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _epochs_logged(run_dir) < k:
        if proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training did not reach the epoch in time")
        time.sleep(0.01)


def _resume(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlab", "train", "--resume", str(run_dir)],
                          env=ENV, capture_output=True, text=True, timeout=600)


def _assert_same_final_state(run_dir: Path, reference: Path) -> None:
    got = read_checkpoint(run_dir / "checkpoints" / "last.pt")
    want = read_checkpoint(reference / "checkpoints" / "last.pt")
    assert (got["epoch"], got["batch"], got["step"]) == (want["epoch"], want["batch"], want["step"])
    parts = {"model": got["model"], "ema": got["ema"]}, {"model": want["model"], "ema": want["ema"]}
    if want.get("lookahead") is not None:
        parts[0]["lookahead"], parts[1]["lookahead"] = got["lookahead"]["slow"], want["lookahead"]["slow"]
    for part in parts[1]:
        assert parts[0][part].keys() == parts[1][part].keys()
        for name in parts[1][part]:
            assert torch.equal(parts[0][part][name], parts[1][part][name]), f"{part}.{name} differs"
    for a, b in zip(got["optimizer"]["state"].values(), want["optimizer"]["state"].values()):
        assert torch.equal(a["momentum_buffer"], b["momentum_buffer"])
    assert got["scheduler"] == want["scheduler"]
    with (run_dir / "metrics.csv").open() as f, (reference / "metrics.csv").open() as g:
        rows, ref_rows = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in ref_rows]  # each epoch logged once
    for r, q in zip(rows, ref_rows):
        assert (r["train_loss"], r["val_acc"], r["lr"]) == (q["train_loss"], q["val_acc"], q["lr"])


def test_sigkill_after_epoch_2_then_resume_ends_with_the_same_weights(reference, tmp_path):
    run_dir = tmp_path / "killed"
    proc = _start(run_dir, reference.parent / "settings.yaml")
    _wait_for_epochs(proc, run_dir, 2)
    proc.kill()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()  # it really was stopped before the end
    done = _resume(run_dir)
    assert done.returncode == 0, done.stderr
    _assert_same_final_state(run_dir, reference)


def test_sigterm_saves_at_a_step_boundary_and_resume_ends_with_the_same_weights(reference, tmp_path):
    run_dir = tmp_path / "terminated"
    proc = _start(run_dir, reference.parent / "settings.yaml")
    _wait_for_epochs(proc, run_dir, 1)
    time.sleep(0.2)  # into epoch 2
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert f"Resume with: cnnlab train --resume {run_dir}" in out
    state = read_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["batch"] >= 1 and state["step"] == state["epoch"] * (1293 // 32) + state["batch"]
    done = _resume(run_dir)
    assert done.returncode == 0, done.stderr
    _assert_same_final_state(run_dir, reference)


@pytest.mark.parametrize("extra", ["", "lookahead: true\n"], ids=["ema", "ema+lookahead"])
def test_a_run_stopped_in_its_fractional_last_epoch_resumes_to_the_same_weights(tmp_path, monkeypatch, extra):
    """epochs: 1.5 ends mid-epoch; a stop inside that half epoch, then --resume, matches the run left alone.

    Step 47 is between two lookahead syncs (45, 50), so the slow weights must come back from the checkpoint."""
    from cnnlab.training import engine

    (tmp_path / "settings.yaml").write_text(SETTINGS.replace("epochs: 5", "epochs: 1.5") + extra)
    reference = train(config=tmp_path / "settings.yaml", run_dir=str(tmp_path / "reference")).run_dir

    class StopAtStep47(engine.StopRequest):  # as if SIGTERM arrived in step 47 (epoch 2 holds steps 41-60)
        calls = 0

        def __bool__(self) -> bool:
            StopAtStep47.calls += 1
            if StopAtStep47.calls == 47:
                self.signal_name = "SIGTERM"
            return super().__bool__()

    monkeypatch.setattr(engine, "StopRequest", StopAtStep47)
    stopped = train(config=tmp_path / "settings.yaml", run_dir=str(tmp_path / "stopped"))
    assert stopped.status == "interrupted"
    assert read_checkpoint(tmp_path / "stopped" / "checkpoints" / "last.pt")["step"] == 47
    monkeypatch.undo()
    assert train(resume=tmp_path / "stopped").status == "completed"
    _assert_same_final_state(tmp_path / "stopped", reference)
    assert read_checkpoint(reference / "checkpoints" / "last.pt")["step"] == round(1.5 * (1293 // 32))
