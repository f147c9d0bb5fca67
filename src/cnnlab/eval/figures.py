"""The report's figures, drawn with matplotlib's object API (Agg canvas, no pyplot global state)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cnnlab.eval.metrics import Metrics
from cnnlab.runs import RunDir

DPI = 110
LABELLED_CLASSES_MAX = 30  # above this many classes, confusion-matrix ticks and counts are left out
SHORT_RUN_EPOCHS = 3  # runs of fewer epochs have their curves drawn from steps.csv


def curve_rows(run_dir: str | Path) -> tuple[list[dict[str, float | None]], list[dict[str, float | None]]]:
    """What the learning curves are drawn from: metrics.csv rows, and the steps.csv rows when the run
    has fewer than SHORT_RUN_EPOCHS epochs (else [], one point per epoch is curve enough)."""
    run = RunDir(run_dir, writer=False)
    rows = run.read_metrics()
    return rows, run.read_metrics("steps.csv") if len(rows) < SHORT_RUN_EPOCHS else []


def _new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def _column(rows: Sequence[Mapping[str, float | None]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of ``key`` where the row has a value."""
    pairs = [(r.get("epoch"), r.get(key)) for r in rows if r.get(key) is not None]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _epoch_axis(ax, title: str, *, whole_epochs: bool = True) -> None:
    ax.set_title(title)
    ax.set_xlabel("epoch")
    if whole_epochs:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7)


# panel title -> metrics.csv columns drawn in it
CURVE_PANELS = {"loss": ("train_loss", "val_loss"), "accuracy": ("train_acc", "val_acc"), "learning rate": ("lr",)}


def _at_fractional_epochs(rows: Sequence[Mapping[str, float | None]],
                          steps: Sequence[Mapping[str, float | None]]) -> list[Mapping[str, float | None]]:
    """metrics.csv rows placed at the fractional epoch of their step (a run's last epoch may be partial)."""
    last = steps[-1]
    epochs_per_step = (last["epoch"] or 0.0) / (last["step"] or 1.0)
    return [{**r, "epoch": (r.get("step") or 0.0) * epochs_per_step} for r in rows]


def learning_curves(rows: Sequence[Mapping[str, float | None]], path: Path,
                    steps: Sequence[Mapping[str, float | None]] = ()) -> Path:
    """Train/val loss, train/val accuracy and learning rate per epoch (rows of metrics.csv).

    With ``steps`` (rows of steps.csv) the training loss and learning rate are drawn every logged
    step, and the per-epoch figures at the fractional epoch where they were measured: the curves of
    a run of a few epochs, or of a fraction of one.
    """
    return _save(curves_figure(rows, steps), path)


def curves_figure(rows: Sequence[Mapping[str, float | None]], steps: Sequence[Mapping[str, float | None]] = ()) -> Figure:
    """The figure `learning_curves` saves: one panel per CURVE_PANELS entry."""
    per_step = {"train_loss", "lr"} if steps else set()
    rows = _at_fractional_epochs(rows, steps) if steps else rows
    fig = _new_figure(11, 3.2)
    for ax, (title, keys) in zip(fig.subplots(1, len(CURVE_PANELS), sharex=bool(steps)), CURVE_PANELS.items()):
        for key in keys:
            if key in per_step:
                epochs, values = _column(steps, key)
                ax.plot(epochs, values, linewidth=1, label=f"{key} (per step)")
                continue
            epochs, values = _column(rows, key)
            if values:
                ax.plot(epochs, values, marker="o", markersize=3, label=key)
        _epoch_axis(ax, title, whole_epochs=not steps)
    return fig


def confusion_figure(metrics: Metrics, path: Path) -> Path:
    """The confusion matrix as a heat map (rows: true class, columns: predicted class)."""
    cm = np.asarray(metrics.confusion)
    n = len(cm)
    side = min(2.6 + 0.3 * n, 14)
    fig = _new_figure(side + 1, side)
    ax = fig.subplots()
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= LABELLED_CLASSES_MAX:
        ax.set_xticks(range(n), metrics.classes, rotation=90, fontsize=8)
        ax.set_yticks(range(n), metrics.classes, fontsize=8)
        threshold = cm.max() / 2 if cm.size else 0
        for (i, j), count in np.ndenumerate(cm):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color="white" if count > threshold else "black")
    return _save(fig, path)


def per_class_figure(metrics: Metrics, path: Path) -> Path:
    """Precision, recall and F1 per class as grouped bars."""
    n = len(metrics.classes)
    fig = _new_figure(min(3 + 0.5 * n, 16), 3.2)
    ax = fig.subplots()
    x = np.arange(n)
    for offset, (name, values) in zip((-0.27, 0, 0.27), (("precision", metrics.precision), ("recall", metrics.recall), ("F1", metrics.f1))):
        ax.bar(x + offset, values, width=0.27, label=name)
    ax.set_xticks(x, metrics.classes if n <= LABELLED_CLASSES_MAX else [""] * n, rotation=90, fontsize=8)
    ax.set_ylim(0, 1)
    fig.legend(fontsize=8, ncols=3, loc="outside upper center")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def mistakes_figure(mistakes: Sequence, classes: Sequence[str], path: Path, *, columns: int = 8) -> Path:
    """A grid of wrongly classified images titled with their true and predicted class."""
    rows = max(1, -(-len(mistakes) // columns))
    height = 1.75 * rows
    # a fixed grid: the constrained-layout solver doubles the drawing time of a grid of small axes
    fig = _new_figure(1.45 * columns, height, layout=None)
    margin = 0.05 / height  # 0.05 inch, whatever the number of rows
    axes = np.atleast_1d(fig.subplots(rows, columns, gridspec_kw=dict(
        left=0.01, right=0.99, bottom=margin, top=1 - 0.4 / height, wspace=0.12, hspace=0.45))).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, m in zip(axes, mistakes):
        image = m.image.permute(1, 2, 0).numpy()  # (H, W, C)
        if image.shape[2] == 1:
            ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(image)
        ax.set_title(f"true: {classes[m.true]}\npred: {classes[m.pred]} ({m.prob:.0%})", fontsize=7)
    return _save(fig, path)


def compare_curves(runs: Mapping[str, Sequence[Mapping[str, float | None]]], path: Path) -> Path:
    """Validation accuracy and train/val loss of several runs, one line per run and quantity."""
    fig = _new_figure(11, 3.6)
    ax_acc, ax_loss = fig.subplots(1, 2)
    for index, (name, rows) in enumerate(runs.items()):
        for ax, key, style in ((ax_acc, "val_acc", "-"), (ax_loss, "val_loss", "-"), (ax_loss, "train_loss", ":")):
            epochs, values = _column(rows, key)
            if values:  # one colour per run across both panels
                ax.plot(epochs, values, style, color=f"C{index % 10}", marker="o", markersize=3, label=f"{name} {key}")
    for ax, title in ((ax_acc, "validation accuracy"), (ax_loss, "loss (solid: val, dotted: train)")):
        _epoch_axis(ax, title)
    return _save(fig, path)
