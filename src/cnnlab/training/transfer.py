"""Transfer learning: start a run from pretrained weights, with a new head, frozen or fine-tuned.

``cnnlab train resnet18 --weights W --data folder:PATH [--freeze-backbone | --backbone-lr-mult 0.1]``

Weights files, told apart by their contents:

- a cnnlab checkpoint (``RUN/checkpoints/best.pt``, a run folder, or an exported .safetensors):
  it carries ``meta``; its model must be the one being trained.
- anything else holding only tensors is a state_dict: torchvision's (``resnet18-f37072fd.pth``),
  renamed to our names by `cnnlab.models.convert`, or a bare cnnlab ``model.state_dict()``.

What is loaded and what is changed:

- the classifier's final layer (``fc`` of a ResNet, the last Linear of VGG's classifier) is not
  loaded: the model gets a freshly initialised one for this dataset's class count
  (``new_head=False`` loads it and requires equal class counts).
- a first convolution trained on another number of input channels is adapted as timm does: for a
  1-channel model the filters are summed over the file's channels (a gray image x gives the same
  response as the RGB image (x, x, x)); for other counts the channels are repeated and rescaled by
  ``file_channels / model_channels`` so the expected activation stays the same.
- any other difference of shape is a `CheckpointError` naming the layer and both shapes.
- torchvision weights are ImageNet weights with the 7x7 stride-2 stem, so a model that has a
  ``small_stem`` option is built with ``small_stem=False`` for them unless ``model_kwargs`` says
  otherwise (see `model_kwargs_for`).

Freezing (``freeze_backbone``): every parameter outside the classifier gets ``requires_grad=False``
and every normalization layer outside it stays in eval mode even while the model trains (a
forward pre-hook switches it back), so it keeps normalizing with the pretrained running statistics
and its buffers stay those of the file. Fine-tuning with ``backbone_lr_mult`` instead puts the
backbone in optimizer param groups with ``lr * mult`` (see `cnnlab.training.optim.param_groups`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.runs import load_weights, model_weights, read_checkpoint, resolve_run

Log = Callable[[str], None]


@dataclass
class Pretrained:
    """Weights read from a file, before they are fitted to a model."""

    path: Path
    kind: str                                      # "cnnlab" (has meta) or "state_dict"
    weights: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)


def read_pretrained(path: str | Path) -> Pretrained:
    """Read a torchvision state_dict, a cnnlab checkpoint/run folder or a .safetensors export."""
    path = resolve_run(path).require_checkpoint() if Path(path).expanduser().is_dir() else Path(path).expanduser()
    state = read_checkpoint(path)
    meta = dict(state.get("meta") or {})
    weights = model_weights(state)
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{path} holds no state_dict of tensors; give a torchvision .pth or a cnnlab checkpoint")
    return Pretrained(path=path, kind="cnnlab" if meta.get("model") else "state_dict", weights=dict(weights), meta=meta)


def model_kwargs_for(pretrained: Pretrained | None, model: str, model_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The model options to build ``model`` with so that the weights fit.

    A cnnlab checkpoint brings the options it was trained with (explicit ones win); a plain
    state_dict of a model torchvision has means an ImageNet stem (``small_stem=False``).
    """
    from cnnlab.models._registry import model_kwargs as accepted_kwargs
    from cnnlab.models.convert import has_torchvision_counterpart

    kwargs = dict(model_kwargs)
    if pretrained is None:
        return kwargs
    if pretrained.kind == "cnnlab":
        return {**pretrained.meta.get("model_kwargs", {}), **kwargs}
    if has_torchvision_counterpart(model) and "small_stem" in (accepted_kwargs(model) or ()):
        kwargs.setdefault("small_stem", False)
    return kwargs


def apply_pretrained(
    model: nn.Module, pretrained: Pretrained, *, new_head: bool = True, model_kwargs: Mapping[str, Any] | None = None,
    log: Log = print,
) -> None:
    """Load ``pretrained`` into ``model`` (in place): new head, adapted first conv, see the module doc."""
    arch = getattr(model, "arch", type(model).__name__)
    weights = _our_names(model, pretrained, model_kwargs or {})
    head = _head_keys(model)
    own = model.state_dict()
    if new_head:
        old = {k: tuple(weights[k].shape) for k in head if k in weights}
        weights = {k: v for k, v in weights.items() if k not in head}
        weights.update({k: own[k] for k in head})
    weights = _adapt_first_conv(model, weights, own, log)
    try:
        load_weights(model, weights, pretrained.path)
    except CheckpointError as err:
        if new_head:
            raise
        raise CheckpointError(f"{err}; to train a new classifier for this dataset instead, drop --keep-head "
                              f"(new_head=True)") from None
    if new_head:
        model.reset_classifier(model.num_classes)  # a freshly initialised head, whatever it held before
        layer = min(head).rsplit(".", 1)[0]
        was = ", ".join(f"{k} {s}" for k, s in old.items()) or "nothing"
        log(f"transfer: loaded {arch} weights from {pretrained.path} ({pretrained.kind}); new classifier layer "
            f"{layer!r} for {model.num_classes} classes (the file had {was})")
    else:
        log(f"transfer: loaded {arch} weights from {pretrained.path} ({pretrained.kind}), classifier included")


