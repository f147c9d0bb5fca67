"""The runs the explorer may show, addressed by id: clients never name a path.

The server is given one folder at start-up. The catalog finds the network runs in it (the
folder itself, or its sub-folders one or two levels down, that hold meta.json and a
checkpoint), gives each an id, and maps ids back to paths from its own table only. Models are
loaded on first use and kept (a few at a time); each has a lock because hooks (activation
capture, Grad-CAM) are attached to the shared model during a request.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnnlab.errors import ConfigError
from cnnlab.runs import SNAPSHOT_FILE, load_model, read_json, resolve_run, run_status

log = logging.getLogger(__name__)

RUN_GLOBS = ("meta.json", "*/meta.json", "*/*/meta.json")  # a run folder, a runs folder, runs/<group>/<run>
FIGURE_SUFFIX = ".png"

Loader = Callable[[Path, str], Any]  # (checkpoint, device) -> object with .model and .meta


def default_loader(checkpoint: Path, device: str) -> Any:
    return load_model(checkpoint, device=device)


@dataclass
class Run:
    """One run folder as the catalog sees it."""

    id: str
    path: Path
    checkpoint: Path
    meta: dict[str, Any]
    results: dict[str, Any]
    state: str = "completed"  # or "running", "interrupted" (`cnnlab.runs.run_status`)

    def figures(self) -> dict[str, Path]:
        """The report's figures (RUN/figures/*.png) by file name."""
        folder = self.path / "figures"
        return {p.name: p for p in sorted(folder.glob(f"*{FIGURE_SUFFIX}")) if p.is_file()} if folder.is_dir() else {}

    def summary(self) -> dict[str, Any]:
        """What the run picker shows."""
        keys = ("model", "dataset", "num_classes", "in_channels", "input_size", "classes")
        return {
            "id": self.id,
            "name": self.path.name,
            **{k: self.meta.get(k) for k in keys},
            "test_acc": self.results.get("test_acc"),
            "best_val_acc": self.results.get("best_val_acc"),
            "state": self.state,
        }


@dataclass
class LoadedRun:
    model: Any  # torch.nn.Module in eval mode
    meta: dict[str, Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    mtime: float = 0.0


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text).strip("-.") or "run"


def find_runs(source: Path) -> list[tuple[str, Path]]:
    """(id, folder) of every run under ``source``; ids are unique slugs of the relative paths."""
    folders = sorted({meta.parent for pattern in RUN_GLOBS for meta in source.glob(pattern)})
    found: dict[str, Path] = {}
    for folder in folders:
        rel = folder.relative_to(source).as_posix()
        base = _slug(folder.name if rel == "." else rel.replace("/", "--"))
        run_id, n = base, 2
        while run_id in found:
            run_id, n = f"{base}-{n}", n + 1
        found[run_id] = folder
    return list(found.items())


def _weights(folder: Path, state: str) -> Path | None:
    """The weights the explorer shows: a running run's latest live snapshot, else its checkpoint."""
    snapshot = folder / SNAPSHOT_FILE
    if state == "running" and snapshot.is_file():
        return snapshot
    checkpoint = resolve_run(folder).checkpoint
    return checkpoint if checkpoint is not None else (snapshot if snapshot.is_file() else None)


class RunCatalog:
    """The runs under one folder, re-scanned on `refresh` (new runs appear without a restart)."""

    def __init__(self, source: str | Path, *, loader: Loader = default_loader, device: str = "cpu", max_loaded: int = 4) -> None:
        self.source = Path(source).expanduser().resolve()
        if not self.source.is_dir():
            raise ConfigError(f"no runs folder at {self.source}: pass a run folder or a folder of runs written by `cnnlab train`")
        self.loader, self.device, self.max_loaded = loader, device, max_loaded
        self._runs: dict[str, Run] = {}
        self._loaded: OrderedDict[str, LoadedRun] = OrderedDict()
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> list[Run]:
        runs: dict[str, Run] = {}
        for run_id, folder in find_runs(self.source):
            try:
                meta = read_json(folder / "meta.json")
                state = run_status(folder)
                checkpoint = _weights(folder, state)
                results = read_json(folder / "results.json")
            except (OSError, ValueError, json.JSONDecodeError) as err:
                log.warning("skipping %s: %s", folder, err)
                continue
            if meta.get("kind", "cnn") != "cnn" or checkpoint is None:
                continue  # feature runs and runs that never saved a checkpoint have no network to show
            runs[run_id] = Run(run_id, folder, checkpoint, meta, results, state)
        self._runs = runs
        return list(runs.values())

    def runs(self) -> list[Run]:
        return list(self._runs.values())

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def load(self, run: Run) -> LoadedRun:
        """The run's model, loaded once and reloaded when its checkpoint file changes."""
        mtime = run.checkpoint.stat().st_mtime
        with self._lock:
            cached = self._loaded.get(run.id)
            if cached is None or cached.mtime != mtime:
                loaded = self.loader(run.checkpoint, self.device)
                cached = LoadedRun(loaded.model.eval(), dict(loaded.meta), mtime=mtime)
                self._loaded[run.id] = cached
            self._loaded.move_to_end(run.id)
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return cached
