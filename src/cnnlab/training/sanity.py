"""The lab's sanity checks (cs231n's "before you train" list), run by `cnnlab train --check`.

1. The initial loss is close to ln(num_classes): a fresh network should be unsure of every class.
2. A tiny batch can be overfitted: if 16 images cannot be memorised, the model or the loss is broken.
3. Batch norm and dropout are in inference mode during evaluation: two eval passes agree, and an
   image's logits do not depend on the rest of its batch.

A normal run performs checks 1 and 3 on its first batch (warnings only, on a copy of the model, so
the run's numbers do not change) and warns when accuracy is still at chance after the first epoch.
"""
from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch
from torch import nn

INITIAL_LOSS_TOLERANCE = 0.3  # |loss / ln(C) - 1| above this is suspicious
CHANCE_MARGIN = 1.5           # accuracy below CHANCE_MARGIN / C after one epoch is "at chance"


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


def expected_initial_loss(num_classes: int) -> float:
    """Cross-entropy of a uniform prediction over ``num_classes`` classes, in nats."""
    return math.log(num_classes)


def check_initial_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                       autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext) -> CheckResult:
    """The untrained model's mean cross-entropy on one batch (train mode, on a copy) vs ln(C)."""
    probe = copy.deepcopy(model).train()
    with torch.no_grad(), torch.random.fork_rng(), autocast():
        loss = nn.functional.cross_entropy(probe(x).float(), y).item()
    expected = expected_initial_loss(num_classes)
    ok = math.isfinite(loss) and abs(loss / expected - 1) <= INITIAL_LOSS_TOLERANCE
    detail = f"initial loss {loss:.3f}, expected about ln({num_classes}) = {expected:.3f}"
    if not ok:
        detail += ("; the last layer's initial weights may be too large, the inputs not normalized, "
                   "or the labels out of range")
    return CheckResult("initial loss", ok, detail)


def check_eval_mode(model: nn.Module, x: torch.Tensor,
                    autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext) -> CheckResult:
    """Eval mode must be deterministic (dropout off) and per-image (batch norm uses running stats)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(), autocast():
            first, second = model(x).float(), model(x).float()
            alone = model(x[:1]).float()
    finally:
        model.train(was_training)
    tol = 1e-2 if first.dtype != x.dtype or torch.is_autocast_enabled() else 1e-4
    problems = []
    if not torch.allclose(first, second, atol=tol, rtol=tol):
        problems.append("two evaluation passes differ (is dropout still active in eval mode?)")
    if not torch.allclose(first[:1], alone, atol=tol, rtol=tol):
        problems.append("an image's logits depend on its batch (is batch norm using batch statistics in eval mode?)")
    ok = not problems
    return CheckResult("eval mode", ok, "dropout off and batch norm on running statistics" if ok else "; ".join(problems))


def check_overfit_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int = 200,
                        lr: float = 1e-3) -> CheckResult:
    """Train a copy on one small batch with Adam; it should reach 100% training accuracy."""
    probe = copy.deepcopy(model).train()
    optimizer = torch.optim.Adam(probe.parameters(), lr=lr)
    acc, loss = 0.0, float("nan")
    with torch.random.fork_rng():
        for step in range(1, steps + 1):
            logits = probe(x)
            loss_t = nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss_t.backward()
            optimizer.step()
            loss, acc = loss_t.item(), (logits.argmax(1) == y).float().mean().item()
            if acc == 1.0 and loss < 0.05:
                break
    ok = acc == 1.0
    detail = f"{len(y)} images: accuracy {acc:.0%}, loss {loss:.3f} after {step} Adam steps (lr {lr:g})"
    if not ok:
        detail += "; the model cannot memorise a tiny batch: check the architecture, the loss and the labels"
    return CheckResult("overfit a tiny batch", ok, detail)


def chance_warning(accuracy: float | None, num_classes: int, split: str) -> str | None:
    """A warning when accuracy after the first epoch is still about 1/C, naming the usual causes."""
    if accuracy is None or num_classes < 2 or accuracy >= CHANCE_MARGIN / num_classes:
        return None
    return (f"warning: {split} accuracy {accuracy:.1%} after the first epoch is at chance (1/{num_classes} = "
            f"{1 / num_classes:.1%}). Usual causes: a learning rate far too high or too low (try --lr 10x "
            "smaller/larger), inputs not normalized, labels not matching the images. `cnnlab train --check` "
            "runs the sanity checks")


def sanity_checks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, *, overfit: bool,
                  autocast: Callable[[], ContextManager[Any]] = contextlib.nullcontext,
                  overfit_images: int = 16, eval_images: int = 32) -> list[CheckResult]:
    """Check 1 on the batch (x, y), check 3 on its first ``eval_images`` (dropout left on and batch
    statistics show on a few images as on many, at a fraction of three passes over a whole batch),
    plus check 2 on its first ``overfit_images`` when ``overfit``."""
    results = [check_initial_loss(model, x, y, num_classes, autocast)]
    if overfit:
        results.append(check_overfit_batch(model, x[:overfit_images], y[:overfit_images]))
    results.append(check_eval_mode(model, x[:eval_images], autocast))
    return results


def check_config(cfg: Any) -> list[CheckResult]:
    """`cnnlab train --check`: build the run's data and model as training would, check, write nothing."""
    from cnnlab.training import distributed
    from cnnlab.training.setup import build_session, check_names, torch_settings

    check_names(cfg)
    dist = distributed.init(cfg.device)
    try:
        with torch_settings(cfg):
            session = build_session(cfg, dist)
            x, y = next(iter(session.train_loader))     # x (B, C, H, W), y (B,)
            return sanity_checks(session.model, x, y, session.meta["num_classes"], overfit=True,
                                 autocast=session.parts.autocast)
    finally:
        distributed.shutdown(dist)
