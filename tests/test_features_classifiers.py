"""Classifiers: our perceptron against scikit-learn's, and the weights folded out of the scaler."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.datasets import make_circles
from sklearn.linear_model import Perceptron as SklearnPerceptron
from sklearn.svm import SVC

from cnnlab.errors import ConfigError
from cnnlab.features import ClassifierOptions, Perceptron, build_classifier, linear_weights, list_classifiers
from cnnlab.features.classifiers import RbfFeatures, stored_numbers


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.data[:600], data.target[:600]


@pytest.mark.parametrize("lr, epochs", [(1.0, 5), (0.5, 3)])
def test_perceptron_equals_sklearn_perceptron(digits, lr, epochs):
    """Same data in the same order (shuffle off), same epochs and learning rate, no penalty.

    scikit-learn's Perceptron trains one binary perceptron per class (one-vs-rest) with
    w <- w + eta*t*x whenever t*(w.x + b) <= 0 (t = +-1); ours applies w <- w + a(d - y)x with
    d, y in {0, 1} and a boundary point counted as wrong: the same updates. The digits'
    features are integers 0..16 and the rates are powers of two, so every sum is exact in
    float64 and the weights must be *equal*, not merely close; predictions follow.
    """
    x, y = digits
    ours = Perceptron(lr=lr, epochs=epochs, shuffle=False).fit(x, y)
    reference = SklearnPerceptron(eta0=lr, max_iter=epochs, tol=None, shuffle=False, penalty=None).fit(x, y)
    np.testing.assert_array_equal(ours.coef_, reference.coef_)
    np.testing.assert_array_equal(ours.intercept_, reference.intercept_)
    np.testing.assert_array_equal(ours.predict(x), reference.predict(x))
    assert ours.mistakes_[-1] < ours.mistakes_[0]  # it learns: fewer corrections in later epochs


def test_perceptron_separates_a_separable_problem():
    """The perceptron convergence theorem: on linearly separable data it stops making mistakes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    margin = x @ np.array([2.0, -1.0]) + 0.3
    x, y = x[np.abs(margin) > 0.2], (margin[np.abs(margin) > 0.2] > 0).astype(int)  # a gap between classes
    model = Perceptron(lr=1.0, epochs=50, seed=1).fit(x, y)
    assert model.mistakes_[-1] == 0
    assert model.score(x, y) == 1.0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("name", ["svm", "logreg", "perceptron"])
