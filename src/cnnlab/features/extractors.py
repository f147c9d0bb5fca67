"""Hand-crafted image features: raw pixels, color histograms, HoG, and their concatenations.

``build_extractor("hog+color-hist", options)`` looks each part up in `EXTRACTORS` (the bag of
visual words lives in `cnnlab.features.bovw`). All extractors take uint8 images (N, C, H, W).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from skimage.feature import hog

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.features._base import FeatureExtractor, FeatureOptions, ImageShape, check_images, row_histograms
from cnnlab.features.bovw import BagOfVisualWords


class Pixels(FeatureExtractor):
    """The image itself, flattened and scaled to 0..1: D = C*H*W (the linear classifier's input)."""

    name = "pixels"
    cacheable = False
    standardize = False

    @classmethod
    def from_options(cls, options: FeatureOptions) -> "Pixels":
        return cls()

    def transform(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        return images.reshape(len(images), -1).astype(np.float32) / 255.0

    def output_dim(self, image_shape: ImageShape) -> int:
        c, h, w = image_shape
        return c * h * w


class ColorHistogram(FeatureExtractor):
    """One intensity histogram per channel (a gray image gets one), each normalised to sum 1.

    ``bins`` equal-width bins over 0..255; D = C*bins. Where a color is in the image is lost,
    only how much of it there is remains.
    """

    name = "color-hist"

    def __init__(self, bins: int = 16) -> None:
        if not 1 <= bins <= 256:
            raise ConfigError(f"color-hist bins must be in 1..256, got {bins}")
        self.bins = bins

    @classmethod
    def from_options(cls, options: FeatureOptions) -> "ColorHistogram":
        return cls(options.hist_bins)

    def transform(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        n, c, h, w = images.shape
        bin_of = images.reshape(n * c, h * w).astype(np.int64) * self.bins // 256  # (N*C, H*W)
        counts = row_histograms(bin_of, self.bins)  # (N*C, bins)
        return (counts.reshape(n, c * self.bins) / (h * w)).astype(np.float32)

    def output_dim(self, image_shape: ImageShape) -> int:
        return image_shape[0] * self.bins

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "bins": self.bins}


class Hog(FeatureExtractor):
    """Histograms of oriented gradients (Dalal & Triggs 2005) via `skimage.feature.hog`.

    The image is cut into ``cell`` x ``cell``-pixel cells (pixels past the last whole cell are
    dropped); each cell histograms its gradient orientations (unsigned, 0..180 degrees) into
    ``bins`` bins weighted by gradient magnitude. Cells are grouped into overlapping blocks of
    ``block`` x ``block`` cells, sliding one cell at a time, and each block's vector is
    normalised with L2-Hys (L2 norm, clip at 0.2, renormalise), Dalal & Triggs' choice: it makes
    the feature insensitive to local contrast. Color images use, at each pixel, the channel with
    the strongest gradient (scikit-image's rule), so D does not depend on C:

        D = (H//cell - block + 1) * (W//cell - block + 1) * block**2 * bins

    28x28 with 8x8 cells, 2x2 blocks and 9 bins: 3x3 cells, 2x2 blocks, D = 2*2*4*9 = 144.

    ``sqrt``: gamma compression (Dalal & Triggs' square-root option, skimage's ``transform_sqrt``):
    gradients of sqrt(image), which evens out the weight of dark and bright regions.
    """

    name = "hog"
    block_norm = "L2-Hys"

    def __init__(self, cell: int = 8, bins: int = 9, block: int = 2, sqrt: bool = False) -> None:
        if cell < 1 or bins < 1 or block < 1:
            raise ConfigError(f"hog cell, bins and block must be positive, got cell={cell} bins={bins} block={block}")
        self.cell, self.bins, self.block, self.sqrt = cell, bins, block, sqrt

    @classmethod
    def from_options(cls, options: FeatureOptions) -> "Hog":
        return cls(options.hog_cell, options.hog_bins, options.hog_block, options.hog_sqrt)

    def _blocks(self, height: int, width: int) -> tuple[int, int]:
        by, bx = height // self.cell - self.block + 1, width // self.cell - self.block + 1
        if by < 1 or bx < 1:
            raise ShapeError(
                f"hog needs images of at least {self.cell * self.block}x{self.cell * self.block} pixels "
                f"({self.block}x{self.block} cells of {self.cell}x{self.cell}), got {height}x{width}: "
                "use a smaller --hog-cell or --hog-block, or a larger --image-size"
            )
        return by, bx

    def transform(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        n, c, h, w = images.shape
        out = np.empty((n, self.output_dim((c, h, w))), dtype=np.float32)
        channel_axis = -1 if c > 1 else None
        pictures = images.transpose(0, 2, 3, 1) if c > 1 else images[:, 0]  # (N, H, W, C) or (N, H, W)
        for i, picture in enumerate(pictures):
            out[i] = hog(
                picture,
                orientations=self.bins,
                pixels_per_cell=(self.cell, self.cell),
                cells_per_block=(self.block, self.block),
                block_norm=self.block_norm,
                transform_sqrt=self.sqrt,
                feature_vector=True,
                channel_axis=channel_axis,
            )
        return out

    def output_dim(self, image_shape: ImageShape) -> int:
        by, bx = self._blocks(*image_shape[1:])
        return by * bx * self.block**2 * self.bins

    def settings(self) -> dict[str, Any]:
        settings = {"name": self.name, "cell": self.cell, "bins": self.bins, "block": self.block, "block_norm": self.block_norm}
        return {**settings, "sqrt": True} if self.sqrt else settings  # without it: the cache keys of before


class Concatenation(FeatureExtractor):
    """Several extractors side by side: D is the sum of theirs (``hog+color-hist``)."""

    def __init__(self, parts: Sequence[FeatureExtractor]) -> None:
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)  # type: ignore[misc]
        self.cacheable = any(p.cacheable for p in self.parts)
        self.standardize = any(p.standardize for p in self.parts)  # mixed scales

    def fit(self, images: np.ndarray) -> "Concatenation":
        for part in self.parts:
            part.fit(images)
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([part.transform(images) for part in self.parts], axis=1)

    def output_dim(self, image_shape: ImageShape) -> int:
        return sum(part.output_dim(image_shape) for part in self.parts)

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "parts": [part.settings() for part in self.parts]}


# name -> builder from the shared options
EXTRACTORS: dict[str, Callable[[FeatureOptions], FeatureExtractor]] = {
    Pixels.name: Pixels.from_options,
    ColorHistogram.name: ColorHistogram.from_options,
    Hog.name: Hog.from_options,
    BagOfVisualWords.name: BagOfVisualWords.from_options,
}


def list_extractors() -> list[str]:
    """Names usable in a method spec (join several with '+')."""
    return list(EXTRACTORS)


def build_extractor(spec: str, options: FeatureOptions | None = None) -> FeatureExtractor:
    """The extractor for ``spec``: one name of `EXTRACTORS`, or several joined by '+'."""
    options = options or FeatureOptions()
    names = [part.strip() for part in spec.split("+")]
    unknown = [n for n in names if n not in EXTRACTORS]
    if unknown or not spec.strip():
        raise ConfigError(
            f"unknown feature method {', '.join(map(repr, unknown)) or repr(spec)}: "
            f"use one of {', '.join(EXTRACTORS)} or several joined by '+' (e.g. hog+color-hist)"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"feature method {spec!r} names a part twice: list each extractor once")
    parts = [EXTRACTORS[n](options) for n in names]
    return parts[0] if len(parts) == 1 else Concatenation(parts)
