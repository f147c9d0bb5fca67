"""Faults injected into real training runs and checkpoint writes: SIGKILL mid-write, failing
os.replace/fsync/write, truncated files, SIGKILL and SIGTERM at an exact step, NaN/inf losses.

The runs are `cnnlab train` subprocesses (or in-process `train()`) on scikit-learn's 8x8 digits,
one thread, a few seconds each. A small driver wraps the training loss so every optimizer step's
loss is logged (bit-exact, via repr) and a fault can be injected at step N: the logs prove that
no batch is trained twice or skipped across a kill and a resume.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.errors import CheckpointError, CnnlabError
from cnnlab.files import atomic_write, remove_stale_temps
from cnnlab.training import read_checkpoint, train
from cnnlab.runs import save_checkpoint

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
STEPS_PER_EPOCH = 1293 // 64          # digits: 1437 train images, 10% held out, full batches of 64
SETTINGS = dict(model="fastnet_small", model_kwargs={"drop_rate": 0.2}, data="digits", epochs=2, batch_size=64,
                lr=0.05, crop_padding=1, erasing=0.5, ema_decay=0.9, checkpoint_every=7, threads=1,
                report=False, quiet=True)

# Runs `cnnlab` (argv after the first two) with the training loss wrapped: each step's loss is
# appended to LOG; at step FAULT_STEP the fault FAULT is injected (SIGKILL, SIGTERM, nan, inf).
DRIVER = textwrap.dedent("""
    import math, os, runpy, signal, sys
    import torch
    log, fault, fault_step = sys.argv[1], sys.argv[2], int(sys.argv[3])
    original = torch.nn.CrossEntropyLoss.forward
    calls = 0

    def forward(self, logits, target):
        global calls
        loss = original(self, logits, target)
        calls += 1
        if calls == fault_step and fault in ("nan", "inf"):
            loss = loss * float(fault)
        with open(log, "a") as f:
            f.write(repr(loss.item()) + "\\n")
        if calls == fault_step and fault in ("SIGKILL", "SIGTERM"):
            os.kill(os.getpid(), getattr(signal, fault))
        return loss

    torch.nn.CrossEntropyLoss.forward = forward
    sys.argv = ["cnnlab", *sys.argv[4:]]
    runpy.run_module("cnnlab", run_name="__main__")
""")


def _losses(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _cnnlab(tmp: Path, log: Path, args: list[str], fault: str = "none", step: int = 0,
            **settings) -> subprocess.CompletedProcess:
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    flags = [f"--{'' if v else 'no-'}{k.replace('_', '-')}" if isinstance(v, bool) else f"--{k.replace('_', '-')}={v}"
             for k, v in settings.items()]
    return subprocess.run([sys.executable, str(driver), str(log), fault, str(step), *args, *flags],
                          env=ENV, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, list[str]]:
    """The uninterrupted run, in a subprocess like the faulted ones, with its per-step loss log."""
    root = tmp_path_factory.mktemp("reference")
    config = root / "settings.yaml"
    import yaml

    config.write_text(yaml.safe_dump(SETTINGS))
    done = _cnnlab(root, root / "loss.log", ["train", "--config", str(config), "--run-dir", str(root / "run")])
    assert done.returncode == 0, done.stderr
    return root / "run", _losses(root / "loss.log")


def _assert_same_training_state(run: Path, ref: Path) -> None:
    """Everything in the final checkpoints is bitwise equal: weights, EMA, optimizer, schedule, RNG, position."""
    got, want = read_checkpoint(run / "checkpoints" / "last.pt"), read_checkpoint(ref / "checkpoints" / "last.pt")
    assert (got["epoch"], got["batch"], got["step"]) == (want["epoch"], want["batch"], want["step"])

    def same(a, b, where):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), where
        elif isinstance(a, dict):
            assert a.keys() == b.keys(), where
            for k in a:
                same(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b), where
            for i, (x, y) in enumerate(zip(a, b)):
                same(x, y, f"{where}[{i}]")
        else:
            assert a == b, f"{where}: {a!r} != {b!r}"

    for part in ("model", "ema", "optimizer", "scheduler", "rng", "best_val_acc"):
        same(got[part], want[part], part)
    assert got["scheduler"]["_last_lr"] == want["scheduler"]["_last_lr"]


# --- atomic writes under faults ------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, torch
    from cnnlab.runs import save_checkpoint
    path, i = sys.argv[1], 0
    while True:  # ~32 MB checkpoints, each filled with its own counter
        i += 1
        save_checkpoint({"i": i, "w": torch.full((8_000_000,), float(i))}, path)
        print(i, flush=True)
""")


