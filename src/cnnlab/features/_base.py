"""The feature-extractor contract and the settings every extractor reads its own fields from.

An extractor maps uint8 images ``(N, C, H, W)`` to a float32 matrix ``(N, D)``. Extractors that
learn something (the bag-of-visual-words codebook) do it in `fit`, which is only ever called
on training images; the others are stateless and `fit` returns them unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cnnlab.errors import ShapeError

ImageShape = tuple[int, int, int]  # (C, H, W)


@dataclass(frozen=True)
class FeatureOptions:
    """Settings of all extractors; each extractor reads only its own fields.

    Defaults follow the course: HoG with 8x8-pixel cells and 9 orientation bins.
    """

    hog_cell: int = 8  # pixels per cell side
    hog_bins: int = 9  # orientation bins over 0..180 degrees
    hog_block: int = 2  # cells per block side (Dalal & Triggs: 2x2 cells, L2-Hys)
    hog_sqrt: bool = False  # gamma compression: gradients of sqrt(image) (skimage's transform_sqrt)
    hist_bins: int = 16  # color-hist: bins per channel over 0..255
    bovw_words: int = 128  # codebook size (k of k-means)
    bovw_patch: int = 5  # patch side in pixels
    bovw_stride: int = 2  # step of the dense patch grid when encoding
    bovw_samples: int = 20_000  # random training patches used to fit the codebook
    seed: int = 0


class FeatureExtractor:
    """Base class: ``fit(train_images)`` once, then ``transform(images)`` in batches."""

    name: ClassVar[str] = ""
    # False when computing is cheaper than reading a cached copy (raw pixels)
    cacheable: bool = True
    # True: the classifier standardises each feature (unit variance); False: only centres them,
    # for features already on one common scale (pixels), where dividing by a near-zero std
    # (an always-black corner) would blow that feature up
    standardize: bool = True

    def fit(self, images: np.ndarray) -> "FeatureExtractor":
        """Learn from training images (N, C, H, W); stateless extractors return self."""
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        """Features (N, D) float32 of uint8 images (N, C, H, W)."""
        raise NotImplementedError

    def output_dim(self, image_shape: ImageShape) -> int:
        """D for images of ``image_shape`` (C, H, W), without computing anything."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """What determines the output (for the cache key and meta.json)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "name")
        return f"{type(self).__name__}({fields})"


def row_histograms(bin_index: np.ndarray, bins: int) -> np.ndarray:
    """Counts (R, bins) of the integer bin indices (R, M), one histogram per row, in one bincount."""
    rows = bin_index.shape[0]
    offsets = np.arange(rows, dtype=np.int64)[:, None] * bins  # row r's bins start at r*bins
    return np.bincount((bin_index + offsets).ravel(), minlength=rows * bins).reshape(rows, bins)


def check_images(images: np.ndarray) -> np.ndarray:
    """``images`` as a uint8 (N, C, H, W) array, or a ShapeError naming what is wrong."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise ShapeError(f"feature extractors take images (N, C, H, W), got shape {images.shape}: add the channel axis")
    if images.dtype != np.uint8:
        raise ShapeError(f"feature extractors take uint8 images (0..255), got {images.dtype}: pass the dataset's raw images")
    return images
