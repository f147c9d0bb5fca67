"""torchvision weights -> cnnlab models.

Our models for the families torchvision has (alexnet, vgg*, googlenet, resnet*, densenet*) have
the same parameters as torchvision's; most also have the same parameter names. Where the names
differ, the family module defines ``torchvision_key(model, key) -> str | None`` (VGG's blocks,
GoogLeNet's optional auxiliary heads; None drops a key), so this module never branches on a
model's name.

    model = create_model("resnet18", num_classes=1000)
    load_torchvision_weights(model, "resnet18-f37072fd.pth")   # or a state_dict

For transfer learning to another class count or a small-input stem, ``skip_mismatched=True``
keeps the model's own (fresh) tensors where the shapes differ and loads everything else.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from cnnlab.errors import CheckpointError
from cnnlab.models._base import ImageClassifier
from cnnlab.models._registry import create_model

StateDict = Mapping[str, torch.Tensor]
_SHOWN = 5  # keys listed in an error message


def has_torchvision_counterpart(name: str) -> bool:
    """Whether torchvision has a classification model of this name (and so weights we can load)."""
    import torchvision

    return name in torchvision.models.list_models(module=torchvision.models)


def convert_torchvision_state_dict(name: str, state_dict: StateDict, **model_kwargs) -> dict[str, torch.Tensor]:
    """torchvision's ``state_dict`` of model ``name`` with our parameter names.

    ``model_kwargs`` (e.g. ``aux_logits=True``) describe the cnnlab model it is meant for; the
    model is built on the meta device, so this costs no memory or initialisation time.
    """
    _require_counterpart(name)
    with torch.device("meta"):
        model = create_model(name, **model_kwargs)
    return _rename(model, state_dict)


def load_torchvision_weights(
    model: ImageClassifier, source: str | Path | StateDict, *, skip_mismatched: bool = False
) -> list[str]:
    """Load torchvision weights (a file or a state_dict) into ``model``; returns the keys skipped.

    Raises `CheckpointError` naming the keys that are missing, unexpected or of another shape
    (e.g. a 1000-class classifier into a 10-class model: pass ``skip_mismatched=True``).
    """
    _require_counterpart(getattr(model, "arch", type(model).__name__))
    converted = _rename(model, _read(source))
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(converted)), sorted(set(converted) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"these torchvision weights do not fit {model.arch}: missing {_some(missing)}, unexpected "
            f"{_some(unexpected)}; build the model with the options the weights were trained with "
            f"(e.g. aux_logits=True for GoogLeNet weights with auxiliary classifiers)"
        )
    mismatched = [k for k in converted if converted[k].shape != own[k].shape]
    if mismatched and not skip_mismatched:
        shapes = ", ".join(f"{k}: {tuple(converted[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched[:_SHOWN])
        raise CheckpointError(
            f"{len(mismatched)} tensors of the torchvision weights have another shape than {model.arch}'s "
            f"(weights vs model: {shapes}); build it like the weights (num_classes=1000, in_channels=3, "
            f"input_size=224) or pass skip_mismatched=True to keep fresh tensors there (transfer learning)"
        )
    model.load_state_dict({k: own[k] if k in mismatched else v for k, v in converted.items()})
    return mismatched


def _require_counterpart(name: str) -> None:
    if not has_torchvision_counterpart(name):
        raise CheckpointError(f"{name} has no torchvision counterpart, so there are no torchvision weights for it; "
                              f"models with one: alexnet, vgg*, googlenet, resnet*, densenet*")


def _rename(model: nn.Module, state_dict: StateDict) -> dict[str, torch.Tensor]:
    key_map = getattr(sys.modules[type(model).__module__], "torchvision_key", None)
    renamed = {}
    for key, value in state_dict.items():
        new = key_map(model, key) if key_map is not None else key
        if new is not None:
            renamed[new] = value
    return renamed


def _read(source: str | Path | StateDict) -> StateDict:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist; give the path of a torchvision .pth file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any reader failure means the file is not usable weights
        raise CheckpointError(f"cannot read weights from {path} ({err}); is it a torchvision state_dict?") from err
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state_dict of tensors")
    return state


def _some(keys: list[str]) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more
