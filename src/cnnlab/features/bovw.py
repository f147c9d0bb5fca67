"""Bag of visual words (Fei-Fei & Perona 2005; Csurka et al. 2004), on raw pixel patches.

1. Codebook (`fit`, training images only): cut ``samples`` random ``patch`` x ``patch`` patches
   from the training images, contrast-normalise each, and cluster them with k-means
   (scikit-learn's MiniBatchKMeans, seeded): the ``words`` centres are the "visual words".
2. Encoding (`transform`): cut every image into patches on a dense grid (step ``stride``),
   assign each patch to its nearest word, and count: the feature is the normalised histogram of
   words (D = ``words``, sums to 1). Where in the image a word occurs is lost, as in a bag.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.cluster import MiniBatchKMeans

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.features._base import FeatureExtractor, FeatureOptions, ImageShape, check_images, row_histograms

# Contrast normalisation (x - mean) / (std + CONTRAST_EPS) in 0..255 units: the constant keeps flat
# patches (background) near zero instead of blowing up their noise (Coates & Ng 2011 use 10).
CONTRAST_EPS = 10.0


def normalise_patches(patches: np.ndarray) -> np.ndarray:
    """Per-patch brightness and contrast normalisation of (P, D) raw patches -> float32 (P, D)."""
    patches = patches.astype(np.float32)
    centred = patches - patches.mean(axis=1, keepdims=True)
    return centred / (patches.std(axis=1, keepdims=True) + CONTRAST_EPS)


class BagOfVisualWords(FeatureExtractor):
    """Histogram of visual words over a k-means codebook of training patches (see module docs)."""

    name = "bovw"

    def __init__(self, words: int = 128, patch: int = 5, stride: int = 2, samples: int = 20_000, seed: int = 0) -> None:
        if words < 2 or patch < 1 or stride < 1 or samples < words:
            raise ConfigError(
                f"bovw needs words >= 2, patch >= 1, stride >= 1 and samples >= words; "
                f"got words={words} patch={patch} stride={stride} samples={samples}"
            )
        self.words, self.patch, self.stride, self.samples, self.seed = words, patch, stride, samples, seed
        self.kmeans: MiniBatchKMeans | None = None

    @classmethod
    def from_options(cls, options: FeatureOptions) -> "BagOfVisualWords":
        return cls(options.bovw_words, options.bovw_patch, options.bovw_stride, options.bovw_samples, options.seed)

    @property
    def codebook(self) -> np.ndarray:
        """The visual words (words, C*patch*patch) in normalised-patch space."""
        return self._fitted().cluster_centers_

    def _check_size(self, height: int, width: int) -> None:
        if min(height, width) < self.patch:
            raise ShapeError(f"bovw patches of {self.patch}x{self.patch} do not fit {height}x{width} images: use a smaller --bovw-patch")

    def _fitted(self) -> MiniBatchKMeans:
        if self.kmeans is None:
            raise ConfigError("the bovw codebook is not fitted: call fit(train_images) before transform")
        return self.kmeans

    def random_patches(self, images: np.ndarray) -> np.ndarray:
        """``samples`` raw patches (samples, C*patch*patch) at seeded random images and places."""
        images = check_images(images)
        n, c, h, w = images.shape
        self._check_size(h, w)
        rng = np.random.default_rng(self.seed)
        idx = rng.integers(0, n, self.samples)
        ys, xs = rng.integers(0, h - self.patch + 1, self.samples), rng.integers(0, w - self.patch + 1, self.samples)
        window = np.arange(self.patch)
        # (samples, C, patch, patch) by fancy indexing: rows ys+window, columns xs+window
        patches = images[idx[:, None, None, None], np.arange(c)[None, :, None, None],
                         (ys[:, None] + window)[:, None, :, None], (xs[:, None] + window)[:, None, None, :]]
        return patches.reshape(self.samples, -1)

    def fit(self, images: np.ndarray) -> "BagOfVisualWords":
        """Learn the codebook from training images (N, C, H, W)."""
        patches = normalise_patches(self.random_patches(images))
        self.kmeans = MiniBatchKMeans(n_clusters=self.words, random_state=self.seed, n_init=3, batch_size=2048)
        self.kmeans.fit(patches)
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        kmeans = self._fitted()
        images = check_images(images)
        n, c = images.shape[:2]
        self._check_size(*images.shape[2:])
        grid = sliding_window_view(images, (self.patch, self.patch), axis=(2, 3))[:, :, :: self.stride, :: self.stride]
        gy, gx = grid.shape[2:4]  # grid: (N, C, gy, gx, patch, patch)
        patches = grid.transpose(0, 2, 3, 1, 4, 5).reshape(n * gy * gx, c * self.patch**2)
        words = kmeans.predict(normalise_patches(patches)).reshape(n, gy * gx)
        return (row_histograms(words.astype(np.int64), self.words) / (gy * gx)).astype(np.float32)

    def output_dim(self, image_shape: ImageShape) -> int:
        self._check_size(*image_shape[1:])
        return self.words

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "words": self.words, "patch": self.patch, "stride": self.stride,
                "samples": self.samples, "seed": self.seed}
