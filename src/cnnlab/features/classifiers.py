"""Classifiers on feature vectors: linear SVM, softmax regression, our perceptron, RBF-kernel SVM.

Every classifier is a scikit-learn pipeline ``StandardScaler -> model``: each feature is
standardised to zero mean and unit variance on the training set, so features of different
scales (HoG values near 0.2, histogram fractions near 0.01) weigh alike and the solvers
converge. Features already on one scale (pixels) are only centred (``standardize=False``).
`linear_weights` folds the scaler back in, giving W and b on the raw features.

``rbf-svm`` is the one non-linear model: a linear SVM on an approximate RBF-kernel feature map
(Nystroem: k(x, x') = exp(-gamma |x - x'|^2) evaluated against ``kernel_components`` random
training samples, then whitened), so it scales to Fashion-MNIST's 54,000 images where an exact
kernel SVM (`sklearn.svm.SVC`, time quadratic to cubic in the samples) takes tens of minutes.
``kernel-svm`` is that exact SVM (one-vs-one, libsvm), for when the minutes are worth it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from cnnlab.errors import ConfigError
from cnnlab.features.perceptron import Perceptron


@dataclass(frozen=True)
class ClassifierOptions:
    """Settings of all classifiers; each reads only its own fields."""

    C: float = 1.0  # svm, logreg, rbf-svm: inverse regularisation strength (larger = weaker penalty)
    max_iter: int = 1000  # svm, logreg, rbf-svm: solver iterations
    epochs: int = 10  # perceptron: passes over the training set
    lr: float = 1.0  # perceptron: learning rate a
    kernel_components: int = 3000  # rbf-svm: training samples the kernel map is built on
    gamma: float | None = None  # rbf-svm, kernel-svm: kernel width; None = 1 / (D * variance of the features)
    kernel_cache_mb: int = 2000  # kernel-svm: libsvm's kernel cache; larger = fewer kernel recomputations
    pca: int = 0  # all: project the standardised features on their first this-many principal components; 0 = off
    seed: int = 0


class RbfFeatures(TransformerMixin, BaseEstimator):
    """Nystroem's approximate RBF feature map, with scikit-learn SVC's ``gamma="scale"`` default.

    ``gamma=None`` takes gamma = 1 / (D * Var(X)) on the training features: then the typical
    squared distance between two samples, 2 * D * Var(X), gives a kernel value near exp(-2),
    neither all ~1 (a nearly linear model) nor all ~0 (a nearest-neighbour lookup). On
    standardised features Var(X) = 1 and gamma = 1/D.
    """

    def __init__(self, n_components: int = 3000, gamma: float | None = None, random_state: int = 0) -> None:
        self.n_components, self.gamma, self.random_state = n_components, gamma, random_state

    def fit(self, x: np.ndarray, y: np.ndarray | None = None) -> "RbfFeatures":
        x = np.asarray(x)
        variance = float(x.var())
        self.gamma_ = self.gamma if self.gamma is not None else 1.0 / (x.shape[1] * (variance or 1.0))
        self.nystroem_ = Nystroem(kernel="rbf", gamma=self.gamma_, n_components=min(self.n_components, len(x)),
                                  random_state=self.random_state).fit(x)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        return self.nystroem_.transform(x).astype(np.float32, copy=False)


def _svm(o: ClassifierOptions) -> ClassifierMixin:
    # one-vs-rest, squared hinge loss; the primal solver when samples outnumber features
    return LinearSVC(C=o.C, dual="auto", max_iter=o.max_iter, random_state=o.seed)


def _logreg(o: ClassifierOptions) -> ClassifierMixin:
    # multinomial (softmax) cross-entropy with an L2 penalty, L-BFGS
    return LogisticRegression(C=o.C, max_iter=o.max_iter)


def _perceptron(o: ClassifierOptions) -> ClassifierMixin:
    return Perceptron(lr=o.lr, epochs=o.epochs, shuffle=True, seed=o.seed)


def _rbf_svm(o: ClassifierOptions) -> Pipeline:
    if o.kernel_components < 1 or (o.gamma is not None and o.gamma <= 0):
        raise ConfigError(f"rbf-svm needs kernel_components >= 1 and gamma > 0, got {o.kernel_components} and {o.gamma}")
    # the dual solver: on 10,000 Fashion-MNIST HoG maps (2000 components) it fitted twice as fast
    # as the primal one that dual="auto" picks when samples outnumber features, to the same accuracy
    svm = LinearSVC(C=o.C, dual=True, max_iter=o.max_iter, random_state=o.seed)
    return Pipeline([("kernel", RbfFeatures(o.kernel_components, o.gamma, o.seed)), ("svm", svm)])


def _kernel_svm(o: ClassifierOptions) -> SVC:
    if o.gamma is not None and o.gamma <= 0:
        raise ConfigError(f"kernel-svm needs gamma > 0, got {o.gamma}")
    # gamma="scale" is 1 / (D * Var(X)), the same default as rbf-svm's; max_iter=-1: libsvm runs to
    # its tolerance (its iteration counts are not comparable with liblinear's --max-iter)
    return SVC(C=o.C, kernel="rbf", gamma="scale" if o.gamma is None else o.gamma,
               cache_size=o.kernel_cache_mb, random_state=o.seed)


# name -> (builder, one-line description)
CLASSIFIERS: dict[str, tuple[Callable[[ClassifierOptions], ClassifierMixin], str]] = {
    "svm": (_svm, "linear SVM (scikit-learn LinearSVC, one-vs-rest)"),
    "logreg": (_logreg, "logistic regression, softmax over classes (scikit-learn)"),
    "perceptron": (_perceptron, "perceptron, w <- w + a(d - y)x, one-vs-rest (cnnlab's teaching model)"),
    "rbf-svm": (_rbf_svm, "RBF-kernel SVM: Nystroem kernel map + LinearSVC (not linear in the features)"),
    "kernel-svm": (_kernel_svm, "exact RBF-kernel SVM (scikit-learn SVC, one-vs-one; slow on large sets)"),
}


def list_classifiers() -> list[str]:
    return list(CLASSIFIERS)


def build_classifier(name: str, options: ClassifierOptions | None = None, *, standardize: bool = True) -> Pipeline:
    """``StandardScaler [-> PCA] -> classifier`` for a name of `CLASSIFIERS` (centring only without ``standardize``).

    ``options.pca`` > 0 inserts a PCA onto that many components: a kernel SVM's time grows with
    the feature dimension, and on Fashion-MNIST's HoG + pixels (D = 2080) 128 components fitted
    14x faster than all of them, at the same validation accuracy.
    """
    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {name!r}: use one of {', '.join(CLASSIFIERS)}")
    options = options or ClassifierOptions()
    if options.pca < 0:
        raise ConfigError(f"pca is a number of components (0 = off), got {options.pca}")
    builder, _ = CLASSIFIERS[name]
    reduce = [("pca", PCA(options.pca, random_state=options.seed))] if options.pca else []
    return Pipeline([("scale", StandardScaler(with_std=standardize)), *reduce, ("model", builder(options))])


def linear_weights(pipeline: Pipeline, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """W (K, D) and b (K,) such that scores = x @ W.T + b on unstandardised features x.

    With z = (x - mean) / scale the model scores w.z + c, i.e. (w / scale).x + c - (w / scale).mean.
    A binary scikit-learn model keeps one row w (positive class); it becomes [-w/2, w/2], whose
    difference of scores is the same. A class absent from the training labels gets zero weights.
    A non-linear model (``rbf-svm``, ``kernel-svm``) has no such W: it gets W with zero columns and b = 0.
    """
    scaler, model = pipeline.named_steps["scale"], pipeline.named_steps["model"]
    if not hasattr(model, "coef_"):
        return np.zeros((num_classes, 0)), np.zeros(num_classes)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    if coef.shape[0] == 1 and len(model.classes_) == 2:
        coef, intercept = np.vstack([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
    if "pca" in pipeline.named_steps:  # scores = ((z - m) @ P.T) @ w + c = z @ (w @ P) + c - (w @ P) @ m
        pca = pipeline.named_steps["pca"]
        coef, intercept = coef @ pca.components_, intercept - (coef @ pca.components_) @ pca.mean_
    weight, bias = np.zeros((num_classes, coef.shape[1])), np.zeros(num_classes)
    rows = np.asarray(model.classes_, dtype=np.int64)
    weight[rows], bias[rows] = coef / (1.0 if scaler.scale_ is None else scaler.scale_), intercept
    return weight, bias - weight @ scaler.mean_


def stored_numbers(pipeline: Pipeline) -> int:
    """How many numbers the fitted classifier keeps (its "parameters"), the scaler left out.

    Linear models: W and b. ``rbf-svm``: the Nystroem landmarks and normalisation matrix plus the
    linear SVM on top. ``kernel-svm``: the support vectors, their dual coefficients and the biases.
    A PCA step adds its components and mean.
    """
    estimators = [step for name, step in pipeline.steps if name != "scale"]
    if isinstance(estimators[-1], Pipeline):
        estimators[-1:] = [step for _, step in estimators[-1].steps]
    total = 0
    for estimator in estimators:
        if isinstance(estimator, RbfFeatures):
            estimator = estimator.nystroem_
        for name in ("coef_", "intercept_", "support_vectors_", "dual_coef_", "components_", "normalization_", "mean_"):
            value = getattr(estimator, name, None)
            total += int(np.asarray(value).size) if value is not None else 0
    return total