def freeze_backbone(model: nn.Module) -> list[str]:
    """Freeze everything but the classifier; frozen norm layers stay in eval mode. Returns the frozen names."""
    head = {id(p) for p in model.get_classifier().parameters()}
    frozen = []
    for name, param in model.named_parameters():
        if id(param) not in head:
            param.requires_grad_(False)
            frozen.append(name)
    head_modules = set(model.get_classifier().modules())
    for module in model.modules():
        if isinstance(module, _NormBase) and module not in head_modules:
            module.register_forward_pre_hook(_stay_in_eval)
    return frozen


def _stay_in_eval(module: nn.Module, args: Any) -> None:
    # model.train() sets every module to training mode; a frozen norm layer goes back to using
    # (and keeping) the pretrained running statistics before each forward
    module.training = False


def _our_names(model: nn.Module, pretrained: Pretrained, model_kwargs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The weights under our parameter names (torchvision's are renamed where a family needs it)."""
    from cnnlab.models.convert import convert_torchvision_state_dict, has_torchvision_counterpart

    arch = getattr(model, "arch", type(model).__name__)
    if pretrained.kind == "cnnlab":
        saved = pretrained.meta.get("model")
        if saved != arch:
            raise CheckpointError(f"{pretrained.path} holds a {saved} checkpoint but this run trains {arch}; "
                                  f"train {saved} or use weights of {arch}")
        return dict(pretrained.weights)
    own = set(model.state_dict())
    if set(pretrained.weights) == own or not has_torchvision_counterpart(arch):
        return dict(pretrained.weights)  # already our names (a cnnlab state_dict)
    return convert_torchvision_state_dict(arch, pretrained.weights, **model_kwargs)


def _head_keys(model: nn.Module) -> set[str]:
    """The state_dict keys of the classifier's final layer (the one `reset_classifier` replaces).

    Hidden layers of a multi-layer classifier (VGG's, AlexNet's) are loaded like the backbone.
    """
    if not hasattr(model, "get_classifier"):
        raise CheckpointError(f"{type(model).__name__} has no classifier (get_classifier); it cannot get a new head")
    head = model.get_classifier()
    last = head[-1] if isinstance(head, nn.Sequential) else head
    final = {id(t) for t in [*last.parameters(), *last.buffers()]}
    return {k for k, t in model.state_dict(keep_vars=True).items() if id(t) in final}


def _adapt_first_conv(model: nn.Module, weights: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor],
                      log: Log) -> dict[str, torch.Tensor]:
    """Fit the first convolution's filters to the model's input channels (the only shape we change)."""
    first = next((name + ".weight" for name, m in model.named_modules()
                  if isinstance(m, nn.modules.conv._ConvNd)), None)
    if first is None or first not in weights:
        return weights
    theirs, ours = weights[first], own[first]
    if theirs.shape == ours.shape or theirs.shape[:1] + theirs.shape[2:] != ours.shape[:1] + ours.shape[2:]:
        return weights  # equal, or another difference: load_weights names the layer and both shapes
    weights = dict(weights)
    weights[first] = adapt_input_channels(theirs, ours.shape[1])
    log(f"transfer: {first} adapted from {theirs.shape[1]} to {ours.shape[1]} input channels "
        f"({'summed over channels' if ours.shape[1] == 1 else 'channels repeated and rescaled'})")
    return weights


def adapt_input_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """Conv filters (out, in, *k) trained on ``in`` channels, for ``channels`` input channels.

    1 channel: the sum over the input channels (gray x == RGB (x, x, x)). Otherwise the channels
    are repeated cyclically and scaled by ``in / channels`` (timm's ``adapt_input_conv``).
    """
    have = weight.shape[1]
    if channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeats = -(-channels // have)  # ceil
    return weight.repeat(1, repeats, *([1] * (weight.dim() - 2)))[:, :channels] * (have / channels)


def check_transfer(cfg: Any) -> None:
    """Refuse transfer settings that contradict each other (before the data is loaded)."""
    if cfg.freeze_backbone and cfg.backbone_lr_mult != 1.0:
        raise ConfigError("--freeze-backbone trains only the classifier, so --backbone-lr-mult has no effect: "
                          "choose one of them")
    if not cfg.weights and (cfg.freeze_backbone or not cfg.new_head):
        raise ConfigError("--freeze-backbone and --keep-head need pretrained weights: add --weights PATH")


def start_from(model: nn.Module, pretrained: Pretrained, cfg: Any, model_kwargs: Mapping[str, Any],
               log: Log = print) -> None:
    """What a run with ``cfg.weights`` does to its fresh model: load, new head, maybe freeze."""
    apply_pretrained(model, pretrained, new_head=cfg.new_head, model_kwargs=model_kwargs, log=log)
    if cfg.freeze_backbone:
        frozen = freeze_backbone(model)
        log(f"transfer: backbone frozen ({len(frozen)} tensors, norm layers in eval mode); "
            f"training {model.classifier_name!r} only")
    elif cfg.backbone_lr_mult != 1.0:
        log(f"transfer: fine-tuning all layers, backbone at lr x {cfg.backbone_lr_mult:g}")
