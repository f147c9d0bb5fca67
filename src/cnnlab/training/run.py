"""The run folder (docs/design.md): config, meta, environment, metrics, results, summary, events.

Only the writing process (rank 0 under torchrun) touches the disk: a RunDir made with
``writer=False`` accepts every call and writes nothing.
"""
from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.hardware import cpu_info
from cnnlab.files import atomic_write_text, remove_stale_temps
from cnnlab.training.config import TrainConfig, save_yaml

METRIC_COLUMNS = ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s"]
STEP_COLUMNS = ["step", "epoch", "train_loss", "lr"]  # steps.csv: epoch is fractional (step / steps per epoch)


def new_run_path(cfg: TrainConfig) -> Path:
    """``cfg.run_dir``, or ``out/NAME`` (NAME defaults to MODEL-DATA-TIMESTAMP; '-2', '-3'... if taken)."""
    if cfg.run_dir:
        path = Path(cfg.run_dir).expanduser()
        if path.exists() and any(path.iterdir()):
            raise ConfigError(f"run folder {path} already exists and is not empty: pass --resume {path} to continue it, or another --run-dir")
        return path
    base = cfg.name or f"{cfg.model}-{data_label(cfg.data)}-{time.strftime('%Y%m%d-%H%M%S')}"
    path = Path(cfg.out).expanduser() / base
    n = 2
    while path.exists():
        path, n = Path(cfg.out).expanduser() / f"{base}-{n}", n + 1
    return path


def data_label(data: str) -> str:
    """A dataset as a run name shows it: its name, or a folder dataset's base name (folder:~/pets/ -> pets,
    folder:~/dogs/labels.csv -> dogs)."""
    from cnnlab.data.specs import FOLDER_PREFIX

    if not data.startswith(FOLDER_PREFIX):
        return data
    folder = Path(data[len(FOLDER_PREFIX):]).expanduser().resolve()
    if folder.suffix.lower() == ".csv":
        folder = folder.parent
    return folder.name or "folder"


class RunDir:
    """Writes the small files of one run folder; checkpoints go to ``checkpoints/``."""

    def __init__(self, path: str | Path, *, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        self.checkpoints = self.path / "checkpoints"
        self._events: Any = None
        if writer:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.checkpoints)

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    # --- small files, each written atomically ---
    def write_text(self, name: str, text: str) -> None:
        if self.writer:
            atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def write_config(self, cfg: TrainConfig) -> None:
        self.write_text("config.yaml", save_yaml(cfg))

    def write_env(self, device: torch.device, world_size: int) -> None:
        self.write_json("env.json", environment(device, world_size))

    def write_summary(self, model: nn.Module, input_size: tuple[int, int, int]) -> None:
        """summary.txt/.json via cnnlab.summary; a failing summary never stops training."""
        if not self.writer:
            return
        try:
            import copy

            from cnnlab.inspect import summary

            with torch.random.fork_rng(devices=[]):  # the summary must not shift the run's random stream
                info = summary(copy.deepcopy(model).cpu().eval(), input_size)
            self.write_text("summary.txt", str(info) + "\n")
            self.write_json("summary.json", info.to_dict())
        except Exception as err:  # noqa: BLE001 - optional output, the reason is recorded instead
            params = sum(p.numel() for p in model.parameters())
            self.write_text("summary.txt", f"{type(model).__name__}: {params:,} parameters\n(summary unavailable: {err})\n")

    # --- metrics: CSV (metrics.csv one row per epoch, steps.csv every few steps) + TensorBoard when installed ---
    def append_metrics(self, row: Mapping[str, Any]) -> None:
        if not self.writer:
            return
        self._append_row("metrics.csv", METRIC_COLUMNS, row)
        events = self.events()
        if events is not None:
            for key in METRIC_COLUMNS[2:]:
                if row.get(key) is not None:
                    events.add_scalar(key.replace("_", "/", 1) if key.startswith(("train", "val")) else key, row[key], row["epoch"])
            events.flush()

    def append_step(self, row: Mapping[str, Any]) -> None:
        """One steps.csv row (step, fractional epoch, mean training loss since the last row, lr); the
        same as TensorBoard scalars step/train_loss and step/lr over the optimizer step."""
        if not self.writer:
            return
        self._append_row("steps.csv", STEP_COLUMNS, row, sync=False)  # re-derivable: no fsync per row
        events = self.events()
        if events is not None:
            for key in STEP_COLUMNS[2:]:
                events.add_scalar(f"step/{key}", row[key], row["step"])

    def _append_row(self, name: str, columns: list[str], row: Mapping[str, Any], *, sync: bool = True) -> None:
        path = self.path / name
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, columns)
            if new:
                w.writeheader()
            w.writerow({k: _fmt(row.get(k)) for k in columns})
            if sync:
                f.flush()
                os.fsync(f.fileno())

    def keep_metrics_until(self, epoch: int, step: int) -> None:
        """On resume: drop rows written after the checkpoint was saved (of later epochs, or steps)."""
        self._keep_rows("metrics.csv", METRIC_COLUMNS, lambda r: int(r["epoch"]) <= epoch)
        self._keep_rows("steps.csv", STEP_COLUMNS, lambda r: int(r["step"]) <= step)

    def _keep_rows(self, name: str, columns: list[str], keep: Callable[[dict[str, str]], bool]) -> None:
        path = self.path / name
        if not self.writer or not path.exists():
            return
        with path.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if keep(r)]
        buf = io.StringIO()
        w = csv.DictWriter(buf, columns, lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
        atomic_write_text(path, buf.getvalue())

    def events(self) -> Any:
        """A TensorBoard SummaryWriter on ``events/``, or None when tensorboard is not installed."""
        if self._events is None and self.writer:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                self._events = False
            else:
                self._events = SummaryWriter(log_dir=str(self.path / "events"))
        return self._events or None

    def close(self) -> None:
        if self._events:
            self._events.close()
        self._events = None


def _fmt(v: Any) -> Any:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else v


def environment(device: torch.device, world_size: int = 1) -> dict[str, Any]:
    """Versions, device, threads and host: what is needed to interpret a run's speed and numbers."""
    import numpy

    import cnnlab

    env: dict[str, Any] = {
        "cnnlab": cnnlab.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "host": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "world_size": world_size,
        "command": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:  # the installed version, without importing torchvision (over a second on a small CPU)
        env["torchvision"] = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        pass
    env["cpu"] = cpu_info().to_dict()                       # model, flags of interest, native bf16 or not
    if device.type == "cuda":
        env["cuda"] = torch.version.cuda
        env["gpu"] = torch.cuda.get_device_name(device)
    return env
