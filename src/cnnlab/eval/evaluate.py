"""Evaluate a trained run on a dataset split: metrics, probabilities and the worst mistakes."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
from torch import nn

from cnnlab.display import CELL, TABLE, esc, percent, table
from cnnlab.errors import ConfigError
from cnnlab.eval.metrics import Metrics, compute_metrics, most_confident_errors
from cnnlab.eval.predict import channel_stat
from cnnlab.eval.tta import TestTimeAugmentation, confidence, share_threshold, tta_level
from cnnlab.numerics import FP32, Numerics, for_evaluation
from cnnlab.runs import RunDir, load_model, read_checkpoint, resolve_run

GALLERY_SIZE = 16  # most confidently wrong images kept for the report


@dataclass
class Mistake:
    """A wrong prediction: position in the split, true and predicted class, its probability, the image."""

    index: int
    true: int
    pred: int
    prob: float
    image: torch.Tensor  # uint8 (C, H, W), as the model saw it (after resizing), before normalization


@dataclass
class EvalResult:
    """What one pass over a split measured. ``probs`` (N, classes) and ``labels`` (N,) stay on the CPU."""

    metrics: Metrics
    dataset: str
    split: str
    checkpoint: str
    tta: str                                 # the test-time augmentation level (eval.tta.TTA_LEVELS)
    probs: torch.Tensor
    labels: torch.Tensor
    mistakes: list[Mistake] = field(default_factory=list)
    split_note: str = ""  # why this split was evaluated when none was asked for (no test split)
    tta_share: float = 1.0  # the share of the images, least confident first, that got the TTA views

    def __repr__(self) -> str:
        return eval_text(self)

    def _repr_html_(self) -> str:
        return eval_html(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no tensors, no images)."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "checkpoint": self.checkpoint,
            "tta": self.tta,
            "tta_share": self.tta_share,
            **self.metrics.to_dict(),
            "mistakes": [
                {"index": m.index, "true": self.metrics.classes[m.true], "pred": self.metrics.classes[m.pred], "prob": m.prob}
                for m in self.mistakes
            ],
        }


def _denormalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Normalized float (B, C, H, W) -> uint8 images on the CPU."""
    return ((x * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).cpu()


def _same(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    classes: Sequence[str],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    tta: str = "none",
    tta_share: float = 1.0,
    numerics: Numerics = FP32,
    device: str | torch.device = "cpu",
    gallery: int = GALLERY_SIZE,
    topk: Sequence[int] = (1, 5),
    gather: Callable[[torch.Tensor], torch.Tensor] = _same,
    dataset: str = "",
    split: str = "test",
    checkpoint: str = "",
    split_note: str = "",
) -> EvalResult:
    """The one pass over a split: run ``model`` over normalized ``(x, y)`` batches and measure it.

    ``numerics``: the precision and memory layout the run trained in, so the numbers are the run's
    own (and NHWC bf16 is several times faster on a CPU). ``tta``: a level of `cnnlab.eval.tta`;
    ``tta_share``: the share of the split (its least confident images, ranked by a first, plain pass
    over ``batches``, which must then be re-iterable) that gets its views.
    Only the ``gallery`` most confident mistakes keep their image, so memory stays small on big
    splits. ``gather`` joins the logits and labels of all processes (under torchrun: each evaluates
    its shard); the mistakes are this process's. ``dataset``, ``split``, ``checkpoint`` and
    ``split_note`` label the result.
    """
    autocast = numerics.autocast(device)
    model.eval().to(device)
    if numerics.channels_last:
        model.to(memory_format=torch.channels_last)
    mean_t, std_t = channel_stat(mean, device), channel_stat(std, device)
    views = TestTimeAugmentation.for_data(tta, mean, std, tta_share)
    plain, threshold = _plain_pass(model, batches, numerics, device, views.share, gather) if views.selective else ([], None)
    all_logits, all_labels, mistakes = [], [], []
    seen = 0
    for batch, (x, y) in enumerate(batches):              # x (B, C, H, W) normalized, y (B,)
        x, y = numerics.layout(x.to(device)), y.to(device)
        with autocast():
            logits = views(model, x, plain[batch] if plain else None, threshold)  # (B, classes) float32, view average
        if gallery:
            for i, true, pred, prob in most_confident_errors(logits.softmax(1), y, gallery):
                mistakes.append(Mistake(seen + i, true, pred, prob, _denormalize(x[i : i + 1], mean_t, std_t)[0]))
            mistakes = sorted(mistakes, key=lambda m: -m.prob)[:gallery]
        all_logits.append(logits.cpu())
        all_labels.append(y.cpu())
        seen += len(y)
    if not all_logits:
        raise ConfigError("the split to evaluate is empty: choose another --split or dataset")
    logits, labels = gather(torch.cat(all_logits)), gather(torch.cat(all_labels))
    metrics = compute_metrics(logits, labels, classes, topk=topk)
    return EvalResult(metrics, dataset, split, checkpoint, views.level, logits.softmax(1), labels, mistakes, split_note,
                      views.share)


def _plain_pass(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], numerics: Numerics,
                device: str | torch.device, share: float,
                gather: Callable[[torch.Tensor], torch.Tensor]) -> tuple[list[torch.Tensor], float | None]:
    """The plain logits of every batch, and the top probability at or below which the least confident
    ``share`` of the whole split falls: a second pass over ``batches`` gives those images the views."""
    autocast = numerics.autocast(device)
    plain = []
    for x, _ in batches:
        with autocast():
            plain.append(model(numerics.layout(x.to(device))).float())
    if not plain:
        return [], None
    return plain, share_threshold(gather(torch.cat([confidence(p) for p in plain])), share)


