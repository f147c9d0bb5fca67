"""Helpers for the viz and explorer tests: a tiny CNN, run folders holding it, test images."""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image
from torch import nn

DIGIT_CLASSES = [str(i) for i in range(10)]


class TinyCNN(nn.Module):
    """conv1 -> ReLU -> pool -> conv2 -> ReLU -> global average -> fc (two conv layers)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.relu(self.conv2(x)).mean((2, 3))
        return self.fc(x)


def tiny_cnn(in_channels: int = 1, num_classes: int = 10, seed: int = 0) -> TinyCNN:
    torch.manual_seed(seed)
    return TinyCNN(in_channels, num_classes).eval()


def digits_meta(in_channels: int = 1, size: int = 8) -> dict[str, Any]:
    return {
        "kind": "cnn", "model": "tiny_cnn", "model_kwargs": {}, "num_classes": 10, "in_channels": in_channels,
        "input_size": [size, size], "classes": DIGIT_CLASSES, "dataset": "digits",
        "mean": [0.3] * in_channels, "std": [0.4] * in_channels,
    }


def write_run(folder: Path, *, meta: dict[str, Any] | None = None, seed: int = 0, figures: bool = True,
              checkpoint: bool = True) -> Path:
    """A run folder per docs/design.md holding a TinyCNN checkpoint (no training)."""
    meta = meta or digits_meta()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "results.json").write_text(json.dumps({"test_acc": 0.9, "best_val_acc": 0.91}))
    with (folder / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s"])
        for e in range(1, 4):
            w.writerow([e, 10 * e, 1.0 / e, 0.6 + 0.1 * e, 1.1 / e, 0.55 + 0.1 * e, 0.01, 1.0, 100.0])
    if checkpoint:
        model = tiny_cnn(meta["in_channels"], meta["num_classes"], seed)
        (folder / "checkpoints").mkdir(exist_ok=True)
        torch.save({"format_version": 1, "meta": meta, "model": model.state_dict()}, folder / "checkpoints" / "best.pt")
    if figures:
        (folder / "figures").mkdir(exist_ok=True)
        Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "figures" / "confusion_matrix.png")
    return folder


def tiny_loader(checkpoint: Path, device: str) -> SimpleNamespace:
    """What `cnnlab.load_model` returns, for TinyCNN checkpoints."""
    state = torch.load(checkpoint, weights_only=True)
    meta = state["meta"]
    model = TinyCNN(meta["in_channels"], meta["num_classes"])
    model.load_state_dict(state["model"])
    return SimpleNamespace(model=model.to(device).eval(), meta=meta, path=checkpoint)


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def digit_png(size: int = 64) -> bytes:
    """A white vertical bar on black (a "1"), gray PNG."""
    img = np.zeros((size, size), np.uint8)
    img[size // 8 : -size // 8, size // 2 - size // 10 : size // 2 + size // 10] = 255
    return png(img)


def write_zoo_run(folder: Path, model: str = "fastnet_small", *, seed: int = 0, classes: list[str] | None = None) -> Path:
    """A run folder holding an untrained zoo model, loadable by `cnnlab.load_model` (no training)."""
    from cnnlab.models import create_model
    from cnnlab.runs import save_checkpoint

    meta = {**digits_meta(), "model": model, **({"classes": classes} if classes else {})}
    write_run(folder, meta=meta, checkpoint=False, figures=False)
    torch.manual_seed(seed)
    net = create_model(model, num_classes=10, in_channels=1, input_size=(8, 8))
    save_checkpoint({"format_version": 1, "meta": meta, "model": net.state_dict()}, folder / "checkpoints" / "best.pt")
    return folder


@contextlib.contextmanager
def app_server(runs: Path, *extra_args: str, log_path: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    """`python -m cnnlab app RUNS --port P ...` in a subprocess on 127.0.0.1; yields (port, process)
    once it accepts connections, and stops it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with log_path.open("w+") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cnnlab", "app", str(runs), "--port", str(port), *extra_args],
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError(f"`cnnlab app` did not start:\n{log.read()}") from None
                    time.sleep(0.2)
            yield port, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
