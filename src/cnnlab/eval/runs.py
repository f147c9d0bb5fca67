"""Reading run folders (see docs/design.md): where things are, and the small files in them."""
from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.errors import CheckpointError, ConfigError

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")


@dataclass(frozen=True)
class RunPaths:
    """A run folder (``None`` for a lone checkpoint file) and the checkpoint to load, if any."""

    run_dir: Path | None
    checkpoint: Path | None


def resolve_run(path: str | Path, *, which: str = "best") -> RunPaths:
    """Find the run folder and checkpoint named by ``path`` (a run folder, a folder of runs, or a .pt file).

    A run folder without ``checkpoints/<which>.pt`` falls back to ``last.pt``; a feature run
    (kind "features") has no checkpoint at all.
    """
    from cnnlab.training.checkpoint import CHECKPOINT_NAMES, run_checkpoint  # here: this module stays free of torch

    if which not in CHECKPOINT_NAMES:
        raise ConfigError(f"unknown checkpoint {which!r}: choose --which {' or '.join(sorted(CHECKPOINT_NAMES))}")
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"no run or checkpoint at {path}: pass a run folder written by `cnnlab train` or a .pt file")
    if path.is_dir():
        path = pick_run(path)
    if path.is_file():
        if path.suffix not in CHECKPOINT_SUFFIXES:
            raise CheckpointError(f"{path} is not a checkpoint (.pt): pass a run folder or a checkpoint file")
        parent = path.parent.parent if path.parent.name == "checkpoints" else path.parent
        return RunPaths(parent if (parent / "meta.json").exists() else None, path)
    return RunPaths(path, run_checkpoint(path, which, "best", "last"))


RUN_DEPTHS = ("*/meta.json", "*/*/meta.json")  # runs inside a folder: runs/<run>, runs/<group>/<run>


def find_runs(parent: Path) -> list[Path]:
    """The run folders in ``parent`` (itself, or one or two levels down), oldest first by start time."""
    metas = [parent / "meta.json"] if (parent / "meta.json").is_file() else []
    metas += [m for pattern in RUN_DEPTHS for m in parent.glob(pattern) if m.is_file()]
    return [m.parent for m in sorted(set(metas), key=lambda m: (m.stat().st_mtime, str(m)))]


def pick_run(path: Path) -> Path:
    """``path`` when it is a run folder; else the one run inside it, or its latest with a note on stderr."""
    if (path / "meta.json").is_file():
        return path
    runs = find_runs(path)
    if not runs:
        raise CheckpointError(f"{path} is not a run folder (no meta.json) and holds no run folders: pass the folder "
                              "`cnnlab train` wrote, e.g. runs/NAME (`cnnlab runs` lists them)")
    if len(runs) > 1:
        print(f"note: {path} holds {len(runs)} runs; using the latest, {runs[-1]} (`cnnlab runs {path}` lists them)",
              file=sys.stderr)
    return runs[-1]


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


RUN_STATES = ("completed", "interrupted", "no checkpoint")


@dataclass(frozen=True)
class RunState:
    """What `cnnlab runs` lists about one run folder, read from its small files only.

    ``state``: "completed" (results.json written), "interrupted" (a checkpoint but no results: stopped,
    crashed, or still training), "no checkpoint" (stopped before its first checkpoint).
    ``epochs_done`` may be fractional (from steps.csv); ``eval_split`` says which split ``eval_acc`` is of.
    """

    path: Path
    kind: str
    model: str
    dataset: str
    state: str
    epochs_done: float | None
    epochs: float | None
    best_val_acc: float | None
    eval_acc: float | None
    eval_split: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "path": str(self.path), "name": self.path.name}


def run_state(run_dir: Path) -> RunState:
    """The state of a run folder: completed, interrupted or no checkpoint; epochs done of planned; accuracies."""
    import yaml

    meta, results = read_json(run_dir / "meta.json"), read_json(run_dir / "results.json")
    config = yaml.safe_load(read_text(run_dir / "config.yaml") or "") or {}
    epochs, steps = read_metrics(run_dir), read_metrics(run_dir, "steps.csv")
    best_val = results.get("best_val_acc", results.get("val_acc"))
    if results and results.get("status", "completed") == "completed":  # results.json is written at the end
        state, done = "completed", results.get("epochs")
    else:
        has_checkpoint = any((run_dir / "checkpoints" / f"{n}.pt").is_file() for n in ("last", "best"))
        state = "interrupted" if has_checkpoint else "no checkpoint"
        # steps.csv's epoch is fractional; metrics.csv's counts a partial last epoch as whole
        done = (steps or epochs or [{}])[-1].get("epoch")
        best_val = max((r["val_acc"] for r in epochs if r.get("val_acc") is not None), default=None)
    evaluated = results.get("eval_split") or ("test" if results.get("test_acc") is not None else None)
    model = str(meta.get("model") or meta.get("method") or "")
    planned = config.get("epochs") if isinstance(config, dict) else None
    return RunState(run_dir, meta.get("kind", "cnn"), model, str(meta.get("dataset", "")), state, done, planned, best_val,
                    results.get("eval_acc", results.get("test_acc")), evaluated)
