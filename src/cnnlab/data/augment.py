"""Whole-batch image operations: resize, channel conversion, augmentation, normalization.

Everything works on a batch tensor (B, C, H, W) on any device, with no per-image Python loop.
Random draws come from a CPU `torch.Generator` (so a seed gives the same batches on CPU and CUDA)
and are then moved to the batch's device.

Augmentation rules (`AugmentConfig`):
- crop_padding=p: pad each image by p pixels of 0 (black, before normalization) on every side,
  then crop back to (H, W) at a uniformly random offset per image (torchvision RandomCrop(padding=p)).
- hflip: mirror each image left-right with probability 0.5. With alternate_flip, instead, each
  image is mirrored in every other epoch: a seeded random half of the images in even epochs, the
  other half in odd ones (airbench's alternating flip: every image is seen both ways every two
  epochs, where independent coin flips repeat a side a quarter of the time).
- erasing=q: with probability q per image, set one rectangle to 0 after normalization (the dataset
  mean). Its area is uniform in 2%..33% of the image and its aspect ratio log-uniform in 0.3..3.3,
  as torchvision's RandomErasing defaults; sides are clipped to the image, position uniform.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from cnnlab.errors import ConfigError

ERASE_AREA = (0.02, 0.33)
ERASE_RATIO = (0.3, 3.3)
ALTERNATE_FLIP_KEY = 0xF11B  # mixed with the seed: the first epoch's flips are not the order's numbers


@dataclass
class AugmentConfig:
    """Batch augmentation settings; all off by default. See the module docstring for the exact rules."""

    crop_padding: int = 0
    hflip: bool = False
    erasing: float = 0.0  # probability of random erasing (cutout) per image
    alternate_flip: bool = False  # with hflip: mirror each image in every other epoch, not at random

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ConfigError(f"crop_padding must be >= 0 pixels, got {self.crop_padding}")
        if not 0.0 <= self.erasing <= 1.0:
            raise ConfigError(f"erasing is a probability in [0, 1], got {self.erasing}")

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.hflip or self.erasing > 0


def _gray_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1)


def _rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    return TF.rgb_to_grayscale(x, num_output_channels=1)


def _drop_alpha(x: torch.Tensor) -> torch.Tensor:
    return x[:, :3]


# (channels in, channels out) -> conversion; RGBA only comes from image folders (alpha is dropped).
_CHANNEL_CONVERSIONS = {
    (1, 3): _gray_to_rgb,
    (3, 1): _rgb_to_gray,
    (4, 3): _drop_alpha,
    (4, 1): lambda x: _rgb_to_gray(_drop_alpha(x)),
}


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, C, H, W) float -> (B, channels, H, W): gray<->RGB (ITU-R 601 luma), RGBA -> RGB/gray."""
    have = x.shape[1]
    if have == channels:
        return x
    conv = _CHANNEL_CONVERSIONS.get((have, channels))
    if conv is None:
        raise ConfigError(f"cannot convert {have}-channel images to {channels} channels; use 1 (gray) or 3 (RGB)")
    return conv(x)


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear, antialiased resize of a float batch to (H, W); no-op when already that size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(x, list(size), antialias=True)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """0..255 batch (uint8 or float) -> float32 (x/255 - mean) / std per channel, as one fused x*a + b."""
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise ConfigError(f"mean/std have {len(mean)}/{len(std)} values but the batches have {x.shape[1]} "
                          "channels; pass the statistics of the same channel count")
    std_t = torch.as_tensor(std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
    return torch.addcmul(-mean_t / std_t, x, 1.0 / (255.0 * std_t))


def random_crop_flip(x: torch.Tensor, padding: int, hflip: bool, gen: torch.Generator,
                     flip: torch.Tensor | None = None) -> torch.Tensor:
    """Random crop of the zero-padded image, then a random left-right flip, as one gather (any dtype).

    Pixel (i, j) of the result is padded pixel (i + dy, j' + dx), with j' = W-1-j for flipped images.
    ``flip`` (B,) bool decides the flips instead of coin tosses (alternating flip).
    """
    b, c, h, w = x.shape
    wp = w + 2 * padding
    dy, dx = torch.randint(0, 2 * padding + 1, (2, b), generator=gen)
    cols = torch.arange(w).expand(b, w)
    if hflip:
        if flip is None:
            flip = torch.rand(b, generator=gen) < 0.5
        cols = torch.where(flip.cpu()[:, None], w - 1 - cols, cols)
    rows = torch.arange(h)[None, :] + dy[:, None]  # (B, H)
    index = (rows[:, :, None] * wp + (cols + dx[:, None])[:, None, :]).flatten(1).to(x.device)  # (B, H*W)
    padded = torch.nn.functional.pad(x, (padding,) * 4) if padding else x  # zeros around
    return padded.flatten(2).gather(2, index[:, None, :].expand(b, c, h * w)).view(b, c, h, w)


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` and crop back to (H, W) at a random offset per image."""
    return random_crop_flip(x, padding, False, gen)


def random_hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 0.5."""
    return random_crop_flip(x, 0, True, gen)


def random_erasing(x: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Zero one random rectangle per image with probability `prob`, in place (rule in the module docstring)."""
    b, _, h, w = x.shape
    u = torch.rand(5, b, generator=gen, dtype=torch.float64)
    area = (ERASE_AREA[0] + u[1] * (ERASE_AREA[1] - ERASE_AREA[0])) * h * w
    log_lo, log_hi = math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1])
    ratio = torch.exp(log_lo + u[2] * (log_hi - log_lo))
    eh = (area * ratio).sqrt().round().clamp(1, h).long()
    ew = (area / ratio).sqrt().round().clamp(1, w).long()
    top = (u[3] * (h - eh + 1)).long()
    left = (u[4] * (w - ew + 1)).long()
    rows = torch.arange(h)
    cols = torch.arange(w)
    in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None]) & (u[0] < prob)[:, None]  # (B, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])  # (B, W)
    inside = (in_rows[:, :, None] & in_cols[:, None, :]).to(x.device)  # (B, H, W)
    return x.masked_fill_(inside[:, None], 0.0)


def batch_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded by a well-mixed function of integer keys (seed, epoch, rank, batch)."""
    import numpy as np

    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def even_epoch_flips(num_images: int, seed: int) -> torch.Tensor:
    """(num_images,) bool: which images alternating flip mirrors in even epochs (odd epochs: the rest)."""
    return torch.rand(num_images, generator=batch_generator(seed, ALTERNATE_FLIP_KEY)) < 0.5


def prepare_batch(images: torch.Tensor, *, size: Sequence[int], channels: int, mean: Sequence[float],
                  std: Sequence[float], augment: AugmentConfig | None, gen: torch.Generator | None,
                  flip: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (B, C, H, W) on its device -> normalized float32 (B, channels, *size), augmented if asked.

    ``flip`` (B,) bool: the images to mirror (alternating flip); None draws them at random.

    Few, fused passes (one gather for crop+flip, one for normalization): each pass is a parallel
    region, and on a busy machine every region costs a thread hand-off.
    """
    x = images
    if tuple(x.shape[-2:]) != tuple(size) or x.shape[1] != channels:
        x = convert_channels(resize(x.float(), size), channels)
    if augment is not None and (augment.crop_padding or augment.hflip):
        if gen is None:
            raise ValueError("random crop/flip augmentation needs a torch.Generator")
        x = random_crop_flip(x, augment.crop_padding, augment.hflip, gen, flip)
    x = normalize(x, mean, std)  # a new float32 tensor: erasing may work in place
    if augment is not None and augment.erasing > 0:
        x = random_erasing(x, augment.erasing, gen)  # after normalization: 0 is the dataset mean
    return x
