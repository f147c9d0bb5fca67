"""`Predictor`: a trained model, from whichever file it came, as a function from a normalized batch to logits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from cnnlab.runs import load_model


@dataclass
class Predictor:
    """A model ready to classify: ``forward`` maps a normalized (B, C, H, W) batch to logits."""

    meta: dict[str, Any]
    forward: Callable[[torch.Tensor], torch.Tensor]
    path: Path
    device: str | torch.device = "cpu"


def torch_predictor(path: str | Path, device: str | torch.device = "cpu") -> Predictor:
    """A run folder, folder of runs, checkpoint or safetensors file, rebuilt by `cnnlab.runs.load_model`."""
    loaded = load_model(path, device=device)
    model = loaded.model

    @torch.no_grad()
    def forward(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    return Predictor(loaded.meta, forward, Path(loaded.path), device)
