"""Test-time augmentation: average a model's logits over a few views of each image.

One setting, ``tta``, names the level (each adds to the one before, airbench's ``tta_level``):

- ``none``: the image alone.
- ``flip``: the image and its left-right mirror.
- ``translate``: also the mirrored pairs of the image shifted by one pixel up-left and down-right,
  the uncovered border filled with black as the training crops pad; the original pair weighs 1/2
  and each shifted pair 1/4 (airbench's multi-crop TTA, arXiv:2404.00498).
- ``grid``: all eight one-pixel shifts (a 3x3 grid of positions), the original pair weighing twice
  each shifted pair (2/10 against 1/10): 18 views, three times translate's cost.

The trainer's test figure, `cnnlab eval --tta` and the report all go through `TestTimeAugmentation`,
so they agree to the image.
"""
from __future__ import annotations

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

    def __post_init__(self) -> None:
        check_tta(self.level)

    @classmethod
    def for_data(cls, level: str, mean: Sequence[float], std: Sequence[float]) -> "TestTimeAugmentation":
        """The views for images normalised with ``mean``/``std`` (0..1 scale): black is -mean/std."""
        return cls(level, tuple(-m / s for m, s in zip(mean, std)))

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
        return {"none": "", "flip": "flip TTA", "translate": "flip + translate TTA",
                "grid": "flip + 3x3 translate TTA"}[self.level]

    @property
    def shifts(self) -> list[tuple[int, int]]:
        """(down, right) pixel shifts of the translated pairs."""
        if self.grid:
            return [(d, r) for d in (-1, 0, 1) for r in (-1, 0, 1) if (d, r) != (0, 0)]
        return [(1, 1), (-1, -1)] if self.translate else []

    def __call__(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Float32 logits (B, K) of images ``x`` (B, C, H, W), averaged over the views."""
        if not self.flip:
            return model(x).float()
        logits = self._mirrored_pair(model, x)
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
    def _mirrored_pair(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return (model(x).float() + model(x.flip(-1)).float()) / 2


def _format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def check_tta(level: Any) -> str:
    """``level`` when it is one of TTA_LEVELS, else a ConfigError listing them."""
    if level not in TTA_LEVELS:
        raise ConfigError(f"unknown test-time augmentation {level!r}; choose one of: {', '.join(TTA_LEVELS)}")
    return level


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
