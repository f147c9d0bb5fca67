"""safetensors export: the weights alone (no pickled code), with the run's meta as JSON in the header.

`cnnlab.load_model(path)`, `cnnlab predict` and `cnnlab eval` read these files directly (the run
store's `read_checkpoint`); the model is rebuilt from the registry by the name in the meta.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from cnnlab.runs import save_safetensors


def write_safetensors(model: nn.Module, example: torch.Tensor, path: Path, meta: Mapping[str, Any], **_: Any) -> None:
    """Save ``model``'s state_dict (parameters and buffers) and ``meta``."""
    save_safetensors(model.state_dict(), meta, path)
