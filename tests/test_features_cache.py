"""The feature cache: a second computation with the same images and settings loads, not recomputes."""
from __future__ import annotations

import numpy as np

from cnnlab.features import ColorHistogram, FeatureCache, Pixels, compute_features, transform_batched


class CountingHistogram(ColorHistogram):
    """A color histogram that counts the images it transforms."""

    def __init__(self, bins: int = 8) -> None:
        super().__init__(bins)
        self.seen = 0

    def transform(self, images: np.ndarray) -> np.ndarray:
        self.seen += len(images)
        return super().transform(images)


def splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        name: (rng.integers(0, 256, (n, 1, 6, 6), dtype=np.uint8), rng.integers(0, 3, n))
        for name, n in (("train", 12), ("val", 0), ("test", 5))
    }


def test_second_call_loads_from_the_cache(tmp_path):
    cache, data = FeatureCache(tmp_path), splits()
    first = CountingHistogram()
    computed = compute_features(first, data, label="toy-hist", cache=cache, show_progress=False)
    assert first.seen == 17 and not computed.cached
    assert len(list(tmp_path.glob("toy-hist-*.npz"))) == 1

    second = CountingHistogram()
    loaded = compute_features(second, data, label="toy-hist", cache=cache, show_progress=False)
    assert second.seen == 0 and loaded.cached  # nothing recomputed
    for name in data:
        np.testing.assert_array_equal(loaded.x[name], computed.x[name])
        np.testing.assert_array_equal(loaded.y[name], data[name][1])
    assert loaded.x["val"].shape == (0, 8)


def test_other_images_or_settings_miss_the_cache(tmp_path):
    cache = FeatureCache(tmp_path)
    compute_features(CountingHistogram(), splits(0), label="toy", cache=cache, show_progress=False)
    other_data = CountingHistogram()
    compute_features(other_data, splits(1), label="toy", cache=cache, show_progress=False)
    other_bins = CountingHistogram(bins=4)
    compute_features(other_bins, splits(0), label="toy", cache=cache, show_progress=False)
    assert other_data.seen == 17 and other_bins.seen == 17
    assert len(list(tmp_path.glob("*.npz"))) == 3


def test_raw_pixels_are_not_cached(tmp_path):
    compute_features(Pixels(), splits(), label="toy-pixels", cache=FeatureCache(tmp_path), show_progress=False)
    assert not list(tmp_path.iterdir())


def test_a_damaged_cache_file_is_recomputed(tmp_path):
    cache, data = FeatureCache(tmp_path), splits()
    compute_features(CountingHistogram(), data, label="toy", cache=cache, show_progress=False)
    next(tmp_path.glob("*.npz")).write_bytes(b"not an npz")
    again = CountingHistogram()
    assert not compute_features(again, data, label="toy", cache=cache, show_progress=False).cached
    assert again.seen == 17


def test_batches_give_the_same_features_as_one_call():
    images = splits()["train"][0]
    extractor = CountingHistogram()
    np.testing.assert_array_equal(transform_batched(extractor, images, batch_size=5), extractor.transform(images))
