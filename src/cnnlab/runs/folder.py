"""The run folder (docs/design.md): where each file of a run lives, reading and writing them, and
finding the run or checkpoint a command was given.

    RUN/config.yaml meta.json env.json summary.txt summary.json   written at the start
    RUN/metrics.csv steps.csv events/ live.json                   while training
    RUN/checkpoints/best.pt last.pt                                at epoch ends (and on a stop)
    RUN/results.json report.html figures/                          at the end

Only the writing process (rank 0 under torchrun) touches the disk: a RunDir made with
``writer=False`` accepts every write and writes nothing.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.files import atomic_write_text, remove_stale_temps

CHECKPOINT_NAMES = ("best", "last")                   # RUN/checkpoints/<name>.pt
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
RUN_DEPTHS = ("*/meta.json", "*/*/meta.json")         # runs inside a folder: runs/<run>, runs/<group>/<run>
METRIC_COLUMNS = ["epoch", "step", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s"]
STEP_COLUMNS = ["step", "epoch", "train_loss", "lr"]  # steps.csv: epoch is fractional (step / steps per epoch)


class RunDir:
    """One run folder: the path of each of its files, and reading and writing them."""

    def __init__(self, path: str | Path, *, writer: bool = True) -> None:
        self.path = Path(path)
        self.writer = writer
        self.checkpoints = self.path / "checkpoints"
        self._events: Any = None

    @classmethod
    def of_checkpoint(cls, checkpoint: str | Path) -> "RunDir | None":
        """The run a checkpoint file belongs to (RUN/checkpoints/NAME.pt, or a file beside meta.json), if any."""
        checkpoint = Path(checkpoint)
        folder = checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent
        return cls(folder, writer=False) if is_run_folder(folder) else None

    @property
    def name(self) -> str:
        return self.path.resolve().name

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints / f"{name}.pt"

    def find_checkpoint(self, which: str = "best") -> Path | None:
        """``checkpoints/<which>.pt``, else the other one, else None (a feature run or a run stopped early)."""
        if which not in CHECKPOINT_NAMES:
            raise ConfigError(f"unknown checkpoint {which!r}: choose --which {' or '.join(CHECKPOINT_NAMES)}")
        for name in (which, *CHECKPOINT_NAMES):
            if self.checkpoint(name).is_file():
                return self.checkpoint(name)
        return None

    # --- reading ---
    def read_json(self, name: str) -> dict[str, Any]:
        return read_json(self.path / name)

    def read_text(self, name: str) -> str | None:
        return read_text(self.path / name)

    def meta(self) -> dict[str, Any]:
        return self.read_json("meta.json")

    def results(self) -> dict[str, Any]:
        return self.read_json("results.json")

    def config(self) -> dict[str, Any]:
        """config.yaml as a dict ({} when absent)."""
        import yaml

        data = yaml.safe_load(self.read_text("config.yaml") or "")
        return data if isinstance(data, dict) else {}

    def read_metrics(self, name: str = "metrics.csv") -> list[dict[str, float | None]]:
        """metrics.csv (one dict per epoch) or steps.csv, numbers parsed; [] when absent."""
        path = self.path / name
        if not path.exists():
            return []
        with path.open(newline="") as f:
            return [{k: _number(v) for k, v in row.items() if k} for row in csv.DictReader(f)]

    # --- writing: small files, each atomically ---
    def prepare(self) -> None:
        """Make checkpoints/ and drop the temp files a killed writer left behind."""
        if self.writer:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.checkpoints)

    def write_text(self, name: str, text: str) -> None:
        if self.writer:
            atomic_write_text(self.path / name, text)

    def write_json(self, name: str, data: Mapping[str, Any]) -> None:
        self.write_text(name, json.dumps(data, indent=2, default=str) + "\n")

    def write_config(self, config: Mapping[str, Any]) -> None:
        import yaml

        self.write_text("config.yaml", yaml.safe_dump(dict(config), sort_keys=False))

    def remove(self, name: str) -> None:
        if self.writer:
            (self.path / name).unlink(missing_ok=True)

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
        path.parent.mkdir(parents=True, exist_ok=True)
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


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON file as a dict, or {} when it does not exist."""
    return json.loads(path.read_text()) if path.exists() else {}