def default_split(name: str, has_test: bool, has_val: bool) -> tuple[str, str]:
    """The split to evaluate when none is asked for: the test split, else validation (and a note why)."""
    if has_test or not has_val:
        return "test", ""
    return "val", f"{name} has no test split: the validation split was evaluated"


def _dataset_options(config: dict[str, Any]) -> dict[str, Any]:
    """The load_dataset options the run was trained with (same validation split, same data folder)."""
    data = config.get("data") if isinstance(config.get("data"), dict) else config
    names = ("data_dir", "val_fraction", "seed")
    return {k: data[k] for k in names if data.get(k) is not None}


def evaluate(
    run_or_checkpoint: str | Path,
    *,
    data: Any = None,
    split: str | None = None,
    tta: str | bool = "none",
    tta_share: float = 1.0,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    which: str = "best",
    data_dir: str | Path | None = None,
    allow_class_mismatch: bool = False,
) -> EvalResult:
    """Evaluate a run (folder or checkpoint) on ``split`` of its dataset, or of ``data``.

    ``split`` None: the test split, or the validation split when the dataset has no test split
    (``split_note`` of the result says so). ``tta``: none, flip, translate or grid (`cnnlab.eval.tta`);
    ``tta_share`` below 1: only that share of the split, its least confident images, gets the views.

    ``data`` is a dataset name (``"digits"``, ``"folder:PATH"``, ...) or a loaded DatasetBundle;
    images are resized and converted to the channels the model was trained on and normalized
    with the run's mean/std. A dataset whose class names differ from the run's is refused (labels would
    be compared by position only) unless ``allow_class_mismatch``, which warns instead.
    """
    from cnnlab.data import load_dataset, make_loader

    level = tta_level({"tta": tta})
    checkpoint = resolve_run(run_or_checkpoint, which=which).require_checkpoint()
    loaded = load_model(checkpoint, device=device)
    meta = loaded.meta
    run_config = checkpoint_config(checkpoint)
    if data is None or isinstance(data, str):
        name = data or meta["dataset"]
        # the run's own data: the same validation hold-out; other data: all of its training split
        options = _dataset_options(run_config) if name == meta.get("dataset") else {"val_fraction": 0.0}
        if data_dir is not None:
            options["data_dir"] = data_dir
        bundle = load_dataset(name, image_size=tuple(meta["input_size"]), channels=meta["in_channels"], **options)
    else:
        bundle = data
    if bundle.num_classes != meta["num_classes"]:
        raise ConfigError(
            f"dataset {bundle.name!r} has {bundle.num_classes} classes but the model was trained for "
            f"{meta['num_classes']}: evaluate on a dataset with the same classes"
        )
    check_classes(list(bundle.classes), list(meta.get("classes") or ()), bundle.name, allow_class_mismatch)
    splits = {"train": bundle.train, "val": bundle.val, "test": bundle.test}
    split_note = ""
    if split is None:
        split, split_note = default_split(bundle.name, bundle.test is not None, bundle.val is not None)
    if splits.get(split) is None:
        present = ", ".join(k for k, v in splits.items() if v is not None)
        raise ConfigError(f"dataset {bundle.name!r} has no {split!r} split: use --split with one of {present}")
    loader = make_loader(splits[split], batch_size=batch_size, shuffle=False, mean=meta["mean"], std=meta["std"], device=device)
    return evaluate_model(
        loaded.model, loader, list(meta.get("classes") or bundle.classes), mean=meta["mean"], std=meta["std"],
        tta=level, tta_share=tta_share, numerics=for_evaluation(loaded.numerics, run_config, device), device=device,
        dataset=bundle.name, split=split, checkpoint=str(checkpoint), split_note=split_note,
    )


