"""Watching a run as it trains: per-step metrics (steps.csv, TensorBoard, the report's curves for short
runs), fractional epochs on the console, and warnings when training diverges or collapses."""
from __future__ import annotations

import csv
import math

import pytest
import torch

from cnnlab.eval import figures
from cnnlab.eval.figures import curve_rows
from cnnlab.training import train
from cnnlab.training.divergence import DivergenceWatch
from cnnlab.training.progress import epoch_line
from cnnlab.runs import RunDir
from cnnlab.training.steplog import STEP_ROWS, StepLog, step_interval
from eval_support import run_cli, write_fake_run
from train_support import misbehaving_models  # noqa: F401  (a fixture)


TINY = dict(data="digits", batch_size=32, threads=1, report=False, quiet=True)
DIGITS_TRAIN = 1293  # digits' 1437 training images less the 10% validation hold-out


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


# --- per-step metrics -------------------------------------------------------------------------------

def test_a_fraction_of_an_epoch_logs_every_step_with_its_fractional_epoch(tmp_path, capsys):
    result = train("fastnet_small", epochs=0.3, lr=0.05, run_dir=str(tmp_path / "r"), **TINY)
    per_epoch = DIGITS_TRAIN // 32
    rows = _rows(result.run_dir / "steps.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, round(0.3 * per_epoch) + 1))
    assert [float(r["epoch"]) for r in rows] == pytest.approx([s / per_epoch for s in range(1, len(rows) + 1)], rel=1e-5)
    assert all(math.isfinite(float(r["train_loss"])) for r in rows)
    lrs = [float(r["lr"]) for r in rows]
    assert max(lrs) == pytest.approx(0.05, rel=1e-4) and lrs[-1] < 0.05 / 100  # the one-cycle schedule, step by step
    assert "epoch 0.3/0.3 " in capsys.readouterr().out  # not "epoch 1/0.3"


def test_a_long_run_logs_about_step_rows_rows_of_mean_losses(tmp_path):
    run = RunDir(tmp_path / "r")
    total = 10 * STEP_ROWS + 7
    log = StepLog(run, total, steps_per_epoch=100)
    for step in range(1, total + 1):
        log.record(step, float(step), lr=0.1)
    rows = _rows(tmp_path / "r" / "steps.csv")
    every = step_interval(total)
    assert every == 10 and len(rows) == total // every
    assert float(rows[0]["train_loss"]) == pytest.approx(sum(range(1, 11)) / 10)  # the mean since the last row
    assert float(rows[-1]["epoch"]) == pytest.approx(rows and int(rows[-1]["step"]) / 100)


def test_non_finite_losses_are_left_out_of_the_step_mean(tmp_path):
    log = StepLog(RunDir(tmp_path / "r"), 4, steps_per_epoch=4)
    for step, loss in enumerate([1.0, float("nan"), 3.0, float("inf")], 1):
        log.record(step, loss, lr=0.1)
    assert [float(r["train_loss"]) for r in _rows(tmp_path / "r" / "steps.csv")] == [1.0, 3.0]  # nan/inf steps: no row


def test_step_metrics_reach_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunDir(tmp_path / "r")
    log = StepLog(run, 3, steps_per_epoch=10)
    for step in (1, 2, 3):
        log.record(step, 2.0 / step, lr=0.01 * step)
    run.close()
    events = EventAccumulator(str(tmp_path / "r" / "events"))
    events.Reload()
    assert [e.step for e in events.Scalars("step/train_loss")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("step/lr")] == pytest.approx([0.01, 0.02, 0.03])


def test_resuming_drops_step_rows_after_the_checkpoint(tmp_path):
    run = RunDir(tmp_path / "r")
    log = StepLog(run, 10, steps_per_epoch=5)
    for step in range(1, 11):
        log.record(step, 1.0, lr=0.1)
    run.keep_metrics_until(epoch=1, step=6)
    assert [int(r["step"]) for r in _rows(tmp_path / "r" / "steps.csv")] == [1, 2, 3, 4, 5, 6]


def test_short_runs_draw_their_curves_per_step_at_fractional_epochs(tmp_path):
    run = write_fake_run(tmp_path / "short", epochs=1)
    with (run / "steps.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "epoch", "train_loss", "lr"])
        w.writerows([s, s / 40, 2.0 - s / 10, 0.1] for s in range(1, 11))
    rows, steps = curve_rows(run)
    assert len(rows) == 1 and len(steps) == 10
    loss_panel = figures.curves_figure(rows, steps).axes[0]
    per_step, val = loss_panel.lines
    assert list(per_step.get_xdata()) == pytest.approx([s / 40 for s in range(1, 11)])
    assert list(val.get_xdata()) == pytest.approx([10 / 40])  # metrics.csv's step 10, at its fractional epoch
    assert curve_rows(write_fake_run(tmp_path / "long", epochs=4))[1] == []  # enough epochs: one point each


def test_the_explorer_draws_curves_of_a_run_with_only_steps(tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from cnnlab.app.server import create_app

    run = write_fake_run(tmp_path / "runs" / "r", epochs=0)
    (run / "checkpoints").mkdir()
    torch.save({"model": {}}, run / "checkpoints" / "last.pt")
    (run / "steps.csv").write_text("step,epoch,train_loss,lr\n1,0.1,2.0,0.1\n2,0.2,1.5,0.1\n")
    client = TestClient(create_app(tmp_path / "runs"))
    answer = client.get("/api/runs/r/curves.png")
    assert answer.status_code == 200 and answer.content.startswith(b"\x89PNG")


def test_the_epoch_line_shows_where_a_fractional_run_stops():
    row = dict(epoch=3, train_loss=1.0, train_acc=0.5, lr=0.1, images_per_s=10.0, epoch_time_s=1.0)
    assert epoch_line(row, 2.5).startswith("epoch 2.5/2.5 ")
    assert epoch_line({**row, "epoch": 2}, 2.5).startswith("epoch 2/2.5 ")


# --- divergence and collapse ------------------------------------------------------------------------

def test_a_collapse_of_validation_accuracy_is_warned_once_naming_the_lr(tmp_path, capsys, misbehaving_models):
    per_epoch = DIGITS_TRAIN // 32
    train("_test_collapse_after", epochs=4, lr=0.05, model_kwargs={"at": per_epoch + 3}, run_dir=str(tmp_path / "r"),
          **TINY)
    warnings = [line for line in capsys.readouterr().out.splitlines() if "validation accuracy fell" in line]
    assert len(warnings) == 1 and "at epoch 2, from" in warnings[0] and "at epoch 1" in warnings[0]
    assert "--lr 0.05 at its peak" in warnings[0] and "try --lr 0.005" in warnings[0] and "`cnnlab lr-find`" in warnings[0]


def test_a_steady_run_gets_no_divergence_warning(tmp_path, capsys):
    train("fastnet_small", epochs=2, lr=0.05, run_dir=str(tmp_path / "r"), **TINY)
    out = capsys.readouterr().out
    assert "diverg" not in out and "collapsed" not in out


def test_skipped_non_finite_losses_are_warned_about(tmp_path, capsys, misbehaving_models):
    train("_test_nan_after", epochs=1, lr=0.05, model_kwargs={"nan_at": 3}, on_nan="skip",
          run_dir=str(tmp_path / "r"), **TINY)
    warnings = [line for line in capsys.readouterr().out.splitlines() if "training loss became nan" in line]
    assert len(warnings) == 1 and "at step 3" in warnings[0] and "try --lr 0.005" in warnings[0]


@pytest.mark.parametrize("accs,images,warned", [
    ([0.5, 0.52, 0.15], 1000, True),     # the lenet5 on digits: 52% then 15%
    ([0.5, 0.52, 0.40], 1000, False),    # a dip, not a collapse
    ([1.0, 0.5], 4, False),              # 2 of 4 validation images: noise
    ([0.9, 0.6], 100, True),
])
def test_collapse_rule(accs, images, warned):
    watch = DivergenceWatch(10, 0.1)
    messages = [watch.validation(a, e, images, 0.1) for e, a in enumerate(accs, 1)]
    assert (messages[-1] is not None) == warned and all(m is None for m in messages[:-1])


def test_an_exploding_loss_is_warned_once():
    watch = DivergenceWatch(10, 100.0)
    assert watch.loss(2.0, "step 1", 100.0) is None
    first = watch.loss(1e150, "step 2", 100.0)
    assert first and "rose to 1e+150" in first and "try --lr 10" in first
    assert watch.loss(float("nan"), "step 3", 100.0) is None  # once per run


def test_scratch_train_warns_when_the_loss_explodes(capsys):
    code, out, err = run_cli(["scratch", "train", "--dataset", "digits", "--samples", "200", "--test-samples", "50",
                              "--epochs", "1", "--lr", "100"], capsys)
    assert code == 0
    assert "warning: the training loss rose to" in err and "try --lr 10" in err
    assert len(out.split("loss ")[2].split()[0]) < 12  # the epoch line prints e.g. 4.6e+40, not 41 digits