def read_text(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


# --- from what a user typed to a run and a checkpoint --------------------------------------------

def is_run_folder(path: Path) -> bool:
    return (path / "meta.json").is_file() or (path / "checkpoints").is_dir()


def find_runs(parent: Path) -> list[Path]:
    """The run folders in ``parent`` (itself, or one or two levels down), oldest first by start time."""
    metas = [parent / "meta.json"] if (parent / "meta.json").is_file() else []
    metas += [m for pattern in RUN_DEPTHS for m in parent.glob(pattern) if m.is_file()]
    return [m.parent for m in sorted(set(metas), key=lambda m: (m.stat().st_mtime, str(m)))]


def pick_run(path: Path) -> Path:
    """``path`` when it is a run folder; else the one run inside it, or its latest with a note on stderr."""
    if is_run_folder(path):
        return path
    runs = find_runs(path)
    if not runs:
        raise CheckpointError(f"{path} is not a run folder (no meta.json) and holds no run folders: pass the folder "
                              "`cnnlab train` wrote, e.g. runs/NAME (`cnnlab runs` lists them)")
    if len(runs) > 1:
        print(f"note: {path} holds {len(runs)} runs; using the latest, {runs[-1]} (`cnnlab runs {path}` lists them)",
              file=sys.stderr)
    return runs[-1]


@dataclass(frozen=True)
class RunTarget:
    """What a path given to a command names: a run (None for a lone checkpoint file) and the checkpoint
    to load (None for a run without one, such as a feature run)."""

    run: RunDir | None
    checkpoint: Path | None
    given: Path                        # the path as the user gave it, for messages

    @property
    def run_dir(self) -> Path | None:
        return self.run.path if self.run is not None else None

    def require_checkpoint(self) -> Path:
        """The checkpoint, or a CheckpointError saying why there is none."""
        if self.checkpoint is not None:
            return self.checkpoint
        if self.run is not None and self.run.meta().get("kind") == "features":
            raise CheckpointError(f"{self.given} is a feature run (no network to load): use `cnnlab compare` or its results.json")
        raise CheckpointError(f"{self.given} has no checkpoint (checkpoints/best.pt or last.pt): the training did not "
                              "finish an epoch; re-run it")

    def require_run(self, command: str) -> RunDir:
        """The run folder, or a CheckpointError for a lone checkpoint file."""
        if self.run is None:
            raise CheckpointError(f"{self.given} is a lone checkpoint: `{command}` needs the run folder `cnnlab train` wrote")
        return self.run


def resolve_run(path: str | Path, *, which: str = "best") -> RunTarget:
    """The run and checkpoint named by ``path``: a run folder (its ``checkpoints/<which>.pt``, else the
    other checkpoint), a checkpoint file, or a folder of runs (its one run, or its latest: `pick_run`)."""
    given = Path(path).expanduser()
    if which not in CHECKPOINT_NAMES:
        raise ConfigError(f"unknown checkpoint {which!r}: choose --which {' or '.join(CHECKPOINT_NAMES)}")
    if not given.exists():
        raise CheckpointError(f"no run or checkpoint at {given}: pass a run folder written by `cnnlab train` or a .pt file")
    if given.is_file():
        if given.suffix not in CHECKPOINT_SUFFIXES:
            raise CheckpointError(f"{given} is not a checkpoint (.pt): pass a run folder or a checkpoint file")
        return RunTarget(RunDir.of_checkpoint(given), given, given)
    run = RunDir(pick_run(given), writer=False)
    return RunTarget(run, run.find_checkpoint(which), given)