def _names(classes: Sequence[str], shown: int = 4) -> str:
    return ", ".join(map(str, classes[:shown])) + (", ..." if len(classes) > shown else "")


def check_classes(data: list[str], trained: list[str], name: str, allow_mismatch: bool) -> None:
    """ConfigError when the dataset's class names are not the run's, in the same order; a warning with
    ``allow_mismatch``. Runs without class names in meta.json are not checked."""
    if not trained or [str(c) for c in data] == [str(c) for c in trained]:
        return
    message = (f"dataset {name!r} has the classes {_names(data)} but the run was trained on {_names(trained)}: "
               "accuracy would compare labels by position only")
    if not allow_mismatch:
        raise ConfigError(f"{message}. Evaluate on a dataset with the run's classes, or pass --allow-class-mismatch "
                          "if the classes are the same under other names")
    warnings.warn(f"{message} (--allow-class-mismatch); per-class rows use the run's names", stacklevel=2)


def run_test_views(checkpoint: Path) -> tuple[str, float]:
    """The test-time views a run's own test figure was measured with: its TTA level and share."""
    config = checkpoint_config(checkpoint)
    return tta_level(config), float(config.get("tta_share", 1.0))


def checkpoint_config(checkpoint: Path) -> dict[str, Any]:
    """The training config stored in the run folder (config.yaml) or the checkpoint."""
    run = RunDir.of_checkpoint(checkpoint)
    if run is not None and (run.path / "config.yaml").exists():
        return run.config()
    return read_checkpoint(checkpoint).get("config") or {}


# --- in Jupyter ---------------------------------------------------------------------------------

def eval_text(result: EvalResult) -> str:
    m = result.metrics
    top = "  ".join(f"top-{k} {v:.2%}" for k, v in m.topk.items() if 1 < k < len(m.classes))
    return (f"EvalResult({result.dataset} {result.split}, {m.num_samples:,} images: accuracy {m.accuracy:.2%}"
            f"{'  ' + top if top else ''}  loss {m.loss:.4f}  macro F1 {m.macro.get('f1', 0):.2%})")


def eval_html(result: EvalResult) -> str:
    """Headline metrics, per-class precision/recall/F1 and the confusion matrix (rows: true class)."""
    m = result.metrics
    figures = [("accuracy", percent(m.accuracy)), ("loss", f"{m.loss:.4f}")]
    figures += [(f"top-{k} accuracy", percent(v)) for k, v in m.topk.items() if 1 < k < len(m.classes)]
    figures += [(f"macro {k}", percent(v)) for k, v in m.macro.items()]
    caption = f"{result.dataset}, {result.split} split, {m.num_samples:,} images" + (" (TTA)" if result.tta else "")
    per_class = [(c["class"], percent(c["precision"]), percent(c["recall"]), percent(c["f1"]), c["support"])
                 for c in m.per_class()]
    return (f'<div class="cnnlab-eval">{table(("metric", "value"), figures, caption=caption, cls="metrics")}'
            f'{table(("class", "precision", "recall", "F1", "support"), per_class, cls="per-class")}'
            f'{confusion_html(m.confusion, m.classes)}</div>')


def confusion_html(confusion: Sequence[Sequence[int]], classes: Sequence[str]) -> str:
    """Counts shaded by their share of the true class's row: a dark diagonal is a good classifier."""
    head = "".join(f'<th style="{CELL};background:#f5f5f5">{esc(c)}</th>' for c in classes)
    body = []
    for name, row in zip(classes, confusion):
        total = max(sum(row), 1)
        cells = "".join(_shaded(n, n / total) for n in row)
        body.append(f'<tr><th style="{CELL};background:#f5f5f5">{esc(name)}</th>{cells}</tr>')
    return (f'<table class="confusion" style="{TABLE}"><caption style="text-align:left;font-weight:bold">'
            f'confusion matrix (rows: true class, columns: predicted)</caption>'
            f'<thead><tr><th style="{CELL}"></th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def _shaded(count: int, share: float) -> str:
    blue = f"rgba(30,100,200,{share:.2f})"
    color = "white" if share > 0.5 else "black"
    return f'<td style="{CELL};background:{blue};color:{color}">{count}</td>'
