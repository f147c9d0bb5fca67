"""Virtual support vectors: teach a kernel SVM that a 1-pixel shift does not change the class.

Decoste & Schölkopf ("Training invariant support vector machines", Machine Learning 46, 2002):
fit the SVM, keep only its support vectors (the training samples that define the boundary), add
copies of their images translated by one pixel, and fit again on that set. The second SVM sees
the invariance where it matters, near the boundary, at a fraction of the cost of training on
shifted copies of every image. The refit keeps the first fit's preprocessing (scaler, PCA) and
kernel width, so the two SVMs work in the same feature space.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from cnnlab.errors import ConfigError

# (rows down, columns right) of each translated copy
SHIFTS: dict[int, tuple[tuple[int, int], ...]] = {
    4: ((0, 1), (0, -1), (1, 0), (-1, 0)),
    8: ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)),
}


def check_shift_count(copies: int, option: str) -> None:
    """A clear error for a number of shifted copies that `SHIFTS` does not define."""
    if copies and copies not in SHIFTS:
        raise ConfigError(f"{option} takes 0 (off), 4 (1-pixel shifts up, down, left, right) or 8 (also "
                          f"diagonal), got {copies}")


def check_copies(copies: int, classifier: str) -> None:
    """A clear error for a copy count or classifier that virtual support vectors do not support."""
    check_shift_count(copies, "--virtual-sv")
    if copies and classifier != "kernel-svm":
        raise ConfigError(f"--virtual-sv needs --classifier kernel-svm (the one classifier with support vectors), "
                          f"got {classifier}")


def translate(images: np.ndarray, down: int, right: int) -> np.ndarray:
    """Images (N, C, H, W) moved ``down`` rows and ``right`` columns; uncovered pixels are 0 (black)."""
    out = np.zeros_like(images)
    h, w = images.shape[-2:]
    rows_to, rows_from = slice(max(down, 0), h + min(down, 0)), slice(max(-down, 0), h + min(-down, 0))
    cols_to, cols_from = slice(max(right, 0), w + min(right, 0)), slice(max(-right, 0), w + min(-right, 0))
    out[..., rows_to, cols_to] = images[..., rows_from, cols_from]
    return out


def refit_with_virtual_support_vectors(
    pipeline: Pipeline, x_train: np.ndarray, y_train: np.ndarray, images: np.ndarray,
    extract: Callable[[np.ndarray, str], np.ndarray], copies: int,
) -> dict[str, int]:
    """Refit the fitted ``pipeline``'s SVC on its support vectors plus ``copies`` shifted copies of each.

    ``x_train`` (N, D) are the features the pipeline was fitted on, ``images`` (N, C, H, W) the
    images they came from, ``extract(images, description)`` computes features of new images.
    The pipeline's last step is replaced in place. Returns the sample counts of the two fits.
    """
    preprocess, svm = pipeline[:-1], pipeline.steps[-1][1]
    if not isinstance(svm, SVC):
        raise ConfigError("virtual support vectors need a kernel SVM (--classifier kernel-svm)")
    support = np.sort(svm.support_)
    shifted = [extract(translate(images[support], down, right), f"shift ({down:+d}, {right:+d})")
               for down, right in SHIFTS[copies]]
    x = preprocess.transform(np.concatenate([x_train[support], *shifted]))
    y = np.tile(y_train[support], 1 + len(shifted))
    # the first fit's gamma: gamma="scale" would re-measure it on this boundary-heavy set
    refit = clone(svm).set_params(gamma=svm._gamma).fit(x, y)
    pipeline.steps[-1] = (pipeline.steps[-1][0], refit)
    return {"copies": copies, "first_fit_samples": int(len(x_train)), "support_vectors": int(len(support)),
            "second_fit_samples": int(len(y))}
