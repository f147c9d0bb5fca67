"""One feature experiment end to end: dataset -> features -> linear classifier -> run folder.

The run folder has the same contract as a training run's (docs/design.md), so `cnnlab compare`
lists both side by side:

    RUN/meta.json      kind "features", model "<method> + <classifier>", method, classifier,
                       dataset, classes, num_classes, feature_dim, input_size, in_channels,
                       mean, std (of the dataset, for reference), features (extractor settings)
    RUN/results.json   test_acc, val_acc (= best_val_acc), train_acc (on train_acc_samples of the
                       training split), fit_time_s, extract_time_s,
                       train_time_s (= fit_time_s), feature_dim, params, n_train, n_val, n_test
    RUN/config.yaml    the resolved settings of the run
    RUN/confusion.csv  rows = true class, columns = predicted class, on the test split
    RUN/weights.npz    weight (K, D) and bias (K,) of the linear classifier on the raw features
                       (standardisation folded in); `cnnlab viz templates` reads them
"""
from __future__ import annotations

import csv
import io
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml
from sklearn.exceptions import ConvergenceWarning

from cnnlab.errors import ConfigError
from cnnlab.features.cache import FeatureCache
from cnnlab.features.classifiers import ClassifierOptions, build_classifier, linear_weights, stored_numbers
from cnnlab.features.compute import FeatureSet, compute_features, progress_bar, transform_batched
from cnnlab.features._base import FeatureOptions
from cnnlab.features.extractors import build_extractor
from cnnlab.features.virtual import (SHIFTS, check_copies, check_shift_count, refit_with_virtual_support_vectors,
                                    translate)

WEIGHTS_FILE = "weights.npz"
# training accuracy is measured on the first this-many training samples: an exact kernel SVM
# predicts slowly (all of Fashion-MNIST's 54,000 would cost it longer than the fit)
TRAIN_ACC_SAMPLES = 10_000
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class FeatureRunConfig:
    """Everything that determines a feature run (saved as RUN/config.yaml)."""

    method: str  # extractor spec: "hog", "hog+color-hist", ...
    dataset: str
    classifier: str = "svm"
    limit: int | None = None  # at most this many images of each split (quick runs)
    data_dir: str | None = None
    val_fraction: float = 0.1
    seed: int = 0  # validation split
    image_size: int | None = None  # resize images to image_size x image_size first
    hflip: bool = False  # also train on every training image's mirror; score each test image and its mirror
    virtual_sv: int = 0  # kernel-svm: refit on the support vectors + this many 1-pixel shifts of each (0, 4, 8)
    tta_shifts: int = 0  # also score val/test images (and mirrors) shifted by 1 pixel this many ways (0, 4, 8)
    cache_dir: str | None = None  # None: the per-user cache
    use_cache: bool = True
    batch_size: int = 2000  # images per extractor call
    features: FeatureOptions = field(default_factory=FeatureOptions)
    classifier_options: ClassifierOptions = field(default_factory=ClassifierOptions)


@dataclass
class FeatureRunResult:
    """What a run produced (also written to ``run_dir`` when one was given)."""

    meta: dict[str, Any]
    results: dict[str, Any]
    confusion: np.ndarray  # (K, K) test split, rows true, columns predicted
    weight: np.ndarray  # (K, D) on raw features
    bias: np.ndarray  # (K,)
    run_dir: Path | None


def default_run_dir(config: FeatureRunConfig, root: str | Path = "runs") -> Path:
    """runs/features-<dataset>-<method>-<classifier>-<YYYYmmdd-HHMMSS>."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"features-{config.dataset}-{config.method}-{config.classifier}-{stamp}".replace(":", "_")


MIRROR = "_mirror"  # suffix of the splits of left-right mirrored images (FeatureRunConfig.hflip)


def with_mirrors(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``splits`` plus each split's left-right mirror image (same labels) under ``name + MIRROR``."""
    mirrors = {name + MIRROR: (np.ascontiguousarray(images[..., ::-1]), labels) for name, (images, labels) in splits.items()}
    return {**splits, **mirrors}


def shift_suffix(down: int, right: int) -> str:
    """The suffix of a split's view shifted by (down, right) pixels (FeatureRunConfig.tta_shifts)."""
    return f"_shift{down:+d}{right:+d}"


