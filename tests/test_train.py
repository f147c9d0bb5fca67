"""Training engine: run folder, config, optimizers/schedules, checkpoints, NaN handling, load_model.

Tiny runs on scikit-learn's 8x8 digits (offline), one CPU thread, so the file takes seconds.
"""
from __future__ import annotations

import csv
import json
import math
import os

import pytest
import torch
import yaml
from torch import nn

import cnnlab
from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.models import create_model
from cnnlab.training import TrainConfig, TrainingDiverged, load_model, read_checkpoint, train
from cnnlab.runs import load_weights, save_checkpoint
from cnnlab.training.config import load_yaml, merge, resolve_config, save_yaml
from cnnlab.training.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler, total_steps
from train_support import misbehaving_models  # noqa: F401  (a fixture)


TINY = dict(data="digits", batch_size=64, threads=1, report=False, quiet=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One short finished run shared by the run-folder tests (fastnet_small, 3 epochs, EMA off)."""
    out = tmp_path_factory.mktemp("runs")
    return cnnlab.train("fastnet_small", epochs=3, lr=0.1, out=str(out), name="tiny", **TINY)  # the public entry


# --- the run folder ------------------------------------------------------------------------------

def test_short_run_writes_every_run_folder_file(finished):
    run = finished.run_dir
    assert finished.status == "completed"
    for name in ("config.yaml", "meta.json", "env.json", "metrics.csv", "results.json", "summary.txt",
                 "checkpoints/best.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    if _has_tensorboard():
        assert any((run / "events").iterdir())
    assert not list((run / "checkpoints").glob(".*.tmp"))

    meta = json.loads((run / "meta.json").read_text())
    assert meta["kind"] == "cnn" and meta["model"] == "fastnet_small" and meta["num_classes"] == 10
    assert meta["in_channels"] == 1 and meta["input_size"] == [8, 8] and len(meta["mean"]) == 1
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert list(rows[0]) == ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                             "epoch_time_s", "images_per_s"]
    assert int(rows[-1]["step"]) == 3 * (1293 // 64)
    results = json.loads((run / "results.json").read_text())
    assert results["test_acc"] == finished.results["test_acc"]
    # metrics.csv keeps 6 significant digits
    assert f'{results["best_val_acc"]:.6g}' == max((r["val_acc"] for r in rows), key=float)
    assert results["test_acc"] > 0.8  # a 3-epoch floor: digits is easy, chance is 0.1
    env = json.loads((run / "env.json").read_text())
    assert env["torch"] == torch.__version__ and env["torch_threads"] == 1


def _has_tensorboard() -> bool:
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def test_config_yaml_reruns_the_same_settings(finished):
    saved = load_yaml(finished.run_dir / "config.yaml")
    cfg = resolve_config(config=finished.run_dir / "config.yaml")
    assert cfg.model == "fastnet_small" and cfg.epochs == 3 and cfg.lr == 0.1 and cfg.threads == 1
    assert "run_dir" not in saved  # re-running must not write into the old folder


def test_load_model_gives_the_logits_of_the_end_of_training(finished):
    loaded = load_model(finished.run_dir)
    assert not loaded.model.training and loaded.path.name == "best.pt"
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(x), finished.model(x), rtol=0, atol=0)
    # best == last here only if the last epoch was best; last.pt always holds the final weights
    last = read_checkpoint(finished.run_dir / "checkpoints" / "last.pt")
    ref = create_model("fastnet_small", num_classes=10, in_channels=1, input_size=(8, 8))
    ref.load_state_dict(last["model"])
    with torch.no_grad():
        torch.testing.assert_close(load_model(finished.run_dir, which="last").model(x), ref.eval()(x), rtol=0, atol=0)


def test_checkpoint_loads_with_weights_only_and_holds_the_training_state(finished):
    state = torch.load(finished.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert {"format_version", "meta", "config", "model", "optimizer", "scheduler", "ema", "rng", "epoch", "step",
            "best_val_acc"} <= set(state)
    assert state["epoch"] == 3 and state["batch"] == 0 and state["step"] == 3 * (1293 // 64)
    assert set(state["rng"]) >= {"python", "numpy", "torch"}


# --- config -----------------------------------------------------------------------------------------

def test_config_yaml_round_trip_and_flags_override_the_file(tmp_path):
    cfg = TrainConfig(model="linear", lr=0.03, hflip=True, betas=[0.8, 0.9], model_kwargs={"drop_rate": 0.1})
    path = tmp_path / "c.yaml"
    path.write_text(save_yaml(cfg))
    assert resolve_config(config=path) == cfg
    over = resolve_config("fastnet", config=path, overrides={"lr": 0.5, "batch-size": 32})
    assert (over.model, over.lr, over.batch_size, over.hflip) == ("fastnet", 0.5, 32, True)


def test_recipe_then_config_then_flags(tmp_path):
    demo = resolve_config(recipe="demo")
    assert demo.data == "fashion-mnist" and demo.batch_size == 256
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 1\nlr: 0.01\n")
    cfg = resolve_config(recipe="demo", config=path, overrides={"lr": 0.02})
    assert (cfg.epochs, cfg.lr, cfg.model) == (1, 0.02, demo.model)


@pytest.mark.parametrize("bad, match", [({"lrr": 0.1}, "Did you mean lr"), ({"epochs": "ten"}, "must be int"),
                                        ({"epochs": 0}, r"epochs=0 is out of range: it must be > 0"),
                                        ({"epochs": -0.5}, "epochs"), ({"hflip": 1}, "must be bool"),
                                        ({"val_fraction": 1.0}, r"val_fraction=1.0 is out of range: it must be in \[0, 1\)"),
                                        ({"epochs": 2, "warmup_epochs": 3}, r"warmup_epochs=3.0 is out of range: it must be in \[0, epochs = 2\]"),
                                        ({"channels_last": "maybe"}, "it must be true, false or auto"),
                                        ({"tta": "mirror"}, "choose one of: none, flip, translate, grid"),
                                        ({"alternate_flip": True}, "--alternate-flip works on top of --hflip")])
def test_bad_settings_are_config_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        merge(TrainConfig(), bad)


def test_unknown_names_fail_before_loading_data():
    with pytest.raises(ConfigError, match="unknown optimizer 'sgdd'"):
        train("linear", "no-such-dataset", optimizer="sgdd")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        train("linear", "digits", precision="fp16", device="cpu")


# --- optimizers and schedules -----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_builds_and_steps(name):
    torch.manual_seed(0)
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 3))
    opt = build_optimizer(model, TrainConfig(optimizer=name, lr=0.01, weight_decay=0.1))
    assert type(opt) is OPTIMIZERS[name][0]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]  # no decay on biases / BN
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.randn(8, 4)).square().mean().backward()
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _lrs(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    opt = build_optimizer(nn.Linear(2, 2), cfg)
    sched = build_scheduler(opt, cfg, steps_per_epoch)
    lrs = []
    for _ in range(total_steps(cfg.epochs, steps_per_epoch)):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_schedule_builds_and_steps(name):
    lrs = _lrs(TrainConfig(schedule=name, lr=0.4, epochs=4, warmup_epochs=1, step_epochs=2, step_gamma=0.1), 10)
    assert len(lrs) == 40 and all(math.isfinite(v) and v >= 0 for v in lrs)
    assert max(lrs) == pytest.approx(0.4)
    assert lrs[0] < 0.4 / 5  # every schedule starts with the warm-up


def test_schedules_match_their_formulas():
    total, warm, peak = 40, 10, 0.4
    cos = _lrs(TrainConfig(schedule="cosine", lr=peak, epochs=4, warmup_epochs=1), 10)
    for t in range(warm, total):
        assert cos[t] == pytest.approx(peak * 0.5 * (1 + math.cos(math.pi * (t - warm) / (total - warm))), rel=1e-6)
    for t in range(warm):
        assert cos[t] == pytest.approx(peak * (1 / (warm + 1) + t * (1 - 1 / (warm + 1)) / warm), rel=1e-6)
    step = _lrs(TrainConfig(schedule="step", lr=peak, epochs=4, step_epochs=1, step_gamma=0.5), 10)
    assert step == pytest.approx([peak * 0.5 ** (t // 10) for t in range(total)])
    one = _lrs(TrainConfig(schedule="onecycle", lr=peak, epochs=4), 10)
    assert one.index(max(one)) == round(0.25 * total) - 1 and one[0] == pytest.approx(peak / 25)
    assert one[-1] < peak / 1000
    assert _lrs(TrainConfig(schedule="constant", lr=peak, epochs=1), 10) == pytest.approx([peak] * 10)
    half = _lrs(TrainConfig(schedule="onecycle", lr=peak, epochs=1.5), 10)  # the schedule spans 15 steps
    assert len(half) == 15 and half.index(max(half)) == round(0.25 * 15) - 1 and half[-1] < peak / 100


def test_fractional_epochs_stop_mid_epoch_after_the_whole_schedule(tmp_path):
    """epochs=1.5: a full epoch, then half of the next, validated and checkpointed; the schedule ends there."""
    result = train("fastnet_small", epochs=1.5, lr=0.05, run_dir=str(tmp_path / "r"), **TINY)
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    per_epoch = int(rows[0]["step"])
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert int(rows[1]["step"]) == result.results["steps"] == round(1.5 * per_epoch)
    assert float(rows[1]["lr"]) < 0.05 / 100              # the one-cycle decay reached its end
    assert read_checkpoint(result.run_dir / "checkpoints" / "last.pt")["step"] == round(1.5 * per_epoch)
    assert result.results["epochs"] == 1.5


# --- checkpoints ------------------------------------------------------------------------------------

def test_failing_replace_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"step": 1, "w": torch.ones(3)}, path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_checkpoint_of_another_class_count_or_architecture_is_refused(finished):
    state = read_checkpoint(finished.run_dir / "checkpoints" / "best.pt")["model"]
    five = create_model("fastnet_small", num_classes=5, in_channels=1, input_size=(8, 8))
    with pytest.raises(CheckpointError, match=r"layer 'fc.weight' has shape \(10, 64\).*\(5, 64\)"):
        load_weights(five, state, "best.pt")
    other = create_model("linear", num_classes=10, in_channels=1, input_size=(8, 8))
    with pytest.raises(CheckpointError, match="another architecture"):
        load_weights(other, state, "best.pt")


def test_resume_with_another_model_is_refused(finished):
    with pytest.raises(ConfigError, match="cannot change model"):
        train("linear", resume=finished.run_dir)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_with_python_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "x": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(tmp_path / "empty.pt")
    save_checkpoint({"model": {"w": torch.ones(1000)}}, tmp_path / "good.pt")
    blob = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="cut.pt is corrupt or truncated"):
        read_checkpoint(tmp_path / "cut.pt")


# --- NaN, EMA -----------------------------------------------------------------------------------------

def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, misbehaving_models):
    steps_per_epoch = 1293 // 64
    nan_step = steps_per_epoch + 5  # in epoch 2, after epoch 1's checkpoint
    with pytest.raises(TrainingDiverged, match=rf"became nan at step {nan_step} .*epoch 2.*Lower the learning rate"):
        train("_test_nan_after", epochs=3, model_kwargs={"nan_at": nan_step}, run_dir=str(tmp_path / "r"), **TINY)
    last = read_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert last["epoch"] == 1 and last["step"] == steps_per_epoch
    assert all(torch.isfinite(t).all() for t in last["model"].values() if t.is_floating_point())


def test_nan_skip_mode_keeps_training(tmp_path, misbehaving_models):
    result = train("_test_nan_after", epochs=1, model_kwargs={"nan_at": 3}, on_nan="skip", run_dir=str(tmp_path / "r"),
                   **TINY)
    assert result.status == "completed"
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_ema_weights_are_evaluated_and_loaded(tmp_path):
    result = train("fastnet_small", epochs=1, ema_decay=0.9, run_dir=str(tmp_path / "r"), **TINY)
    assert "EMA" in result.results["evaluated"]
    state = read_checkpoint(tmp_path / "r" / "checkpoints" / "best.pt")
    raw = create_model("fastnet_small", num_classes=10, in_channels=1, input_size=(8, 8))
    raw.load_state_dict(state["model"])
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        ema_logits = load_model(tmp_path / "r").model(x)
        torch.testing.assert_close(ema_logits, result.model(x), rtol=0, atol=0)
        assert not torch.allclose(ema_logits, raw.eval()(x))
        torch.testing.assert_close(load_model(tmp_path / "r", ema=False).model(x), raw(x), rtol=0, atol=0)


def test_public_api_is_exported():
    import cnnlab.training.engine  # noqa: F401  (importing the subpackage must not hide the function)

    assert cnnlab.train is train and cnnlab.TrainConfig is TrainConfig and cnnlab.load_model is load_model
    assert yaml.safe_load(save_yaml(TrainConfig()))["model"] == "fastnet"


def test_resume_falls_back_to_best_when_last_is_truncated(finished, tmp_path, capsys):
    import shutil

    run = shutil.copytree(finished.run_dir, tmp_path / "copy")
    (run / "checkpoints" / "last.pt").write_bytes(b"")
    result = train(resume=run, quiet=True)
    assert result.status == "completed"
    out = capsys.readouterr().out
    assert "last.pt is empty" in out and "resuming from" in out and "best.pt" in out


def test_bf16_autocast_and_channels_last_train_on_cpu(tmp_path):
    result = train("fastnet_small", epochs=2, precision="bf16", channels_last=True, run_dir=str(tmp_path / "r"), **TINY)
    assert result.results["precision"] == "bf16" and result.results["test_acc"] > 0.5
    state = read_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert all(t.dtype == torch.float32 for t in state["model"].values() if t.is_floating_point())  # fp32 master weights


@pytest.mark.slow
def test_compiled_model_trains_and_saves_plain_weights(tmp_path):
    result = train("fastnet_small", epochs=1, compile=True, run_dir=str(tmp_path / "r"), **TINY)
    state = read_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt")
    assert not any(k.startswith("_orig_mod.") for k in state["model"])
    assert result.results["test_acc"] > 0.3


def test_cli_flags_reach_the_saved_config(tmp_path, capsys):
    from cnnlab.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--list-recipes"])
    assert exit_.value.code in (0, None) and "demo" in capsys.readouterr().out.split()
    run = tmp_path / "r"
    with pytest.raises(SystemExit) as exit_:
        main(["train", "fastnet_small", "--data", "digits", "--epochs", "1", "-b", "64", "--lr", "0.05", "--hflip",
              "--no-nesterov", "--lookahead", "--threads", "1", "--no-report", "-q", "--run-dir", str(run)])
    assert exit_.value.code in (0, None)
    saved = load_yaml(run / "config.yaml")
    assert (saved["lr"], saved["batch_size"], saved["hflip"], saved["nesterov"], saved["epochs"]) == (0.05, 64, True, False, 1)
    assert saved["lookahead"] is True
    assert type(saved["epochs"]) is int                    # --epochs takes 1.5, and keeps whole numbers whole
    assert saved["momentum"] == TrainConfig().momentum  # flags not given keep their defaults
    assert f"run folder: {run}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["train", "linear", "--data", "digits", "--schedule", "cosinus"])
    assert exit_.value.code == 2 and "unknown schedule 'cosinus'" in capsys.readouterr().err


def test_same_seed_in_deterministic_mode_gives_identical_metrics(tmp_path):
    threads = torch.get_num_threads()
    rows = []
    for name in ("a", "b"):
        train("fastnet_small", epochs=1, deterministic=True, crop_padding=1, run_dir=str(tmp_path / name), **TINY)
        with (tmp_path / name / "metrics.csv").open() as f:
            rows.append([{k: v for k, v in r.items() if k not in ("epoch_time_s", "images_per_s")} for r in csv.DictReader(f)])
    assert rows[0] == rows[1]
    assert torch.get_num_threads() == threads and not torch.are_deterministic_algorithms_enabled()  # restored


def test_model_kwargs_override_a_variants_defaults():
    model = create_model("fastnet", num_classes=10, in_channels=1, input_size=28, widths=(8, 16, 32))
    assert model.num_features == 32


def test_final_test_accuracy_is_what_eval_reproduces_after_bf16_training(tmp_path, monkeypatch):
    """Training in bf16 must not leave two different test accuracies for one run (results vs eval/report)."""
    from cnnlab.eval import evaluate

    monkeypatch.setenv("CNNLAB_CPU_BF16", "1")  # evaluate in bf16 as the run did, whatever this CPU is
    result = train("fastnet_small", epochs=1, precision="bf16", channels_last=True, run_dir=str(tmp_path / "r"), **TINY)
    assert evaluate(result.run_dir).metrics.accuracy == pytest.approx(result.results["test_acc"], abs=1e-9)


def test_image_size_resizes_the_training_images_and_eval_follows(tmp_path):
    """--image-size 32 trains the classic 32x32 LeNet-5 on 8x8 digits; the run records 32x32 and eval reuses it."""
    result = cnnlab.train("lenet5", image_size=32, epochs=1, lr=0.05, run_dir=str(tmp_path / "run"), **TINY)
    meta = json.loads((result.run_dir / "meta.json").read_text())
    assert meta["input_size"] == [32, 32]
    from cnnlab.eval.evaluate import evaluate as evaluate_run

    assert evaluate_run(result.run_dir).metrics.accuracy == pytest.approx(result.results["test_acc"])
    with pytest.raises(ConfigError, match="image_size"):
        TrainConfig(image_size=0)
