"""Computing features for the splits of a dataset: fit on train, transform in batches, cache.

The extractor is fitted on the training images only (the bag of visual words learns its
codebook there), then every split is transformed batch by batch under a rich progress bar.
With a `FeatureCache`, the result is stored and a second call with the same images and
settings loads it instead of recomputing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Mapping

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cnnlab.errors import DataError
from cnnlab.features._base import FeatureExtractor
from cnnlab.features.cache import FeatureCache, cache_key, fingerprint

TRAIN = "train"


@dataclass
class FeatureSet:
    """Features ``x[split]`` (N, D) float32 and labels ``y[split]`` (N,) of every split."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    dim: int
    extract_time_s: float  # fitting the extractor + transforming all splits (0 when cached)
    cached: bool  # loaded from the cache


def progress_bar(show: bool = True) -> Progress:
    """The progress display used for feature batches (on stderr, hidden when ``show`` is False)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("images"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show,
    )


def transform_batched(
    extractor: FeatureExtractor,
    images: np.ndarray,
    *,
    batch_size: int = 2000,
    progress: Progress | None = None,
    description: str = "",
) -> np.ndarray:
    """``extractor.transform`` over ``images`` (N, C, H, W) ``batch_size`` at a time -> (N, D) float32."""
    dim = extractor.output_dim(images.shape[1:])
    out = np.empty((len(images), dim), dtype=np.float32)
    task = progress.add_task(description or extractor.name, total=len(images)) if progress else None
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        out[start : start + len(batch)] = extractor.transform(batch)
        if progress is not None and task is not None:
            progress.advance(task, len(batch))
    return out


def compute_features(
    extractor: FeatureExtractor,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    label: str,
    cache: FeatureCache | None = None,
    batch_size: int = 2000,
    show_progress: bool = True,
) -> FeatureSet:
    """Features of every split ``{name: (images uint8 (N, C, H, W), labels (N,))}``.

    ``splits`` must hold "train", on which the extractor is fitted. ``label`` names the cache
    entry (e.g. "fashion-mnist-hog"); the key also hashes the settings and all images/labels.
    """
    if TRAIN not in splits or len(splits[TRAIN][0]) == 0:
        raise DataError("feature extraction needs a non-empty training split to fit on: check the dataset and --limit")
    use_cache = cache is not None and extractor.cacheable
    key = None
    if use_cache:
        data = fingerprint(*(a for name in sorted(splits) for a in splits[name]))
        key = cache_key(label, {"extractor": extractor.settings(), "splits": sorted(splits)}, data)
        stored = cache.load(key)  # type: ignore[union-attr]
        if stored is not None:
            x = {name: stored[f"x_{name}"] for name in splits}
            return FeatureSet(x, {name: splits[name][1] for name in splits}, int(x[TRAIN].shape[1]), 0.0, True)

    start = time.perf_counter()
    progress = progress_bar(show_progress)
    with progress:
        fit_task = progress.add_task(f"fitting {extractor.name} on train", total=None)
        extractor.fit(splits[TRAIN][0])
        progress.remove_task(fit_task)
        x = {
            name: transform_batched(extractor, images, batch_size=batch_size, progress=progress,
                                    description=f"{extractor.name} {name}")
            for name, (images, _) in splits.items()
        }
    elapsed = time.perf_counter() - start
    if use_cache and key is not None:
        cache.save(key, {f"x_{name}": value for name, value in x.items()})  # type: ignore[union-attr]
    return FeatureSet(x, {name: labels for name, (_, labels) in splits.items()}, int(x[TRAIN].shape[1]), elapsed, False)
