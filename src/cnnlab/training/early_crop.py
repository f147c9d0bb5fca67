"""Small random crops for the first steps of a run: the same pixels per step, a fraction of the FLOPs.

A convolutional net that ends in global pooling takes any image size. Early in training, a random
``size`` x ``size`` window of each batch (one window per batch, at full resolution, so the filters
see objects at the scale they are tested at) costs about (size / H)^2 of a full step; the run's
last steps see whole images again, so BatchNorm's statistics and the classifier settle at the test
size. The window position is drawn from torch's generator, which checkpoints save, so a resumed
run draws the same windows.
"""
from __future__ import annotations

import torch


class EarlyCrop:
    """Crops batches to ``size`` x ``size`` for the optimizer steps before ``until_step``."""

    def __init__(self, size: int, until_step: int) -> None:
        self.size, self.until_step = size, until_step

    def __call__(self, x: torch.Tensor, step: int) -> torch.Tensor:
        """``x`` (B, C, H, W), cropped when optimizer step ``step`` (0-based) is an early one."""
        h, w = x.shape[-2:]
        if step >= self.until_step or (self.size >= h and self.size >= w):
            return x
        top = int(torch.randint(0, max(h - self.size, 0) + 1, ()))
        left = int(torch.randint(0, max(w - self.size, 0) + 1, ()))
        return x[..., top:top + self.size, left:left + self.size]


def make_early_crop(size: int, fraction: float, total_steps: int) -> EarlyCrop | None:
    """An `EarlyCrop` over the first ``fraction`` of ``total_steps``, or None when ``size`` is 0."""
    return EarlyCrop(size, round(fraction * total_steps)) if size else None
