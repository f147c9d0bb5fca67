"""Reading run folders (see docs/DESIGN.md): where things are, and the small files in them."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.errors import CheckpointError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")


@dataclass(frozen=True)
class RunPaths:
    """A run folder (``None`` for a lone checkpoint file) and the checkpoint to load, if any."""

    run_dir: Path | None
    checkpoint: Path | None


def resolve_run(path: str | Path, *, which: str = "best") -> RunPaths:
    """Find the run folder and checkpoint named by ``path`` (a run folder or a .pt file).

    A run folder without ``checkpoints/<which>.pt`` falls back to ``last.pt``; a feature run
    (kind "features") has no checkpoint at all.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"no run or checkpoint at {path}: pass a run folder written by `cnnlab train` or a .pt file")
    if path.is_file():
        if path.suffix not in CHECKPOINT_SUFFIXES:
            raise CheckpointError(f"{path} is not a checkpoint (.pt): pass a run folder or a checkpoint file")
        parent = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return RunPaths(parent if (parent / "meta.json").exists() else None, path)
    if not (path / "meta.json").exists():
        raise CheckpointError(f"{path} is not a run folder (no meta.json): pass the folder `cnnlab train` wrote")
    from cnnlab.training.checkpoint import run_checkpoint  # here: this module stays free of torch

    return RunPaths(path, run_checkpoint(path, which, "best", "last"))


def require_checkpoint(paths: RunPaths, original: str | Path) -> Path:
    """The checkpoint of ``paths``, or a CheckpointError saying why there is none."""
    if paths.checkpoint is not None:
        return paths.checkpoint
    kind = read_json(paths.run_dir / "meta.json").get("kind") if paths.run_dir else None
    if kind == "features":
        raise CheckpointError(f"{original} is a feature run (no network to load): use `cnnlab compare` or its results.json")
    raise CheckpointError(
        f"{original} has no checkpoint (checkpoints/best.pt or last.pt): the training did not finish an epoch; re-run it"
    )


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict, or {} when it does not exist."""
    return json.loads(path.read_text()) if path.exists() else {}


def read_text(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


SHORT_RUN_EPOCHS = 3  # runs of fewer epochs have their curves drawn from steps.csv


def read_metrics(run_dir: Path, name: str = "metrics.csv") -> list[dict[str, float]]:
    """metrics.csv (one dict per epoch) or another CSV of the run (steps.csv), numbers parsed; [] when absent."""
    path = run_dir / name
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: _number(v) for k, v in row.items() if k} for row in csv.DictReader(f)]


def curve_rows(run_dir: Path) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """What the learning curves are drawn from: metrics.csv rows, and the steps.csv rows when the run
    has fewer than SHORT_RUN_EPOCHS epochs (else [], one point per epoch is curve enough)."""
    rows = read_metrics(run_dir)
    return rows, read_metrics(run_dir, "steps.csv") if len(rows) < SHORT_RUN_EPOCHS else []


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def run_name(run_dir: Path) -> str:
    return run_dir.resolve().name
