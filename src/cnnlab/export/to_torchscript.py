"""TorchScript export: a traced, frozen module that runs without cnnlab (``torch.jit.load``).

Tracing records the eval-mode forward pass for one input size (any batch size); freezing inlines
the weights and folds each BatchNorm into the convolution before it. The run's meta is stored in
the archive as ``cnnlab_meta.json``. TorchScript is deprecated in recent PyTorch (in favour of
``torch.export``); it still works and many deployment stacks still take it, so its deprecation
warnings are silenced here.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from cnnlab.errors import CheckpointError
from cnnlab.export.predictor import Predictor

META_FILE = "cnnlab_meta.json"


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path, meta: Mapping[str, Any], **_: Any) -> None:
    """Trace ``model`` (eval mode) on ``example``, freeze it and save it with the meta."""
    with warnings.catch_warnings(), torch.no_grad():
        # deprecation notices, and "converting a tensor to a Python int": the input checks run once, at trace time
        warnings.simplefilter("ignore")
        frozen = torch.jit.freeze(torch.jit.trace(model.eval(), example))
        torch.jit.save(frozen, str(path), _extra_files={META_FILE: json.dumps(dict(meta))})


def torchscript_predictor(path: str | Path, device: str | torch.device = "cpu") -> Predictor:
    """Load an exported TorchScript file as a `Predictor`."""
    path = Path(path)
    extra = {META_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except RuntimeError as err:
            raise CheckpointError(f"{path} is not a TorchScript archive ({str(err)[:200]})") from None
    if not extra[META_FILE]:
        raise CheckpointError(f"{path} has no {META_FILE}: it was not written by `cnnlab export`")

    @torch.no_grad()
    def forward(x: torch.Tensor) -> torch.Tensor:
        return module(x)

    return Predictor(json.loads(extra[META_FILE]), forward, path, device)
