"""Evaluate a trained run on a dataset split: metrics, probabilities and the worst mistakes."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.eval.metrics import Metrics, compute_metrics, most_confident_errors
from cnnlab.eval.predict import channel_stat
from cnnlab.eval.runs import require_checkpoint, resolve_run
from cnnlab.numerics import Numerics, for_evaluation, resolve_precision
from cnnlab.training.tta import TestTimeAugmentation, as_tta

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
    """What `evaluate` measured. ``probs`` (N, classes) and ``labels`` (N,) stay on the CPU."""

    metrics: Metrics
    dataset: str
    split: str
    checkpoint: str
    tta: bool
    probs: torch.Tensor
    labels: torch.Tensor
    mistakes: list[Mistake] = field(default_factory=list)
    tta_translate: bool = False  # with tta: the 1-pixel shifted views too
    tta_grid: bool = False  # with tta_translate: all eight shifts
    split_note: str = ""  # why this split was evaluated when none was asked for (no test split)

    def __repr__(self) -> str:
        from cnnlab.notebook.display import eval_text
        return eval_text(self)

    def _repr_html_(self) -> str:
        from cnnlab.notebook.display import eval_html
        return eval_html(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no tensors, no images)."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "checkpoint": self.checkpoint,
            "tta": self.tta,
            "tta_translate": self.tta_translate,
            "tta_grid": self.tta_grid,
            **self.metrics.to_dict(),
            "mistakes": [
                {"index": m.index, "true": self.metrics.classes[m.true], "pred": self.metrics.classes[m.pred], "prob": m.prob}
                for m in self.mistakes
            ],
        }


def _denormalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Normalized float (B, C, H, W) -> uint8 images on the CPU."""
    return ((x * std + mean).clamp(0, 1) * 255).round().to(torch.uint8).cpu()


@torch.no_grad()
def predict_probs(model: nn.Module, x: torch.Tensor, *, tta: bool | TestTimeAugmentation = False) -> torch.Tensor:
    """Softmax probabilities; with ``tta`` of the mean logits over the views (True: image and mirror),
    the trainer's rule, so `cnnlab eval --tta` reproduces a TTA run's test accuracy."""
    return as_tta(tta)(model, x).softmax(1)


@torch.no_grad()
def evaluate_model(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    classes: Sequence[str],
    *,
    mean: Sequence[float],
    std: Sequence[float],
    tta: bool = False,
    device: str | torch.device = "cpu",
    gallery: int = GALLERY_SIZE,
    topk: Sequence[int] = (1, 5),
    channels_last: bool = False,
    tta_translate: bool = False,
    precision: str = "fp32",
    tta_grid: bool = False,
) -> tuple[Metrics, torch.Tensor, torch.Tensor, list[Mistake]]:
    """Run ``model`` over normalized ``(x, y)`` batches; return metrics, probs, labels and mistakes.

    Only the ``gallery`` most confident mistakes keep their image, so memory stays small on big splits.
    ``channels_last``, ``precision`` (fp32, bf16 or fp16 autocast): as the trainer ran the model, so
    the numbers are the run's own test evaluation (and NHWC bf16 is several times faster on a CPU).
    """
    precision, _ = resolve_precision(precision, device)
    autocast = Numerics(precision, channels_last, "").autocast(device)
    model.eval().to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    mean_t, std_t = channel_stat(mean, device), channel_stat(std, device)
    views = TestTimeAugmentation.for_data(tta, tta_translate, mean, std, tta_grid)
    all_probs, all_labels, mistakes = [], [], []
    seen = 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with autocast():
            probs = predict_probs(model, x.contiguous(memory_format=torch.channels_last) if channels_last else x, tta=views)
        for i, true, pred, prob in most_confident_errors(probs, y, gallery):
            mistakes.append(Mistake(seen + i, true, pred, prob, _denormalize(x[i : i + 1], mean_t, std_t)[0]))
        mistakes = sorted(mistakes, key=lambda m: -m.prob)[:gallery]
        all_probs.append(probs.float().cpu())
        all_labels.append(y.cpu())
        seen += len(y)
    if not all_probs:
        raise ConfigError("the split to evaluate is empty: choose another --split or dataset")
    probs, labels = torch.cat(all_probs), torch.cat(all_labels)
    metrics = compute_metrics(probs, labels, classes, topk=topk, probs=True)
    return metrics, probs, labels, mistakes


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
    tta: bool = False,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    which: str = "best",
    data_dir: str | Path | None = None,
    tta_translate: bool = False,
    tta_grid: bool = False,
    allow_class_mismatch: bool = False,
) -> EvalResult:
    """Evaluate a run (folder or checkpoint) on ``split`` of its dataset, or of ``data``.

    ``split`` None: the test split, or the validation split when the dataset has no test split
    (``split_note`` of the result says so).

    ``data`` is a dataset name (``"digits"``, ``"folder:PATH"``, ...) or a loaded DatasetBundle;
    images are resized and converted to the channels the model was trained on and normalized
    with the run's mean/std. A dataset whose class names differ from the run's is refused (labels would
    be compared by position only) unless ``allow_class_mismatch``, which warns instead.
    """
    paths = resolve_run(run_or_checkpoint, which=which)
    checkpoint = require_checkpoint(paths, run_or_checkpoint)
    from cnnlab.data import load_dataset, make_loader
    from cnnlab.training import load_model

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
        split = "test" if bundle.test is not None or bundle.val is None else "val"
        split_note = "" if split == "test" else f"{bundle.name} has no test split: the validation split was evaluated"
    if splits.get(split) is None:
        present = ", ".join(k for k, v in splits.items() if v is not None)
        raise ConfigError(f"dataset {bundle.name!r} has no {split!r} split: use --split with one of {present}")
    loader = make_loader(splits[split], batch_size=batch_size, shuffle=False, mean=meta["mean"], std=meta["std"], device=device)
    classes = list(meta.get("classes") or bundle.classes)
    numerics = for_evaluation(loaded.numerics, run_config, device)
    metrics, probs, labels, mistakes = evaluate_model(
        loaded.model, loader, classes, mean=meta["mean"], std=meta["std"], tta=tta, device=device,
        channels_last=numerics.channels_last and len(meta["input_size"]) == 2, tta_translate=tta_translate,
        precision=numerics.precision, tta_grid=tta_grid,
    )
    views = TestTimeAugmentation.for_data(tta, tta_translate, meta["mean"], meta["std"], tta_grid)
    return EvalResult(metrics, bundle.name, split, str(checkpoint), tta, probs, labels, mistakes, views.translate, views.grid,
                      split_note)


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


def checkpoint_config(checkpoint: Path) -> dict[str, Any]:
    """The training config stored in the run folder (config.yaml) or the checkpoint."""
    import yaml

    run_config = checkpoint.parent.parent / "config.yaml"
    if run_config.exists():
        return yaml.safe_load(run_config.read_text()) or {}
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return state.get("config") or {}
