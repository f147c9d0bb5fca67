"""Dataset splits as the uint8 numpy arrays feature extractors take.

A `TensorSplit` stores images at their native size and channel count and only says what size
and channels the loaders produce (`resize_to`, `channels_to`); here that view is made real once,
with the data package's own conversions, and rounded back to uint8. A streaming image-folder
split is decoded item by item (already at its size); unreadable files are skipped.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cnnlab.errors import ConfigError


def _tensor_split(split: Any, n: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    from cnnlab.data.augment import convert_channels, resize

    images, labels = split.images[:n], split.labels[:n]
    size, channels = tuple(split.image_size), int(split.channels)
    if tuple(images.shape[-2:]) == size and images.shape[1] == channels:
        return images, labels
    converted = [
        resize(convert_channels(images[s : s + chunk].float(), channels), size).round().clamp_(0, 255).to(torch.uint8)
        for s in range(0, n, chunk)
    ]
    return (torch.cat(converted) if converted else images.new_zeros((0, channels, *size))), labels


def _streaming_split(split: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    items = [split[i] for i in range(n)]
    kept = [(item[0], item[1]) for item in items if item[0] is not None]
    if not kept:
        return torch.zeros((0, split.channels, *split.image_size), dtype=torch.uint8), torch.zeros(0, dtype=torch.int64)
    return torch.stack([image for image, _ in kept]), torch.tensor([label for _, label in kept], dtype=torch.int64)


def split_arrays(split: Any, limit: int | None = None, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, C, H, W), labels int64 (N,)) of a dataset split, the first ``limit`` only."""
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be a positive number of images, got {limit}")
    n = len(split) if limit is None else min(limit, len(split))
    images, labels = _tensor_split(split, n, chunk) if hasattr(split, "images") else _streaming_split(split, n)
    return images.numpy(), labels.numpy()