@pytest.mark.slow  # ~30 s: six interpreter starts
def test_sigkill_during_checkpoint_writes_never_leaves_a_partial_file(tmp_path):
    """A writer saving large checkpoints in a loop is SIGKILLed at random moments, 6 times."""
    path = tmp_path / "checkpoints" / "last.pt"
    (tmp_path / "writer.py").write_text(WRITER)
    rng, previous = random.Random(0), 0
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(path)], env=ENV,
                                stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()                              # one complete save happened
        time.sleep(rng.uniform(0.0, 0.4))                   # then kill somewhere inside a later save
        proc.kill()
        proc.wait()
        names = sorted(p.name for p in path.parent.iterdir())
        assert "last.pt" in names and all(n == "last.pt" or n.endswith(".tmp") for n in names)
        state = read_checkpoint(path)                       # the final name always holds a whole checkpoint
        assert state["i"] >= 1 and torch.equal(state["w"], torch.full((8_000_000,), float(state["i"])))
        previous = state["i"]
        remove_stale_temps(path.parent)                     # what RunDir does when a run folder is opened
        assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]
    assert previous >= 1


@pytest.mark.parametrize("fault", ["os.replace", "os.fsync", "torch.save"])
def test_a_failing_write_leaves_the_target_unchanged_and_no_temp_file(tmp_path, monkeypatch, fault):
    path = save_checkpoint({"step": 1, "w": torch.ones(3)}, tmp_path / "last.pt")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, f"injected failure of {fault}")  # ENOSPC

    module, name = fault.split(".")
    monkeypatch.setattr({"os": os, "torch": torch}[module], name, broken)
    with pytest.raises(OSError, match="injected failure"):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert read_checkpoint(path)["step"] == 1


def test_an_interrupted_write_of_a_new_file_leaves_nothing(tmp_path):
    def write(f):
        f.write(b"half")
        raise KeyboardInterrupt  # Ctrl-C in the middle of a write: BaseException, not Exception

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.pt", write)
    assert list(tmp_path.iterdir()) == []


# --- truncated and corrupt checkpoints -----------------------------------------------------------

@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished")
    return train("linear", "digits", epochs=2, batch_size=64, threads=1, report=False, quiet=True,
                 run_dir=str(out / "run")).run_dir


TRUNCATIONS = {"zero bytes": 0, "one byte": 1, "100 bytes": 100, "half": 0.5, "all but one byte": -1,
               "garbage": "garbage"}


def _damage(path: Path, how) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(len(data))))
    elif isinstance(how, float):
        path.write_bytes(data[: int(len(data) * how)])
    else:
        path.write_bytes(data[:how])


@pytest.mark.parametrize("case", list(TRUNCATIONS))
def test_a_damaged_checkpoint_is_a_checkpoint_error_naming_the_file(finished, tmp_path, case):
    path = tmp_path / "last.pt"
    shutil.copy(finished / "checkpoints" / "last.pt", path)
    _damage(path, TRUNCATIONS[case])
    with pytest.raises(CheckpointError, match=str(path)) as err:
        read_checkpoint(path)
    assert any(w in str(err.value) for w in ("empty", "corrupt", "truncated"))


@pytest.mark.parametrize("case", ["zero bytes", "half", "garbage"])
def test_resume_falls_back_to_the_last_valid_checkpoint_and_says_so(finished, tmp_path, capsys, case):
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    _damage(run / "checkpoints" / "last.pt", TRUNCATIONS[case])
    result = train(resume=run, quiet=True)
    out = capsys.readouterr().out
    assert result.status == "completed"
    assert f"{run / 'checkpoints' / 'last.pt'}" in out and f"resuming from {run / 'checkpoints' / 'best.pt'} instead" in out


def test_resume_with_no_valid_checkpoint_is_a_clear_error(finished, tmp_path):
    run = Path(shutil.copytree(finished, tmp_path / "run"))
    _damage(run / "checkpoints" / "last.pt", 0)
    _damage(run / "checkpoints" / "best.pt", 0.5)
    with pytest.raises(CnnlabError, match=r"cannot resume .*last\.pt is empty.*best\.pt is corrupt.*Start a new run"):
        train(resume=run)


# --- kill and resume at an exact step ------------------------------------------------------------

