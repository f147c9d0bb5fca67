"""Feature extractors: output sizes, agreement with scikit-image / NumPy, the BoVW codebook."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.features import (
    BagOfVisualWords,
    ColorHistogram,
    FeatureOptions,
    Hog,
    Pixels,
    build_extractor,
    compute_features,
    list_extractors,
)


def images(n: int, c: int = 1, h: int = 28, w: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, c, h, w), dtype=np.uint8)


def smooth_images(n: int, c: int = 1, size: int = 28, seed: int = 0) -> np.ndarray:
    """Blurry blobs (structure for k-means to find), uint8 (N, C, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for i in range(n):
        cy, cx, r = rng.uniform(5, size - 5, 2).tolist() + [rng.uniform(3, 8)]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        out[i] = (255 * blob)[None].repeat(c, 0).astype(np.uint8)
    return out


# --- HoG ------------------------------------------------------------------------------------------

def hog_dim_by_formula(h: int, w: int, cell: int, block: int, bins: int) -> int:
    """Dalal-Triggs layout: whole cells only, blocks slide by one cell, block*block*bins per block."""
    return (h // cell - block + 1) * (w // cell - block + 1) * block * block * bins


@pytest.mark.parametrize(
    "c, h, w, cell, block, bins",
    [(1, 28, 28, 8, 2, 9), (1, 28, 28, 8, 1, 9), (1, 28, 28, 4, 2, 9), (3, 32, 32, 8, 2, 9), (1, 30, 20, 6, 3, 12)],
)
def test_hog_dim_matches_formula_and_skimage(c, h, w, cell, block, bins):
    extractor = Hog(cell=cell, bins=bins, block=block)
    x = images(3, c, h, w)
    features = extractor.transform(x)
    expected = hog_dim_by_formula(h, w, cell, block, bins)
    assert extractor.output_dim((c, h, w)) == expected == features.shape[1]
    picture = x[0, 0] if c == 1 else x[0].transpose(1, 2, 0)
    reference = hog(picture, orientations=bins, pixels_per_cell=(cell, cell), cells_per_block=(block, block),
                    block_norm="L2-Hys", channel_axis=None if c == 1 else -1)
    np.testing.assert_allclose(features[0], reference, rtol=1e-5, atol=1e-6)


def test_hog_default_on_28x28_is_144():
    """The course's setting: 8x8 cells (3x3 of them in 28x28), 9 bins, 2x2-cell blocks -> 2*2*4*9."""
    assert build_extractor("hog").output_dim((1, 28, 28)) == 144


def test_hog_sqrt_is_skimages_gamma_compression_and_its_own_cache_entry():
    x = smooth_images(2)
    plain, compressed = Hog(cell=4), build_extractor("hog", FeatureOptions(hog_cell=4, hog_sqrt=True))
    reference = hog(x[0, 0], orientations=9, pixels_per_cell=(4, 4), cells_per_block=(2, 2), block_norm="L2-Hys",
                    transform_sqrt=True)
    np.testing.assert_allclose(compressed.transform(x)[0], reference, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain.transform(x), compressed.transform(x))
    assert compressed.settings()["sqrt"] is True and "sqrt" not in plain.settings()  # old cache keys stay valid


def test_hog_too_small_image_is_a_clear_error():
    with pytest.raises(ShapeError, match="--hog-cell"):
        Hog().output_dim((1, 8, 8))


# --- color histogram, pixels ----------------------------------------------------------------------

@pytest.mark.parametrize("c, bins", [(1, 16), (3, 8), (3, 256)])
def test_color_hist_sums_to_one_per_channel_and_matches_numpy(c, bins):
    x = images(4, c, 10, 12)
    features = ColorHistogram(bins).transform(x)
    assert features.shape == (4, c * bins)
    per_channel = features.reshape(4, c, bins)
    np.testing.assert_allclose(per_channel.sum(axis=2), 1.0, rtol=1e-6)
    counts, _ = np.histogram(x[2, c - 1], bins=bins, range=(0, 256))
    np.testing.assert_allclose(per_channel[2, c - 1], counts / x[2, c - 1].size, rtol=1e-6)


def test_pixels_is_the_flattened_image_in_0_1():
    x = images(2, 3, 5, 4)
    features = Pixels().transform(x)
    assert features.shape == (2, 60)
    np.testing.assert_allclose(features[1].reshape(3, 5, 4), x[1] / 255.0, rtol=1e-6)


def test_concatenation_stacks_parts_in_order():
    x = images(3)
    both = build_extractor("hog+color-hist", FeatureOptions(hist_bins=10))
    assert both.name == "hog+color-hist"
    assert both.output_dim((1, 28, 28)) == 144 + 10
    np.testing.assert_array_equal(both.transform(x), np.hstack([Hog().transform(x), ColorHistogram(10).transform(x)]))


def test_unknown_or_repeated_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown feature method 'sift'.*hog"):
        build_extractor("hog+sift")
    with pytest.raises(ConfigError, match="twice"):
        build_extractor("hog+hog")
    assert set(list_extractors()) == {"pixels", "color-hist", "hog", "bovw"}


def test_extractors_refuse_float_images():
    with pytest.raises(ShapeError, match="uint8"):
        Pixels().transform(np.zeros((1, 1, 4, 4), dtype=np.float32))


# --- bag of visual words -------------------------------------------------------------------------

def small_bovw(seed: int = 0) -> BagOfVisualWords:
    return BagOfVisualWords(words=8, patch=5, stride=3, samples=400, seed=seed)


def test_bovw_histogram_sums_to_one_and_has_words_dims():
    x = smooth_images(20)
    features = small_bovw().fit(x).transform(x)
    assert features.shape == (20, 8) == (20, small_bovw().output_dim((1, 28, 28)))
    np.testing.assert_allclose(features.sum(axis=1), 1.0, rtol=1e-6)


def test_bovw_codebook_is_deterministic_given_the_seed():
    x = smooth_images(30)
    np.testing.assert_array_equal(small_bovw(seed=3).fit(x).codebook, small_bovw(seed=3).fit(x).codebook)
    assert not np.array_equal(small_bovw(seed=3).fit(x).codebook, small_bovw(seed=4).fit(x).codebook)


def test_bovw_needs_fit_before_transform():
    with pytest.raises(ConfigError, match="fit"):
        small_bovw().transform(smooth_images(2))


def test_bovw_codebook_is_fit_on_train_only():
    """Through the pipeline: the codebook equals one fitted on the training images alone, and
    changing the test images changes nothing about it."""
    train, test = smooth_images(30, seed=1), smooth_images(10, seed=2)
    labels = np.zeros(30, dtype=np.int64), np.zeros(10, dtype=np.int64)
    alone = small_bovw().fit(train).codebook

    used = small_bovw()
    compute_features(used, {"train": (train, labels[0]), "test": (test, labels[1])}, label="t", show_progress=False)
    np.testing.assert_array_equal(used.codebook, alone)

    other = small_bovw()
    compute_features(other, {"train": (train, labels[0]), "test": (255 - test, labels[1])}, label="t", show_progress=False)
    np.testing.assert_array_equal(other.codebook, alone)
