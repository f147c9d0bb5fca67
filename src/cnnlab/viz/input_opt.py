"""Optimising an input image against a trained model: the shared parts of class visualisation,
feature visualisation and fooling images (`cnnlab.viz.neurons`).

The image lives in the model's normalized space; `PixelSpace` knows the range of valid pixels
(0..1 before normalization) and turns an optimised tensor back into a picture. The regularisers
are those of cs231n assignment 3 (L2 penalty, blur, jitter) and of Lucid/lucent's
"transformation robustness" (random jitter, scale and rotation each step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PixelSpace:
    """The model's input space: per-channel mean/std, and the valid range of normalized pixels."""

    mean: torch.Tensor  # (1, C, 1, 1)
    std: torch.Tensor   # (1, C, 1, 1)
    shape: tuple[int, int, int]  # (C, H, W)

    @classmethod
    def of(cls, meta: Mapping[str, Any], device: str | torch.device = "cpu") -> "PixelSpace":
        c = int(meta["in_channels"])
        mean = torch.tensor([float(v) for v in meta["mean"]], device=device).reshape(1, -1, 1, 1).expand(1, c, 1, 1)
        std = torch.tensor([float(v) for v in meta["std"]], device=device).reshape(1, -1, 1, 1).expand(1, c, 1, 1)
        return cls(mean.clone(), std.clone(), (c, *[int(s) for s in meta["input_size"]]))

    @property
    def low(self) -> torch.Tensor:
        return -self.mean / self.std

    @property
    def high(self) -> torch.Tensor:
        return (1 - self.mean) / self.std

    def clamp(self, x: torch.Tensor) -> torch.Tensor:
        return torch.max(torch.min(x, self.high), self.low)

    def to_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized (1, C, H, W) -> 0..1."""
        return (x * self.std + self.mean).clamp(0, 1)

    def noise(self, generator: torch.Generator, scale: float = 0.1) -> torch.Tensor:
        """A mid-gray image with a little noise, in normalized space (the starting point)."""
        pixels = 0.5 + scale * torch.randn(1, *self.shape, generator=generator)
        return ((pixels.clamp(0, 1).to(self.mean.device)) - self.mean) / self.std


def display(pixels: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in 0..1 -> (H, W) gray or (H, W, 3) color, for drawing."""
    img = pixels[0].detach().float().cpu().permute(1, 2, 0).numpy()
    return img[..., 0] if img.shape[-1] == 1 else img


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of each channel (a 5-tap separable kernel), reflect padding."""
    taps = torch.arange(-2, 3, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-taps ** 2 / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    h = min(2, x.shape[2] - 1)
    w = min(2, x.shape[3] - 1)
    x = F.pad(x, (w, w, h, h), mode="reflect")
    x = F.conv2d(x, kernel[2 - w:3 + w].reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, kernel[2 - h:3 + h].reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def jitter(x: torch.Tensor, generator: torch.Generator, pixels: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """``x`` rolled by a random offset of up to ``pixels`` each way; the offset undoes it."""
    if pixels <= 0:
        return x, (0, 0)
    dy, dx = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=generator))
    return torch.roll(x, (dy, dx), (2, 3)), (dy, dx)


def random_transform(x: torch.Tensor, generator: torch.Generator, *, scale: float = 0.1, degrees: float = 10.0,
                     shift: float = 0.1) -> torch.Tensor:
    """A random scale, rotation and shift of ``x`` (differentiable; lucent's transformation robustness)."""
    s = 1 + scale * (2 * torch.rand((), generator=generator) - 1)
    a = math.radians(degrees) * (2 * torch.rand((), generator=generator) - 1)
    t = shift * (2 * torch.rand(2, generator=generator) - 1)
    theta = torch.tensor([[torch.cos(a) / s, -torch.sin(a) / s, t[0]],
                          [torch.sin(a) / s, torch.cos(a) / s, t[1]]], dtype=x.dtype, device=x.device)[None]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
