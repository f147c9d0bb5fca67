"""Test-time augmentation: average a model's logits over a few views of each image.

One setting, ``tta``, names the level (each adds to the one before, airbench's ``tta_level``):

- ``none``: the image alone.
- ``flip``: the image and its left-right mirror.
- ``translate``: also the mirrored pairs of the image shifted by one pixel up-left and down-right,
  the uncovered border filled with black as the training crops pad; the original pair weighs 1/2
  and each shifted pair 1/4 (airbench's multi-crop TTA, arXiv:2404.00498).
- ``grid``: all eight one-pixel shifts (a 3x3 grid of positions), the original pair weighing twice
  each shifted pair (2/10 against 1/10): 18 views, three times translate's cost.

``share`` below 1 spends the views where they matter (hiverge's cifar10-speedrun applies test-time
augmentation to low-confidence predictions only): every image gets the plain view, and only the
``share`` of the images whose plain prediction is least confident (lowest top softmax probability)
gets all the level's views. `cnnlab.eval.evaluate_model` ranks the whole split first, so the choice
does not depend on the batch size; called on one batch, the share is of that batch. At ``share:
0.2`` ``translate`` costs 2 views per image on average, as ``flip`` does; on the 90% and 93%
recipes' validation runs it kept the accuracy of ``translate`` on every image (docs/recipes.md).

The trainer's test figure, `cnnlab eval --tta` and the report all go through `TestTimeAugmentation`,
so they agree to the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from cnnlab.errors import ConfigError

TTA_LEVELS = ("none", "flip", "translate", "grid")


@dataclass(frozen=True)
class TestTimeAugmentation:
    __test__ = False  # not a pytest test class despite the name

    level: str = "none"               # one of TTA_LEVELS
    fill: tuple[float, ...] = (0.0,)  # per channel: the normalised value of a black pixel
    share: float = 1.0                # of the images, the least confident get the views (1 = all)

    def __post_init__(self) -> None:
        check_tta(self.level)
        check_tta_share(self.share)

    @classmethod
    def for_data(cls, level: str, mean: Sequence[float], std: Sequence[float],
                 share: float = 1.0) -> "TestTimeAugmentation":
        """The views for images normalised with ``mean``/``std`` (0..1 scale): black is -mean/std."""
        return cls(level, tuple(-m / s for m, s in zip(mean, std)), share)

    @property
    def flip(self) -> bool:
        return self.level != "none"

    @property
    def translate(self) -> bool:
        return self.level in ("translate", "grid")

    @property
    def grid(self) -> bool:
        return self.level == "grid"

    @property
    def description(self) -> str:
        views = {"none": "", "flip": "flip TTA", "translate": "flip + translate TTA",
                 "grid": "flip + 3x3 translate TTA"}[self.level]
        return f"{views} on the {self.share:.0%} least confident" if views and self.share < 1 else views

    @property
    def shifts(self) -> list[tuple[int, int]]:
        """(down, right) pixel shifts of the translated pairs."""
        if self.grid:
            return [(d, r) for d in (-1, 0, 1) for r in (-1, 0, 1) if (d, r) != (0, 0)]
        return [(1, 1), (-1, -1)] if self.translate else []

    @property
    def selective(self) -> bool:
        """Whether only the least confident images get the views."""
        return self.flip and self.share < 1

    def __call__(self, model: nn.Module, x: torch.Tensor, plain: torch.Tensor | None = None,
                 threshold: float | None = None) -> torch.Tensor:
        """Float32 logits (B, K) of images ``x`` (B, C, H, W), averaged over the views.

        With a share below 1, ``plain`` is the model's logits of ``x`` when already known, and
        ``threshold`` the top probability at or below which an image gets the views (the split's
        quantile at ``share``); without one, this batch's quantile.
        """
        if not self.flip:
            return model(x).float()
        if self.share >= 1:
            return self._all_views(model, x)
        logits = model(x).float() if plain is None else plain.clone()
        top = confidence(logits)
        chosen = (top <= (share_threshold(top, self.share) if threshold is None else threshold)).nonzero().squeeze(1)
        if len(chosen):
            logits[chosen] = self._all_views(model, x[chosen].contiguous(memory_format=_format(x)), logits[chosen])
        return logits

    def _all_views(self, model: nn.Module, x: torch.Tensor, plain: torch.Tensor | None = None) -> torch.Tensor:
        """The level's average over all views of ``x``; ``plain``: the model's logits of ``x``, if known."""
        logits = self._mirrored_pair(model, x, plain)
        if not self.translate:
            return logits
        h, w = x.shape[-2:]
        fill = torch.tensor(self.fill, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        padded = fill.expand(x.shape[0], x.shape[1], h + 2, w + 2).clone(memory_format=torch.preserve_format)
        padded[..., 1:h + 1, 1:w + 1] = x
        # content moved by (down, right): output pixel (i, j) is input pixel (i - down, j - right)
        shifted = [padded[..., 1 - d:1 - d + h, 1 - r:1 - r + w] for d, r in self.shifts]
        shifted_logits = sum(self._mirrored_pair(model, view.contiguous(memory_format=_format(x))) for view in shifted)
        # the original pair weighs twice each shifted pair: airbench's 1/2, 1/4, 1/4; the grid's 2/10, 1/10 each
        return (2 * logits + shifted_logits) / (2 + len(shifted))

    @staticmethod
    def _mirrored_pair(model: nn.Module, x: torch.Tensor, plain: torch.Tensor | None = None) -> torch.Tensor:
        plain = model(x).float() if plain is None else plain
        return (plain + model(x.flip(-1)).float()) / 2


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """(B,) the top softmax probability of each row of ``logits`` (B, K)."""
    return logits.float().softmax(1).amax(1)


def share_threshold(confidences: torch.Tensor, share: float) -> float:
    """The top probability at or below which the least confident ``share`` of ``confidences`` (N,) fall."""
    return confidences.kthvalue(max(1, math.ceil(share * len(confidences)))).values.item()


def _format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def check_tta(level: Any) -> str:
    """``level`` when it is one of TTA_LEVELS, else a ConfigError listing them."""
    if level not in TTA_LEVELS:
        raise ConfigError(f"unknown test-time augmentation {level!r}; choose one of: {', '.join(TTA_LEVELS)}")
    return level


def check_tta_share(share: Any) -> float:
    """``share`` when it is a number in (0, 1], else a ConfigError saying what it means."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise ConfigError(f"tta_share is the share of the images that get the test-time views, in (0, 1]; "
                          f"got {share!r} (1 = every image)")
    return float(share)


def as_tta(tta: str | TestTimeAugmentation) -> TestTimeAugmentation:
    """A TestTimeAugmentation from a level name (black = 0) or itself."""
    return tta if isinstance(tta, TestTimeAugmentation) else TestTimeAugmentation(tta)


def tta_level(settings: Mapping[str, Any]) -> str:
    """The TTA level of a run's settings, also of configs written before ``tta`` was one setting:
    ``tta: true`` (flip), with ``tta_translate: true`` (translate) and ``tta_grid: true`` (grid)."""
    tta = settings.get("tta", "none")
    if not isinstance(tta, bool):
        return check_tta("none" if tta is None else tta)
    if not tta:
        return "none"
    return "grid" if settings.get("tta_translate") and settings.get("tta_grid") else (
        "translate" if settings.get("tta_translate") else "flip")
