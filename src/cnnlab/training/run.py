"""A new run's folder: its name, its model summary and the environment it ran in (env.json)."""
from __future__ import annotations

import copy
import importlib.metadata
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.hardware import cpu_info
from cnnlab.inspect import summary
from cnnlab.runs import RunDir
from cnnlab.training.config import TrainConfig


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


def write_summary(run: RunDir, model: nn.Module, input_size: tuple[int, int, int]) -> None:
    """summary.txt/.json via cnnlab.summary; a failing summary never stops training."""
    if not run.writer:
        return
    try:
        with torch.random.fork_rng(devices=[]):  # the summary must not shift the run's random stream
            info = summary(copy.deepcopy(model).cpu().eval(), input_size)
        run.write_text("summary.txt", str(info) + "\n")
        run.write_json("summary.json", info.to_dict())
    except Exception as err:  # noqa: BLE001 - optional output, the reason is recorded instead
        params = sum(p.numel() for p in model.parameters())
        run.write_text("summary.txt", f"{type(model).__name__}: {params:,} parameters\n(summary unavailable: {err})\n")


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
