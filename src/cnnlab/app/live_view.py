"""A run's training as it happens: status, per-step curves, the first layer's filters and the
prediction on the user's image, from the files `cnnlab.training.live` and the engine write.

Curves: the loss and learning rate of steps.csv (written row by row during training), the running
training accuracy of live.json's history, validation accuracy per epoch. The weights are the run's
latest live snapshot while it runs (the catalog reloads them when the file changes).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cnnlab.app import analysis
from cnnlab.app.catalog import LoadedRun, Run
from cnnlab.runs import RunDir, run_status
from cnnlab.training.live import read_live
from cnnlab.inspect.conv_layers import conv_layers

TOP_K = 5  # as the sidebar's prediction, which follows a running run


def _pairs(rows: list[dict[str, Any]], x: str, y: str) -> list[list[float]]:
    return [[float(r[x]), float(r[y])] for r in rows if r.get(x) is not None and r.get(y) is not None]


def curves(run: Run) -> dict[str, list[list[float]]]:
    """[step, value] points of each curve."""
    live = read_live(run.path) or {}
    history = live.get("history") or {}
    folder = RunDir(run.path, writer=False)
    steps, epochs = folder.read_metrics("steps.csv"), folder.read_metrics()
    loss = _pairs(steps, "step", "train_loss") or [list(p) for p in zip(history.get("step", []), history.get("loss", []))]
    lr = _pairs(steps, "step", "lr") or [list(p) for p in zip(history.get("step", []), history.get("lr", []))]
    acc = [list(p) for p in zip(history.get("step", []), history.get("train_acc", []))] or _pairs(epochs, "step", "train_acc")
    return {"loss": loss, "lr": lr, "train_acc": acc, "val_acc": _pairs(epochs, "step", "val_acc")}


def live_view(run: Run, loaded: LoadedRun | None, x: torch.Tensor | None) -> dict[str, Any]:
    live = read_live(run.path) or {}
    answer: dict[str, Any] = {
        "status": run_status(run.path), "step": live.get("step"), "total_steps": live.get("total_steps"),
        "snapshot_step": live.get("snapshot_step"), "weights": run.checkpoint.name, "curves": curves(run),
        "filters": None, "top": [],
    }
    if loaded is None:
        return answer
    if conv_layers(loaded.model):
        answer["filters"] = analysis.filters(loaded, None)
    if x is not None:
        with loaded.lock, torch.no_grad():
            probs = torch.softmax(loaded.model(x), 1)[0].cpu().numpy()
        classes = [str(c) for c in loaded.meta["classes"]]
        answer["top"] = [{"class": classes[i], "prob": float(probs[i])} for i in np.argsort(-probs, kind="stable")[:TOP_K]]
    return answer
