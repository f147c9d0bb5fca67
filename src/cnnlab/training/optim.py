"""Optimizers and learning-rate schedules by name: two lookup tables over torch.optim.

Schedules are stepped once per optimizer step; lengths given in epochs are converted to steps here.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.optim import lr_scheduler as sched

from cnnlab.training.config import TrainConfig, choose
from cnnlab.training.muon import MuonSGD

# methods torch wraps so that torch.compile can trace around them; the wrapper imports torch._dynamo
# on first use, 1.8 s of a 20 s run on a 2-core CPU, for nothing when the step is not compiled
_DYNAMO_WRAPPED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")


def eager(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """A subclass of ``cls`` (same name, same numbers) whose methods skip torch's compile wrappers."""
    methods: dict[str, Any] = {}
    for name in _DYNAMO_WRAPPED:
        method = getattr(cls, name)
        methods[name] = getattr(method, "__wrapped__", method)
    step = cls.step
    unwrapped_step = getattr(step, "__wrapped__", step)
    if unwrapped_step is not step:  # torch's step wrapper also turns gradients off: keep that part
        def step_no_grad(self, *args: Any, **kwargs: Any) -> Any:
            with torch.set_grad_enabled(self.defaults.get("differentiable", False)):
                return unwrapped_step(self, *args, **kwargs)
        methods["step"] = step_no_grad
    return type(cls.__name__, (cls,), {**methods, "__module__": cls.__module__, "__doc__": cls.__doc__})


# name -> (class, the keyword arguments it takes from the config)
OPTIMIZERS: dict[str, tuple[type[torch.optim.Optimizer], Callable[[TrainConfig], dict[str, Any]]]] = {
    "sgd": (eager(torch.optim.SGD), lambda c: dict(momentum=c.momentum, nesterov=c.nesterov and c.momentum > 0)),
    "rmsprop": (eager(torch.optim.RMSprop), lambda c: dict(momentum=c.momentum, alpha=0.99, eps=1e-8)),
    "adam": (eager(torch.optim.Adam), lambda c: dict(betas=tuple(c.betas))),
    "adamw": (eager(torch.optim.AdamW), lambda c: dict(betas=tuple(c.betas))),
    # Muon for conv filters (at muon_lr), SGD for the rest (at lr): airbench94_muon
    "muon": (eager(MuonSGD), lambda c: dict(momentum=c.momentum, nesterov=c.nesterov and c.momentum > 0)),
}


