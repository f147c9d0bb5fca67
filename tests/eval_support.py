"""Helpers for the eval tests: a run folder as docs/design.md describes it, built without training."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cnnlab.eval.evaluate import EvalResult, evaluate_model

CLASSES = ["zero", "one", "two", "three"]
MEAN, STD = [0.5, 0.45, 0.4], [0.25, 0.2, 0.22]


def tiny_model(in_channels: int = 3, size: tuple[int, int] = (12, 10), classes: int = len(CLASSES)) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_channels * size[0] * size[1], classes)).eval()


def write_fake_run(run: Path, *, kind: str = "cnn", epochs: int = 4, model: str = "linear") -> Path:
    """meta.json, metrics.csv, results.json, config.yaml, env.json and summary.txt (no checkpoint)."""
    run.mkdir(parents=True, exist_ok=True)
    meta = {"kind": kind, "model": model, "model_kwargs": {}, "num_classes": len(CLASSES), "in_channels": 3,
            "input_size": [12, 10], "classes": CLASSES, "dataset": "fake", "mean": MEAN, "std": STD}
    (run / "meta.json").write_text(json.dumps(meta))
    if epochs:
        with (run / "metrics.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s"])
            for e in range(1, epochs + 1):
                w.writerow([e, 10 * e, 1.5 / e, 0.5 + 0.1 * e, 1.6 / e, 0.45 + 0.1 * e, 0.1 / e, 1.0, 100.0])
    (run / "results.json").write_text(json.dumps({"test_acc": 0.8125, "best_val_acc": 0.85, "params": 1234, "train_time_s": 12.5}))
    (run / "config.yaml").write_text(f"model: {model}\ndataset: fake\nepochs: {epochs}\nlr: 0.1\n")
    (run / "env.json").write_text(json.dumps({"python": "3.11", "torch": torch.__version__, "device": "cpu", "threads": {"intra": 2}}))
    (run / "summary.txt").write_text("layer        output       params\nLinear-1     [1, 4]       484\nTOTAL_PARAMS_MARK 484\n")
    return run


def fake_evaluation(n: int = 64, *, gallery: int = 16) -> EvalResult:
    """An EvalResult of the tiny model on random images, with mistakes to show."""
    model = tiny_model()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(n, 3, 12, 10, generator=g) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    y = torch.randint(0, len(CLASSES), (n,), generator=g)
    batches = [(x[i : i + 20], y[i : i + 20]) for i in range(0, n, 20)]
    return evaluate_model(model, batches, CLASSES, mean=MEAN, std=STD, gallery=gallery, dataset="fake",
                          checkpoint="fake.pt")


def run_cli(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """Run the `cnnlab` entry point in-process: (exit code, stdout, stderr)."""
    from cnnlab.cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, err
