"""`load_model`: a trained model, rebuilt from a run folder or a checkpoint file, ready to use."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnlab.errors import CheckpointError
from cnnlab.runs.checkpoint import load_weights, model_weights, read_checkpoint
from cnnlab.runs.folder import RunDir, resolve_run


@dataclass
class LoadedModel:
    """A trained model in eval mode, the run's meta.json contents, and the file it came from."""

    model: nn.Module
    meta: dict[str, Any]
    path: Path
    numerics: dict[str, Any] | None = None  # the precision and layout the run trained in (None: older runs)


def load_model(
    run_or_checkpoint: str | Path, *, which: str = "best", device: str | torch.device = "cpu", ema: bool = True
) -> LoadedModel:
    """Rebuild a trained model from a run folder or checkpoint, in eval mode on ``device``.

    Args:
        run_or_checkpoint: a run folder (``RUN/checkpoints/<which>.pt``), a folder of runs (its latest),
            or a .pt/.safetensors file.
        which: "best" (highest validation accuracy) or "last".
        device: where to put the model.
        ema: use the EMA weights when the run kept them (what the run evaluated on its test split).
    """
    from cnnlab.models import create_model

    path = resolve_run(run_or_checkpoint, which=which).require_checkpoint()
    state = read_checkpoint(path)
    meta = dict(state.get("meta") or {})
    run = RunDir.of_checkpoint(path)
    if not meta and run is not None:
        meta = run.meta()
    if "model" not in meta or "num_classes" not in meta:
        raise CheckpointError(f"{path} has no meta (model name, classes): it was not written by `cnnlab train`")
    model = create_model(
        meta["model"], num_classes=meta["num_classes"], in_channels=meta["in_channels"],
        input_size=tuple(meta["input_size"]), **meta.get("model_kwargs", {}),
    )
    load_weights(model, model_weights(state, ema=ema), path)
    return LoadedModel(model=model.to(device).eval(), meta=meta, path=path, numerics=state.get("numerics"))