def param_groups(model: nn.Module, weight_decay: float, *, lr: float | None = None,
                 backbone_lr_mult: float = 1.0, norm_bias_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Weight decay on weight matrices/kernels only: biases and norm scales (1-D) are not decayed.

    With ``backbone_lr_mult != 1`` (fine-tuning) the classifier's groups come first at ``lr`` and
    everything else follows at ``lr * backbone_lr_mult``. With ``norm_bias_lr_mult != 1``
    (airbench's trick for nets whose BatchNorm scales are frozen) the normalisation layers'
    parameters get a group of their own at that multiple of their group's rate. Frozen
    parameters are left out.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if (backbone_lr_mult != 1.0 or norm_bias_lr_mult != 1.0) and lr is None:
        raise ValueError("param_groups needs lr to scale a group's learning rate")
    norms = set()
    if norm_bias_lr_mult != 1.0:
        norms = {id(p) for m in model.modules() if isinstance(m, _NORM_LAYERS) for p in m.parameters(recurse=False)}

    def groups(members: list[nn.Parameter], rate: float | None) -> list[dict[str, Any]]:
        return _decay_groups(members, weight_decay, norms, rate, norm_bias_lr_mult)

    if backbone_lr_mult == 1.0:
        return groups(params, lr)
    head = {id(p) for p in model.get_classifier().parameters()}
    return [*groups([p for p in params if id(p) in head], lr),
            *groups([p for p in params if id(p) not in head], lr * backbone_lr_mult)]


_NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def _decay_groups(params: list[nn.Parameter], weight_decay: float, norms: set[int], lr: float | None,
                  norm_lr_mult: float) -> list[dict[str, Any]]:
    rate = {} if lr is None else {"lr": lr}
    groups = [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay, **rate},
        {"params": [p for p in params if p.ndim <= 1 and id(p) not in norms], "weight_decay": 0.0, **rate},
    ]
    if norms:
        groups.append({"params": [p for p in params if id(p) in norms], "weight_decay": 0.0,
                       "lr": (lr or 0.0) * norm_lr_mult})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    cls, extra = choose(OPTIMIZERS, cfg.optimizer, "optimizer")
    groups = param_groups(model, cfg.weight_decay, lr=cfg.lr, backbone_lr_mult=cfg.backbone_lr_mult,
                          norm_bias_lr_mult=cfg.norm_bias_lr_mult)
    if cfg.optimizer == "muon":
        groups = muon_groups(groups, cfg.muon_lr, cfg.muon_momentum)
    return cls(groups, lr=cfg.lr, **extra(cfg))


def muon_groups(groups: list[dict[str, Any]], lr: float, momentum: float) -> list[dict[str, Any]]:
    """``groups`` with their convolution filters (4-D) moved into one Muon group at ``lr``, no weight decay.

    The Muon group comes last, so the first group's rate is still ``--lr``'s (progress lines, steps.csv)."""
    filters = [p for g in groups for p in g["params"] if p.ndim == 4]
    rest = [{**g, "params": [p for p in g["params"] if p.ndim != 4]} for g in groups]
    muon = [{"params": filters, "lr": lr, "momentum": momentum, "weight_decay": 0.0, "muon": True}] if filters else []
    return [g for g in rest if g["params"]] + muon


# --- schedules: each builder gets (optimizer, cfg, total_steps, warmup_steps, steps_per_epoch) ---

def _onecycle(opt, cfg: TrainConfig, total: int, warmup: int, per_epoch: int) -> sched.LRScheduler:
    # Smith's one-cycle: linear rise from lr/25 to lr over the warm-up (25% by default), linear decay to ~0.
    if total < 2:  # one step: nothing to schedule
        return sched.ConstantLR(opt, factor=1.0, total_iters=0)
    pct = warmup / total if warmup else 0.25
    # torch divides by each phase's length (pct*total - 1 and the rest): keep both phases non-empty
    pct = min(max(pct, 1.5 / total), 1 - 0.5 / total)
    peaks = [group["lr"] for group in opt.param_groups]  # cfg.lr, or lower for a fine-tuned backbone
    return sched.OneCycleLR(opt, max_lr=peaks, total_steps=total, pct_start=pct,
                            anneal_strategy="linear", cycle_momentum=False)


def _cosine(opt, cfg, total, warmup, per_epoch):
    return sched.CosineAnnealingLR(opt, T_max=max(1, total - warmup), eta_min=0.0)


def _linear(opt, cfg, total, warmup, per_epoch):
    return sched.LinearLR(opt, start_factor=1.0, end_factor=0.0, total_iters=max(1, total - warmup))


def _step(opt, cfg, total, warmup, per_epoch):
    return sched.StepLR(opt, step_size=max(1, round(cfg.step_epochs * per_epoch)), gamma=cfg.step_gamma)


def _constant(opt, cfg, total, warmup, per_epoch):
    return sched.ConstantLR(opt, factor=1.0, total_iters=0)


SCHEDULES: dict[str, Callable[..., sched.LRScheduler]] = {
    "onecycle": _onecycle,
    "cosine": _cosine,
    "linear": _linear,
    "step": _step,
    "constant": _constant,
}
_OWN_WARMUP = {"onecycle"}  # schedules whose warm-up is built in


def total_steps(epochs: float, steps_per_epoch: int) -> int:
    """Optimizer steps in a run of ``epochs`` (fractional epochs end mid-epoch): at least one."""
    return max(1, round(epochs * steps_per_epoch))


def build_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> sched.LRScheduler:
    """The schedule named by ``cfg.schedule``, preceded by a linear warm-up of ``cfg.warmup_epochs``."""
    build = choose(SCHEDULES, cfg.schedule, "schedule")
    total = total_steps(cfg.epochs, steps_per_epoch)
    warmup = min(round(cfg.warmup_epochs * steps_per_epoch), total - 1)
    main = build(opt, cfg, total, warmup, steps_per_epoch)
    if warmup <= 0 or cfg.schedule in _OWN_WARMUP:
        return main
    rise = sched.LinearLR(opt, start_factor=1.0 / (warmup + 1), end_factor=1.0, total_iters=warmup)
    return sched.SequentialLR(opt, [rise, main], milestones=[warmup])