def test_linear_weights_reproduce_the_pipeline_scores(digits, name, standardize):
    """W, b on raw features (scaler folded in) rank the classes as the fitted pipeline does."""
    x, y = digits
    pipeline = build_classifier(name, ClassifierOptions(max_iter=200, epochs=3), standardize=standardize).fit(x, y)
    weight, bias = linear_weights(pipeline, 10)
    assert weight.shape == (10, 64) and bias.shape == (10,)
    np.testing.assert_allclose(x @ weight.T + bias, pipeline.decision_function(x), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal((x @ weight.T + bias).argmax(1), pipeline.predict(x))


def test_linear_weights_of_a_binary_model_have_two_rows(digits):
    x, y = digits
    keep = y < 2
    pipeline = build_classifier("logreg").fit(x[keep], y[keep])
    weight, bias = linear_weights(pipeline, 2)
    assert weight.shape == (2, 64)
    np.testing.assert_array_equal((x[keep] @ weight.T + bias).argmax(1), pipeline.predict(x[keep]))


def test_unknown_classifier_is_a_config_error():
    with pytest.raises(ConfigError, match="svm, logreg, perceptron, rbf-svm, kernel-svm"):
        build_classifier("knn")
    assert list_classifiers() == ["svm", "logreg", "perceptron", "rbf-svm", "kernel-svm"]


def test_rbf_svm_separates_what_a_linear_svm_cannot():
    """Two concentric rings (plus noise dimensions): no hyperplane separates them, an RBF kernel does."""
    rng = np.random.default_rng(0)
    rings, labels = make_circles(n_samples=600, noise=0.05, factor=0.5, random_state=0)
    x = np.hstack([rings, rng.normal(scale=0.1, size=(600, 3))])
    train, test = slice(0, 400), slice(400, None)
    linear = build_classifier("svm").fit(x[train], labels[train]).score(x[test], labels[test])
    kernel = build_classifier("rbf-svm", ClassifierOptions(kernel_components=200)).fit(x[train], labels[train])
    assert linear < 0.7  # about chance
    assert kernel.score(x[test], labels[test]) > 0.95


def test_rbf_svm_matches_an_exact_kernel_svm(digits):
    """Against scikit-learn's exact SVC(kernel="rbf") with the same gamma and C.

    With as many Nystroem components as training samples the kernel map is exact, so both fit an
    RBF-kernel SVM; they still differ in the loss (LinearSVC: squared hinge, one-vs-rest, a
    penalised bias; SVC: hinge, one-vs-one), so we ask for agreement on most test digits and
    for similar accuracy, not for equal predictions.
    """
    x, y = digits[0][:400], digits[1][:400]
    x_test, y_test = load_digits().data[1000:1400], load_digits().target[1000:1400]
    ours = build_classifier("rbf-svm", ClassifierOptions(kernel_components=400, C=10.0)).fit(x, y)
    scaler, features = ours.named_steps["scale"], ours.named_steps["model"].named_steps["kernel"]
    assert features.gamma_ == pytest.approx(1 / (64 * scaler.transform(x).var()))  # SVC's gamma="scale"
    reference = SVC(kernel="rbf", C=10.0, gamma=features.gamma_).fit(scaler.transform(x), y)
    ours_pred, ref_pred = ours.predict(x_test), reference.predict(scaler.transform(x_test))
    assert (ours_pred == ref_pred).mean() > 0.95
    assert abs((ours_pred == y_test).mean() - (ref_pred == y_test).mean()) < 0.02
    assert (ours_pred == y_test).mean() > 0.8  # it learns (chance: 0.1)


def test_rbf_features_gamma_rule_and_components():
    x = np.random.default_rng(1).normal(scale=3.0, size=(50, 8))
    features = RbfFeatures(n_components=80).fit(x)  # more components than samples: capped
    assert features.gamma_ == pytest.approx(1 / (8 * x.var()))
    assert features.transform(x).shape == (50, 50)
    assert RbfFeatures(n_components=10, gamma=0.5).fit(x).gamma_ == 0.5


def test_rbf_svm_has_no_linear_weights(digits):
    x, y = digits
    pipeline = build_classifier("rbf-svm", ClassifierOptions(kernel_components=50)).fit(x, y)
    weight, bias = linear_weights(pipeline, 10)
    assert weight.shape == (10, 0) and not bias.any()


@pytest.mark.parametrize("options", [ClassifierOptions(kernel_components=0), ClassifierOptions(gamma=-1.0)])
def test_rbf_svm_bad_options_are_config_errors(options):
    with pytest.raises(ConfigError, match="rbf-svm"):
        build_classifier("rbf-svm", options)


def test_kernel_svm_is_scikit_learns_exact_svc(digits):
    """kernel-svm is SVC(kernel="rbf", gamma="scale") on the standardised features: same predictions."""
    x, y = digits[0][:400], digits[1][:400]
    x_test = load_digits().data[1000:1400]
    ours = build_classifier("kernel-svm", ClassifierOptions(C=5.0)).fit(x, y)
    scaler = ours.named_steps["scale"]
    reference = SVC(kernel="rbf", C=5.0, gamma="scale").fit(scaler.transform(x), y)
    assert np.array_equal(ours.predict(x_test), reference.predict(scaler.transform(x_test)))
    svc = ours.named_steps["model"]
    assert stored_numbers(ours) == svc.support_vectors_.size + svc.dual_coef_.size + svc.intercept_.size
    assert linear_weights(ours, 10)[0].shape == (10, 0)  # no templates from a kernel machine


def test_stored_numbers_counts_what_each_classifier_keeps(digits):
    x, y = digits
    linear = build_classifier("svm").fit(x, y)
    assert stored_numbers(linear) == 10 * 64 + 10
    kernel_map = build_classifier("rbf-svm", ClassifierOptions(kernel_components=50)).fit(x, y)
    assert stored_numbers(kernel_map) == 50 * 64 + 50 * 50 + 10 * 50 + 10  # landmarks, whitening, SVM


def test_kernel_svm_bad_gamma_is_a_config_error():
    with pytest.raises(ConfigError, match="kernel-svm needs gamma > 0"):
        build_classifier("kernel-svm", ClassifierOptions(gamma=0.0))


@pytest.mark.parametrize("name", ["svm", "logreg"])
def test_pca_step_folds_into_the_linear_weights(digits, name):
    """With a PCA in the pipeline, W and b on the raw features still reproduce the model's scores."""
    x, y = digits
    pipeline = build_classifier(name, ClassifierOptions(pca=20)).fit(x, y)
    assert pipeline.named_steps["pca"].n_components_ == 20
    weight, bias = linear_weights(pipeline, 10)
    np.testing.assert_allclose(x @ weight.T + bias, pipeline.decision_function(x), rtol=1e-6, atol=1e-6)
    assert stored_numbers(pipeline) == 20 * 64 + 64 + 10 * 20 + 10  # components, mean, W, b


def test_pca_with_kernel_svm_is_svc_on_the_projected_features(digits):
    x, y = digits[0][:400], digits[1][:400]
    ours = build_classifier("kernel-svm", ClassifierOptions(pca=16)).fit(x, y)
    projected = ours.named_steps["pca"].transform(ours.named_steps["scale"].transform(x))
    reference = SVC(kernel="rbf", gamma="scale").fit(projected, y)
    assert np.array_equal(ours.named_steps["model"].support_, reference.support_)


def test_negative_pca_is_a_config_error():
    with pytest.raises(ConfigError, match="pca is a number of components"):
        build_classifier("svm", ClassifierOptions(pca=-1))
