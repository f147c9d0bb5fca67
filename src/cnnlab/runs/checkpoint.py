"""The checkpoint format: writing, safe loading, and fitting saved weights into a model.

A checkpoint is a dict of plain types and tensors only (see docs/design.md), so it loads with
``torch.load(weights_only=True)``; we never fall back to unrestricted unpickling.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from cnnlab.errors import CheckpointError
from cnnlab.files import atomic_write

FORMAT_VERSION = 1


def save_checkpoint(state: Mapping[str, Any], path: str | Path) -> Path:
    return atomic_write(path, lambda f: torch.save(dict(state), f))


# --- safe loading --------------------------------------------------------------------------------

def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a .pt checkpoint with weights_only=True (or a .safetensors file) onto the CPU.

    Raises CheckpointError naming the file when it is missing, empty, truncated or holds Python
    objects other than tensors and plain containers.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): the write was interrupted; use another checkpoint")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _unpickling_error(path, str(err)) from None
    except Exception as err:  # noqa: BLE001 - untrusted bytes: IndexError, struct.error, BadZipFile, ... all mean corrupt
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {str(err)[:200]})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a cnnlab checkpoint dict")
    if "model" not in state and all(isinstance(v, torch.Tensor) for v in state.values()):
        state = {"model": state}  # a bare state_dict
    return state


def _unpickling_error(path: Path, text: str) -> CheckpointError:
    """torch's weights_only refusal: a foreign Python global (unsafe) or bytes that are no pickle (corrupt)."""
    foreign = next((line.strip() for line in text.splitlines() if "GLOBAL" in line), None)
    if foreign:
        return CheckpointError(
            f"checkpoint {path} was refused: it holds Python objects that are not tensors or plain data "
            f"({foreign[:200]}). cnnlab only loads weights_only checkpoints; re-save the weights as a plain "
            "state_dict if you trust the file"
        )
    detail = next((line.strip() for line in text.splitlines() if line.startswith("Unsupported")), "not a pickle")
    return CheckpointError(f"checkpoint {path} is corrupt, truncated or not a PyTorch checkpoint ({detail[:200]}); "
                           "it was not loaded")


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            weights = {k: f.get_tensor(k) for k in f.keys()}
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"safetensors file {path} is corrupt ({str(err)[:200]})") from None
    try:
        meta = json.loads(header["meta"]) if "meta" in header else {}
    except ValueError as err:
        raise CheckpointError(f"safetensors file {path} has a corrupt 'meta' header ({err})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"safetensors file {path}: its 'meta' header is a {type(meta).__name__}, not a mapping")
    return {"model": weights, "meta": meta}


def save_safetensors(state_dict: Mapping[str, torch.Tensor], meta: Mapping[str, Any], path: str | Path) -> Path:
    """Weights only, with ``meta`` as JSON in the header, written atomically."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    blob = save(tensors, metadata={"meta": json.dumps(dict(meta))})
    return atomic_write(path, lambda f: f.write(blob))


# --- compatibility -------------------------------------------------------------------------------

def check_same_model(saved: Mapping[str, Any], expected: Mapping[str, Any], source: str | Path) -> None:
    """Refuse a checkpoint whose architecture, class count or input channels differ from ``expected``."""
    for key in ("model", "num_classes", "in_channels"):
        if key in saved and key in expected and saved[key] != expected[key]:
            raise CheckpointError(
                f"checkpoint {source} is of another model: its {key} is {saved[key]!r}, this run's is "
                f"{expected[key]!r}. Use a checkpoint of the same model, or start a new run"
            )


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | Path = "checkpoint") -> None:
    """``model.load_state_dict`` that names the first mismatching layer and both shapes."""
    own = model.state_dict()
    for name, tensor in state_dict.items():
        if name in own and own[name].shape != tensor.shape:
            raise CheckpointError(
                f"{source} does not fit this model: layer {name!r} has shape {tuple(tensor.shape)} in the "
                f"checkpoint but {tuple(own[name].shape)} in the model (another class count or channel count?)"
            )
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise CheckpointError(
            f"{source} is of another architecture: missing {missing[:3]}{'...' if len(missing) > 3 else ''}, "
            f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}"
        )
    model.load_state_dict(state_dict)


def model_weights(state: Mapping[str, Any], *, ema: bool = True) -> dict[str, torch.Tensor]:
    """The weights to use: the EMA's when the run kept one (and ``ema``), else the raw model's."""
    if ema and state.get("ema"):
        prefix = "module."
        return {k[len(prefix):]: v for k, v in state["ema"].items() if k.startswith(prefix)}
    return state["model"]
