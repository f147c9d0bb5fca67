"""Virtual support vectors (`cnnlab features ... --classifier kernel-svm --virtual-sv 4`)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.svm import SVC

from cnnlab.errors import ConfigError
from cnnlab.features import ClassifierOptions, FeatureRunConfig, build_classifier, run_features
from cnnlab.features.run import MIRROR, load_splits, with_mirrors
from cnnlab.features.virtual import SHIFTS, check_copies, translate
from eval_support import run_cli


def test_translate_moves_pixels_and_fills_black():
    images = np.arange(1, 2 * 3 * 4 * 5 + 1, dtype=np.uint8).reshape(2, 3, 4, 5)
    right = translate(images, 0, 1)
    assert right.dtype == np.uint8 and right.shape == images.shape
    assert np.array_equal(right[..., 1:], images[..., :-1]) and not right[..., 0].any()
    up = translate(images, -1, 0)
    assert np.array_equal(up[..., :-1, :], images[..., 1:, :]) and not up[..., -1, :].any()
    diagonal = translate(images, 1, -1)
    assert np.array_equal(diagonal[..., 1:, :-1], images[..., :-1, 1:])
    assert not diagonal[..., 0, :].any() and not diagonal[..., :, -1].any()
    assert np.array_equal(translate(images, 0, 0), images)


def test_shift_sets_are_distinct_one_pixel_moves():
    for copies, shifts in SHIFTS.items():
        assert len(set(shifts)) == copies and all(max(abs(d), abs(r)) == 1 for d, r in shifts)


def test_refit_matches_a_hand_built_virtual_support_vector_svm(tmp_path):
    """The run equals: fit an RBF SVM, shift its support vectors' images by one pixel four ways,
    refit on support vectors + shifts with the first fit's gamma, score test image + mirror."""
    options = ClassifierOptions(C=5.0)
    config = FeatureRunConfig("pixels", "digits", classifier="kernel-svm", limit=300, hflip=True, virtual_sv=4,
                              use_cache=False, classifier_options=options)
    result = run_features(config, tmp_path / "run", show_progress=False)

    _, splits = load_splits(config)
    views = with_mirrors(splits)
    flat = lambda images: images.reshape(len(images), -1) / 255.0  # noqa: E731 - the pixels extractor
    train_images = np.concatenate([views["train"][0], views["train" + MIRROR][0]])
    y_train = np.tile(splits["train"][1], 2)
    first = build_classifier("kernel-svm", options, standardize=False).fit(flat(train_images), y_train)
    support = np.sort(first[-1].support_)
    images = np.concatenate([train_images[support]] + [translate(train_images[support], d, r) for d, r in SHIFTS[4]])
    preprocess = first[:-1]
    second = SVC(C=5.0, kernel="rbf", gamma=first[-1]._gamma).fit(preprocess.transform(flat(images)), np.tile(y_train[support], 5))
    scores = sum(second.decision_function(preprocess.transform(flat(views[name][0]))) for name in ("test", "test" + MIRROR))
    expected = (second.classes_[scores.argmax(1)] == splits["test"][1]).mean()

    virtual = result.results["virtual_sv"]
    assert virtual == {"copies": 4, "first_fit_samples": 600, "support_vectors": len(support),
                       "second_fit_samples": 5 * len(support)}
    assert 0 < len(support) < 600
    assert result.results["test_acc"] == pytest.approx(expected)
    assert result.results["params"] == second.support_vectors_.size + second.dual_coef_.size + second.intercept_.size


def test_cli_virtual_sv_with_cached_features(tmp_path, capsys):
    args = ["features", "hog", "--data", "digits", "--image-size", "16", "--hog-cell", "4", "--limit", "200",
            "--classifier", "kernel-svm", "--virtual-sv", "8", "-q", "--cache-dir", tmp_path / "cache"]
    assert run_cli([*args, "--out", tmp_path / "first"], capsys)[0] == 0
    code, out, _ = run_cli([*args, "--out", tmp_path / "second"], capsys)  # cached features: the extractor still works
    assert code == 0 and "virtual support vectors" in out
    runs = [json.loads((tmp_path / name / "results.json").read_text()) for name in ("first", "second")]
    assert runs[1]["features_cached"] and not runs[0]["features_cached"]
    assert runs[0]["virtual_sv"] == runs[1]["virtual_sv"] and runs[0]["virtual_sv"]["copies"] == 8
    assert runs[0]["test_acc"] == runs[1]["test_acc"]


@pytest.mark.parametrize("copies, classifier, message", [
    (3, "kernel-svm", "--virtual-sv takes 0 (off), 4"),
    (4, "svm", "--virtual-sv needs --classifier kernel-svm"),
])
def test_bad_virtual_sv_settings_exit_2(tmp_path, capsys, copies, classifier, message):
    code, _, err = run_cli(["features", "pixels", "--data", "digits", "--limit", "100", "--classifier", classifier,
                            "--virtual-sv", copies, "-q", "--no-cache", "--out", tmp_path / "run"], capsys)
    assert code == 2 and message in err
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_copies(copies, classifier)


def test_tta_shifts_sum_the_scores_of_the_shifted_views(tmp_path):
    """--tta-shifts 4 with --hflip: a test image's class is the argmax of the summed scores of 10
    views: the image, its mirror, and both shifted one pixel in four directions."""
    options = ClassifierOptions(max_iter=300)
    config = FeatureRunConfig("pixels", "digits", classifier="logreg", limit=300, hflip=True, tta_shifts=4,
                              use_cache=False, classifier_options=options)
    result = run_features(config, tmp_path / "run", show_progress=False)
    assert result.results["test_views"] == 10

    _, splits = load_splits(config)
    flat = lambda images: images.reshape(len(images), -1) / 255.0  # noqa: E731 - the pixels extractor
    train, labels = splits["train"]
    reference = build_classifier("logreg", options, standardize=False)
    reference.fit(flat(np.concatenate([train, train[..., ::-1]])), np.tile(labels, 2))
    test = splits["test"][0]
    views = [v for image in (test, test[..., ::-1]) for v in [image] + [translate(image, d, r) for d, r in SHIFTS[4]]]
    scores = sum(reference.decision_function(flat(v)) for v in views)
    assert result.results["test_acc"] == pytest.approx((scores.argmax(1) == splits["test"][1]).mean())


def test_bad_tta_shifts_exit_2(tmp_path, capsys):
    code, _, err = run_cli(["features", "pixels", "--data", "digits", "--limit", "50", "--tta-shifts", "5", "-q",
                            "--no-cache", "--out", tmp_path / "bad"], capsys)
    assert code == 2 and "--tta-shifts takes 0 (off), 4" in err