@pytest.mark.slow  # ~35 s with its reference run; test_train_resume.py has a SIGKILL + resume in the default suite
def test_sigkill_at_epoch_2_batch_13_then_resume_is_bitwise_the_uninterrupted_run(reference, tmp_path):
    ref_run, ref_losses = reference
    kill_step = STEPS_PER_EPOCH + 13                        # epoch 2, batch 13; checkpoints every 7 steps
    saved_step = kill_step // 7 * 7                         # 28: the last checkpoint before the kill
    run = tmp_path / "run"
    config = ref_run.parent / "settings.yaml"
    killed = _cnnlab(tmp_path, tmp_path / "killed.log", ["train", "--config", str(config), "--run-dir", str(run)],
                     "SIGKILL", kill_step)
    assert killed.returncode == -signal.SIGKILL
    state = read_checkpoint(run / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch"], state["step"]) == (1, saved_step - STEPS_PER_EPOCH, saved_step)
    assert not (run / "results.json").exists()
    resumed = _cnnlab(tmp_path, tmp_path / "resumed.log", ["train", "--resume", str(run)])
    assert resumed.returncode == 0, resumed.stderr
    before, after = _losses(tmp_path / "killed.log"), _losses(tmp_path / "resumed.log")
    assert len(before) == kill_step and before == ref_losses[:kill_step]   # the kill really was at that step
    # the resumed run starts at the step after the checkpoint: nothing trained twice, nothing skipped
    assert before[:saved_step] + after == ref_losses
    assert len(after) == len(ref_losses) - saved_step
    _assert_same_training_state(run, ref_run)
    assert (run / "metrics.csv").read_text().splitlines()[1:] != []
    for mine, theirs in zip((run / "metrics.csv").read_text().splitlines(), (ref_run / "metrics.csv").read_text().splitlines()):
        assert mine.split(",")[:7] == theirs.split(",")[:7]  # epoch..lr identical (times differ)


@pytest.mark.slow  # ~25 s; test_train_resume.py checks SIGTERM + resume in the default suite
def test_sigterm_saves_at_the_next_step_boundary_exits_cleanly_and_resumes_bitwise(reference, tmp_path):
    ref_run, ref_losses = reference
    term_step = STEPS_PER_EPOCH + 4                         # not a multiple of checkpoint_every
    run = tmp_path / "run"
    config = ref_run.parent / "settings.yaml"
    stopped = _cnnlab(tmp_path, tmp_path / "term.log", ["train", "--config", str(config), "--run-dir", str(run)],
                      "SIGTERM", term_step)
    assert stopped.returncode == 143, stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert f"Stopped by SIGTERM at epoch 2, batch 4 (step {term_step})" in stopped.stdout
    assert f"Resume with: cnnlab train --resume {run}" in stopped.stdout
    state = read_checkpoint(run / "checkpoints" / "last.pt")
    # the step during which the signal arrived was completed, then saved: a step boundary
    assert (state["epoch"], state["batch"], state["step"]) == (1, 4, term_step)
    resumed = _cnnlab(tmp_path, tmp_path / "resumed.log", ["train", "--resume", str(run)])
    assert resumed.returncode == 0, resumed.stderr
    assert _losses(tmp_path / "term.log") + _losses(tmp_path / "resumed.log") == ref_losses
    _assert_same_training_state(run, ref_run)


# --- NaN / inf ------------------------------------------------------------------------------------

@pytest.mark.slow  # a CLI subprocess each; test_on_nan_skip_... and test_train.py cover NaN in-process
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_poisoned_batch_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, value):
    bad_step = STEPS_PER_EPOCH + 10                         # checkpoints at 7, 14, ..., 28
    run = tmp_path / "run"
    done = _cnnlab(tmp_path, tmp_path / "loss.log", ["train", "linear", "--data", "digits", "--run-dir", str(run)],
                   value, bad_step, epochs=3, batch_size=64, threads=1, checkpoint_every=7, quiet=True,
                   report=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"the loss became {value} at step {bad_step} (epoch 2, batch 10)" in done.stdout + done.stderr
    assert "--on-nan skip" in done.stdout + done.stderr
    state = read_checkpoint(run / "checkpoints" / "last.pt")
    assert state["step"] == 28 and state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert len(_losses(tmp_path / "loss.log")) == bad_step  # nothing trained after the bad step


def test_on_nan_skip_skips_only_the_poisoned_step(tmp_path, monkeypatch):
    bad_step = 5
    original, calls, seen = torch.nn.CrossEntropyLoss.forward, [0], []

    def poisoned(self, logits, target):
        loss = original(self, logits, target)
        calls[0] += 1
        seen.append(loss.item())
        return loss * float("inf") if calls[0] == bad_step else loss

    monkeypatch.setattr(torch.nn.CrossEntropyLoss, "forward", poisoned)
    result = train("linear", "digits", epochs=1, batch_size=64, threads=1, on_nan="skip", report=False, quiet=True,
                   run_dir=str(tmp_path / "run"))
    assert result.status == "completed" and calls[0] == STEPS_PER_EPOCH
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    state = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == STEPS_PER_EPOCH
    row = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[1].split(",")
    # the epoch's mean train loss counts the good steps only
    good = [v for i, v in enumerate(seen, 1) if i != bad_step]
    assert float(row[2]) == pytest.approx(np.mean(good), rel=1e-4)


# --- determinism ---------------------------------------------------------------------------------

def _metrics(run: Path) -> list[list[str]]:
    return [line.split(",")[:7] for line in (run / "metrics.csv").read_text().splitlines()]


def test_the_same_seed_twice_in_deterministic_mode_gives_identical_metrics(tmp_path):
    settings = {**SETTINGS, "epochs": 2, "checkpoint_every": 0, "deterministic": True}
    runs = [train(**settings, seed=seed, run_dir=str(tmp_path / name)).run_dir
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    assert _metrics(runs[0]) == _metrics(runs[1])
    a, b = (read_checkpoint(r / "checkpoints" / "last.pt")["model"] for r in runs[:2])
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _metrics(runs[0]) != _metrics(runs[2])           # the seed matters: the comparison can fail
