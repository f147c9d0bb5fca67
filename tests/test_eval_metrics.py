"""Our metrics against scikit-learn's on the same predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from cnnlab.eval.evaluate import evaluate_model
from cnnlab.eval.metrics import compute_metrics, confusion_matrix, most_confident_errors, topk_accuracy


def _random_problem(n: int, k: int, seed: int, skill: float = 1.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits that are right more often than chance, labels that may miss some classes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    logits = torch.randn(n, k, generator=g)
    logits[torch.arange(n), labels] += skill
    return logits, labels


@pytest.mark.parametrize("n,k,seed", [(200, 10, 0), (57, 3, 1), (31, 12, 2), (500, 2, 3)])
@pytest.mark.filterwarnings("ignore:'k' .* greater than or equal")
def test_metrics_match_sklearn(n: int, k: int, seed: int) -> None:
    logits, labels = _random_problem(n, k, seed)
    classes = [f"c{i}" for i in range(k)]
    m = compute_metrics(logits, labels, classes, topk=(1, 3, 5))
    y, p = labels.numpy(), logits.argmax(1).numpy()
    assert m.num_samples == n
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, p))
    np.testing.assert_array_equal(np.array(m.confusion), skm.confusion_matrix(y, p, labels=range(k)))
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, p, labels=range(k), zero_division=0)
    np.testing.assert_allclose(m.precision, prec)
    np.testing.assert_allclose(m.recall, rec)
    np.testing.assert_allclose(m.f1, f1)
    np.testing.assert_array_equal(m.support, support)
    assert m.macro["f1"] == pytest.approx(skm.f1_score(y, p, labels=range(k), average="macro", zero_division=0))
    for kk in (1, 3, 5):
        # sklearn wants one column (the positive class's probability) for 2 classes
        scores = logits.numpy() if k > 2 else logits.softmax(1)[:, 1].numpy()
        expected = skm.top_k_accuracy_score(y, scores, k=kk, labels=range(k))
        assert m.topk[kk] == pytest.approx(expected)
    probs = logits.double().softmax(1).numpy()
    assert m.loss == pytest.approx(skm.log_loss(y, probs, labels=range(k)))


def test_loss_from_probabilities_matches_sklearn() -> None:
    logits, labels = _random_problem(120, 5, 4)
    probs = logits.double().softmax(1)
    m = compute_metrics(probs, labels, list("abcde"), probs=True)
    assert m.loss == pytest.approx(skm.log_loss(labels.numpy(), probs.double().numpy(), labels=range(5)), rel=1e-5)
    assert m.accuracy == pytest.approx(skm.accuracy_score(labels.numpy(), logits.argmax(1).numpy()))


def test_classes_never_predicted_or_absent_score_zero() -> None:
    labels = torch.tensor([0, 0, 1, 1])
    preds = torch.tensor([0, 0, 0, 0])
    logits = torch.nn.functional.one_hot(preds, 3).float()
    m = compute_metrics(logits, labels, ["a", "b", "c"], topk=(1,))
    assert m.precision[1] == 0 and m.recall[1] == 0 and m.f1[2] == 0
    assert m.support == [2, 2, 0]
    assert confusion_matrix(preds, labels, 3).tolist() == [[2, 0, 0], [2, 0, 0], [0, 0, 0]]


def test_topk_larger_than_classes_is_one() -> None:
    logits, labels = _random_problem(10, 3, 5)
    assert topk_accuracy(logits, labels, 5) == 1.0


def test_most_confident_errors_are_wrong_and_sorted() -> None:
    logits, labels = _random_problem(300, 4, 6, skill=0.5)
    probs = logits.softmax(1)
    errors = most_confident_errors(probs, labels, 7)
    assert len(errors) == 7
    confs = [e[3] for e in errors]
    assert confs == sorted(confs, reverse=True)
    wrong = probs.argmax(1) != labels
    # no wrong prediction left out is more confident than the least confident one kept
    assert probs.max(1).values[wrong].sort(descending=True).values[6].item() == pytest.approx(confs[-1])
    for i, true, pred, _ in errors:
        assert true == labels[i] and pred == probs[i].argmax() and pred != true


def test_evaluate_model_over_batches_and_tta() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 6, 3))
    x = torch.rand(50, 2, 4, 6)
    y = torch.randint(0, 3, (50,))
    mean, std = [0.5, 0.4], [0.2, 0.3]
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 50, 16)]
    result = evaluate_model(model, batches, ["a", "b", "c"], mean=mean, std=std, gallery=5)
    metrics, probs, mistakes = result.metrics, result.probs, result.mistakes
    expected = model(x).softmax(1)
    torch.testing.assert_close(probs, expected.detach())
    assert metrics.accuracy == pytest.approx(skm.accuracy_score(y.numpy(), expected.argmax(1).numpy()))
    assert [m.index for m in mistakes] == [i for i, *_ in most_confident_errors(expected, y, 5)]
    # the gallery image is the denormalized input, back on the 0..255 scale
    m0 = mistakes[0]
    pixels = (x[m0.index] * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)).clamp(0, 1) * 255
    assert m0.image.dtype == torch.uint8 and (m0.image.float() - pixels).abs().max() <= 0.5 + 1e-4

    tta = evaluate_model(model, batches, ["a", "b", "c"], mean=mean, std=std, tta="flip").probs
    torch.testing.assert_close(tta, ((model(x) + model(x.flip(-1))) / 2).softmax(1).detach())  # mean logits