def with_shifted_views(splits: dict[str, tuple[np.ndarray, np.ndarray]], copies: int,
                       names: tuple[str, ...] = ("val", "test")) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``splits`` plus, for the splits ``names`` and their mirrors, copies shifted by one pixel (`SHIFTS`)."""
    views = dict(splits)
    for name, (images, labels) in splits.items():
        if name in names or name.removesuffix(MIRROR) in names:
            for down, right in SHIFTS[copies]:
                views[name + shift_suffix(down, right)] = (translate(images, down, right), labels)
    return views


def view_names(features: FeatureSet, name: str) -> list[str]:
    """The computed views of split ``name``: itself, its mirror, their shifted copies."""
    return [view for view in features.x if view == name or view.startswith(name + "_")]


def predict_split(pipeline: Any, features: FeatureSet, name: str, limit: int | None = None) -> np.ndarray:
    """Predicted classes of split ``name``; with views computed (mirror, shifts), from their summed scores.

    Summing decision scores is test-time augmentation for any classifier with ``decision_function``
    (a kernel SVM's one-vs-rest scores: votes plus a confidence term).
    """
    x = features.x[name][:limit]
    views = view_names(features, name)
    if len(views) == 1 or not len(x):
        return pipeline.predict(x)
    scores = sum(pipeline.decision_function(features.x[view][:limit]) for view in views)
    if scores.ndim == 1:  # two classes: one score, positive = classes_[1]
        return pipeline.classes_[(scores > 0).astype(int)]
    return pipeline.classes_[scores.argmax(1)]


def _accuracy(pipeline: Any, features: FeatureSet, name: str, limit: int | None = None) -> float | None:
    y = features.y[name][:limit]
    return float((predict_split(pipeline, features, name, limit) == y).mean()) if len(y) else None


def load_splits(config: FeatureRunConfig) -> tuple[Any, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The dataset bundle and its splits as uint8 numpy arrays, resized and cut to ``limit``."""
    from cnnlab.data import load_dataset
    from cnnlab.features.images import split_arrays

    bundle = load_dataset(config.dataset, data_dir=config.data_dir, val_fraction=config.val_fraction,
                          seed=config.seed, image_size=config.image_size)
    splits = {name: split_arrays(getattr(bundle, name), config.limit) for name in SPLITS if getattr(bundle, name) is not None}
    empty = (splits["train"][0][:0], splits["train"][1][:0])  # a split the dataset lacks (a folder without test/)
    return bundle, {name: splits.get(name, empty) for name in SPLITS}


def fit_and_evaluate(
    config: FeatureRunConfig, features: FeatureSet, num_classes: int, *, standardize: bool = True,
    train_images: np.ndarray | None = None, extract: Callable[[np.ndarray, str], np.ndarray] | None = None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """Fit the classifier on train; results dict, test confusion matrix, W (K, D), b (K,).

    ``config.virtual_sv`` needs the training images behind ``features.x["train"]`` (mirrors
    appended when they were computed) and ``extract(images, description)`` for new images.
    """
    pipeline = build_classifier(config.classifier, config.classifier_options, standardize=standardize)
    check_copies(config.virtual_sv, config.classifier)
    x_train, y_train = features.x["train"], features.y["train"]
    if "train" + MIRROR in features.x:  # the mirrored images are extra training samples
        x_train, y_train = np.concatenate([x_train, features.x["train" + MIRROR]]), np.concatenate([y_train, y_train])
    most = min(x_train.shape)
    if config.classifier_options.pca > most:
        raise ConfigError(f"--pca {config.classifier_options.pca} asks for more principal components than the "
                          f"{x_train.shape[0]} training samples of dimension {x_train.shape[1]} have: use --pca {most} or fewer")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        pipeline.fit(x_train, y_train)
        virtual = False
        if config.virtual_sv:
            if train_images is None or extract is None or len(train_images) != len(x_train):
                raise ValueError("virtual_sv needs the training images of every training feature row and extract()")
            virtual = refit_with_virtual_support_vectors(pipeline, x_train, y_train, train_images, extract,
                                                         config.virtual_sv)
    fit_time = time.perf_counter() - start  # with virtual support vectors: both fits and the shifted features
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    weight, bias = linear_weights(pipeline, num_classes)
    test_pred = predict_split(pipeline, features, "test") if len(features.y["test"]) else features.y["test"]
    val_acc = _accuracy(pipeline, features, "val")
    results = {
        "test_acc": float((test_pred == features.y["test"]).mean()) if len(features.y["test"]) else None,
        "val_acc": val_acc,
        "best_val_acc": val_acc,
        "train_acc": _accuracy(pipeline, features, "train", TRAIN_ACC_SAMPLES),
        "train_acc_samples": int(min(TRAIN_ACC_SAMPLES, len(features.y["train"]))),
        "fit_time_s": round(fit_time, 3),
        "converged": converged,  # False: the solver hit --max-iter first
        "extract_time_s": round(features.extract_time_s, 3),
        "train_time_s": round(fit_time, 3),
        "features_cached": features.cached,
        "feature_dim": features.dim,
        "params": stored_numbers(pipeline),
        **{f"n_{name}": int(len(features.y[name])) for name in SPLITS},  # images, mirrors not counted
        "hflip": "train + mirrors; test scores of image + mirror" if "train" + MIRROR in features.x else False,
        "virtual_sv": virtual,  # False, or the copies per support vector and the sample counts of both fits
        "test_views": len(view_names(features, "test")),  # summed per test image: itself, mirror, shifts
    }
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # rows true, columns predicted
    np.add.at(confusion, (features.y["test"], test_pred), 1)
    return results, confusion, weight, bias


def run_features(
    config: FeatureRunConfig, run_dir: str | Path | None = None, *, show_progress: bool = True
) -> FeatureRunResult:
    """Load the data, compute (or load cached) features, fit, evaluate, and write ``run_dir``."""
    extractor = build_extractor(config.method, config.features)  # bad names fail before loading data
    build_classifier(config.classifier, config.classifier_options)
    check_copies(config.virtual_sv, config.classifier)
    check_shift_count(config.tta_shifts, "--tta-shifts")
    bundle, splits = load_splits(config)
    if config.hflip:
        splits = with_mirrors(splits)
    if config.tta_shifts:
        splits = with_shifted_views(splits, config.tta_shifts)
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    features = compute_features(extractor, splits, label=f"{config.dataset}-{extractor.name}", cache=cache,
                                batch_size=config.batch_size, show_progress=show_progress)
    classes = list(bundle.classes)
    train_images = None
    if config.virtual_sv:  # the images behind the training rows, mirrors appended as fit_and_evaluate does
        train_images = np.concatenate([splits[name][0] for name in ("train", "train" + MIRROR) if name in splits])
        if features.cached:
            extractor.fit(splits["train"][0])  # a cache hit skipped it; a learned codebook is refitted the same way

    def extract(images: np.ndarray, description: str) -> np.ndarray:
        with progress_bar(show_progress) as progress:
            return transform_batched(extractor, images, batch_size=config.batch_size, progress=progress,
                                     description=f"{extractor.name} {description}")

    results, confusion, weight, bias = fit_and_evaluate(config, features, len(classes), standardize=extractor.standardize,
                                                        train_images=train_images, extract=extract)
    c, h, w = splits["train"][0].shape[1:]
    meta = {
        "kind": "features",
        "model": f"{extractor.name} + {config.classifier}",
        "method": extractor.name,
        "classifier": config.classifier,
        "dataset": config.dataset,
        "classes": classes,
        "num_classes": len(classes),
        "feature_dim": features.dim,
        "input_size": [int(h), int(w)],
        "in_channels": int(c),
        "mean": [float(v) for v in bundle.mean],
        "std": [float(v) for v in bundle.std],
        "features": extractor.settings(),
        "standardized": extractor.standardize,  # False: features only centred before the classifier
    }
    result = FeatureRunResult(meta, results, confusion, weight, bias, Path(run_dir) if run_dir else None)
    if result.run_dir is not None:
        write_run(result, config)
    return result


def _confusion_csv(confusion: np.ndarray, classes: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["true \\ predicted", *classes])
    for name, row in zip(classes, confusion):
        writer.writerow([name, *map(int, row)])
    return buf.getvalue()


def write_run(result: FeatureRunResult, config: FeatureRunConfig) -> Path:
    """Write meta.json, results.json, config.yaml, confusion.csv and weights.npz into ``result.run_dir``."""
    from cnnlab.files import atomic_write, atomic_write_text

    run_dir = result.run_dir
    if run_dir is None:
        raise ValueError("write_run needs result.run_dir to be set")
    atomic_write_text(run_dir / "meta.json", json.dumps(result.meta, indent=2) + "\n")
    atomic_write_text(run_dir / "results.json", json.dumps(result.results, indent=2) + "\n")
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(asdict(config), sort_keys=False))
    atomic_write_text(run_dir / "confusion.csv", _confusion_csv(result.confusion, result.meta["classes"]))
    atomic_write(run_dir / WEIGHTS_FILE, lambda f: np.savez(f, weight=result.weight, bias=result.bias))
    return run_dir


def read_weights(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """W (K, D) and b (K,) of a feature run's linear classifier."""
    from cnnlab.errors import CheckpointError

    path = Path(run_dir) / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no {WEIGHTS_FILE}: pass a run folder written by `cnnlab features`")
    with np.load(path, allow_pickle=False) as archive:
        return archive["weight"], archive["bias"]
