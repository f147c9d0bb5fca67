"""Rosenblatt's perceptron, written out as a teaching model (one-vs-rest for several classes).

For each class k a binary perceptron with weights w_k and bias b_k outputs
y_k = step(w_k . x + b_k) in {0, 1}; its desired output is d_k = 1 for samples of class k and
0 otherwise. Samples are visited one at a time and every perceptron applies the classic rule

    w_k <- w_k + a (d_k - y_k) x        b_k <- b_k + a (d_k - y_k)

so nothing changes when it was right (d - y = 0), and a mistake moves w towards x (missed
positive, +1) or away from it (false alarm, -1). A sample exactly on the boundary
(w . x + b = 0) counts as a mistake, whatever d is: with w = 0 at the start every first sample
teaches something. This is also scikit-learn's rule (update when d' (w . x + b) <= 0 with
d' = +-1), so with the same data order, epochs and learning rate our weights equal those of
`sklearn.linear_model.Perceptron` (tests/test_features_classifiers.py checks it).

The K perceptrons never interact; prediction takes the class with the largest score
w_k . x + b_k (one-vs-rest). With two classes
there are still two perceptrons (scikit-learn keeps one), so ``coef_`` is always (K, D).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted


class Perceptron(ClassifierMixin, BaseEstimator):
    """One-vs-rest perceptrons trained with w <- w + a(d - y)x; scikit-learn estimator API.

    ``lr`` is a (the learning rate), ``epochs`` the passes over the data, ``shuffle`` visits the
    samples in a new seeded order each epoch (``seed``). After `fit`: ``coef_`` (K, D),
    ``intercept_`` (K,), ``classes_`` and ``mistakes_`` (samples with any update, per epoch).
    """

    def __init__(self, *, lr: float = 1.0, epochs: int = 10, shuffle: bool = True, seed: int = 0) -> None:
        self.lr = lr
        self.epochs = epochs
        self.shuffle = shuffle
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Perceptron":
        X = np.asarray(X, dtype=np.float64)  # (N, D)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        n, k = len(X), len(self.classes_)
        desired = (y_index[:, None] == np.arange(k)).astype(np.float64)  # d, (N, K) in {0, 1}
        weight, bias = np.zeros((k, X.shape[1])), np.zeros(k)
        rng = np.random.default_rng(self.seed)
        self.mistakes_: list[int] = []
        for _ in range(self.epochs):
            mistakes = 0
            for i in rng.permutation(n) if self.shuffle else range(n):
                score = weight @ X[i] + bias  # (K,)
                d = desired[i]
                out = (score > 0).astype(np.float64)  # y = step(w.x + b)
                on_boundary = score == 0
                out[on_boundary] = 1.0 - d[on_boundary]  # undecided counts as wrong
                error = d - out  # (K,) in {-1, 0, 1}
                wrong = np.flatnonzero(error)
                if wrong.size:
                    weight[wrong] += self.lr * error[wrong, None] * X[i]
                    bias[wrong] += self.lr * error[wrong]
                    mistakes += 1
            self.mistakes_.append(mistakes)
        self.coef_, self.intercept_ = weight, bias
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Scores (N, K): w_k . x + b_k for every class."""
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The class whose perceptron scores highest."""
        return self.classes_[self.decision_function(X).argmax(axis=1)]
