"""Classification metrics computed with torch from logits and labels.

Conventions follow scikit-learn (the tests compare against it): the confusion matrix has true
classes in rows and predicted classes in columns; a precision, recall or F1 whose denominator is
zero is 0; top-k accuracy with k >= the number of classes is 1.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

from cnnlab.errors import ShapeError


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class."""
    flat = labels.long() * num_classes + preds.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall_f1(confusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class precision, recall, F1 (float64) and support (int64) from a confusion matrix."""
    cm = confusion.double()
    tp = cm.diag()
    predicted = cm.sum(0)  # column sums: how often each class was predicted
    support = cm.sum(1)  # row sums: how often each class occurs
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    return precision, recall, f1, support.long()


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of samples whose true class is among the ``k`` highest scores."""
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices  # (N, k)
    return (top == labels.view(-1, 1)).any(dim=1).double().mean().item()


@dataclass
class Metrics:
    """Everything `compute_metrics` measures; ``to_dict`` gives plain JSON-ready types."""

    classes: list[str]
    num_samples: int
    accuracy: float
    loss: float
    topk: dict[int, float]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    confusion: list[list[int]]
    macro: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["topk"] = {str(k): v for k, v in self.topk.items()}  # JSON object keys are strings
        return data

    def per_class(self) -> list[dict]:
        """One row per class: name, precision, recall, f1, support."""
        return [
            {"class": c, "precision": p, "recall": r, "f1": f, "support": s}
            for c, p, r, f, s in zip(self.classes, self.precision, self.recall, self.f1, self.support)
        ]


def compute_metrics(
    logits: torch.Tensor,
    labels: torch.Tensor,
    classes: Sequence[str],
    *,
    topk: Sequence[int] = (1, 5),
    probs: bool = False,
) -> Metrics:
    """Accuracy, top-k accuracy, cross-entropy loss, per-class P/R/F1 and the confusion matrix.

    ``logits`` is (N, num_classes); with ``probs=True`` it holds probabilities instead (as after
    test-time augmentation, which averages softmax outputs) and the loss is their negative log.
    """
    if logits.ndim != 2 or logits.shape[0] != labels.shape[0]:
        raise ShapeError(f"expected logits (N, classes) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    num_classes = len(classes)
    if logits.shape[1] != num_classes:
        raise ShapeError(f"the model gives {logits.shape[1]} scores but there are {num_classes} class names")
    logits = logits.detach().double().cpu()
    labels = labels.detach().long().cpu()
    if probs:
        loss = F.nll_loss(logits.clamp(min=1e-15).log(), labels).item()
    else:
        loss = F.cross_entropy(logits, labels).item()
    preds = logits.argmax(1)
    cm = confusion_matrix(preds, labels, num_classes)
    precision, recall, f1, support = precision_recall_f1(cm)
    return Metrics(
        classes=list(classes),
        num_samples=int(labels.numel()),
        accuracy=(preds == labels).double().mean().item(),
        loss=loss,
        topk={k: topk_accuracy(logits, labels, k) for k in topk},
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=support.tolist(),
        confusion=cm.tolist(),
        macro={"precision": precision.mean().item(), "recall": recall.mean().item(), "f1": f1.mean().item()},
    )


def most_confident_errors(probs: torch.Tensor, labels: torch.Tensor, n: int) -> list[tuple[int, int, int, float]]:
    """The ``n`` wrong predictions made with the highest probability, as (index, true, pred, prob)."""
    conf, preds = probs.detach().max(1)
    wrong = (preds != labels).nonzero().flatten()
    order = conf[wrong].argsort(descending=True)[:n]
    return [(int(i), int(labels[i]), int(preds[i]), float(conf[i])) for i in wrong[order]]
