"""Held-out splits of a folder of images: a seeded validation (and test) share, stratified by class."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnlab.errors import ConfigError


def held_out_count(n: int, fraction: float) -> int:
    """round(n * fraction), at least 1 when the fraction is positive."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {fraction}")
    return max(1, round(n * fraction)) if fraction > 0 else 0


def stratified_holdout(labels: Sequence[int], count: int, seed: int) -> tuple[list[int], list[int], bool]:
    """(kept, held-out) indices of ``labels`` with ``count`` held out by scikit-learn's seeded split.

    Stratified by label (each class keeps its share) when every class has at least two images and
    ``count`` reaches the number of classes; a plain seeded random split otherwise. The bool says which.
    """
    from sklearn.model_selection import train_test_split

    n = len(labels)
    if count >= n:
        raise ConfigError(f"holding out {count} of {n} images leaves none to train on; use a smaller --val-fraction")
    indices = np.arange(n)
    try:
        kept, held = train_test_split(indices, test_size=count, random_state=seed, stratify=np.asarray(labels))
        stratified = True
    except ValueError:  # a class of one image, or fewer held-out images than classes
        kept, held = train_test_split(indices, test_size=count, random_state=seed)
        stratified = False
    return sorted(kept.tolist()), sorted(held.tolist()), stratified
