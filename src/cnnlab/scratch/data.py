"""Turn a cnnlab dataset split (uint8 torch tensors) into the float64 NumPy arrays the scratch layers use."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnlab.errors import ConfigError


def split_to_numpy(
    split: object, mean: Sequence[float], std: Sequence[float], *, limit: int | None = None, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, C, H, W)`` scaled to 0..1 and standardized per channel, and labels ``(N,)``.

    ``split`` has ``.images`` (uint8) and ``.labels`` tensors (a ``cnnlab.data.TensorSplit``);
    with ``limit`` a seeded random subset of that many images is taken.
    """
    n = len(split.labels)
    if limit is not None and not 0 < limit:
        raise ConfigError(f"the number of samples must be positive, got {limit}")
    index = np.arange(n) if limit is None or limit >= n else np.sort(np.random.default_rng(seed).permutation(n)[:limit])
    images = split.images.numpy()[index].astype(np.float64) / 255.0
    mean = np.asarray(mean, dtype=np.float64).reshape(1, -1, 1, 1)
    std = np.asarray(std, dtype=np.float64).reshape(1, -1, 1, 1)
    return (images - mean) / std, split.labels.numpy()[index].astype(np.int64)
