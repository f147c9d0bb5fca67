"""Class templates: what a linear classifier on raw pixels learned, one image per class.

A linear classifier scores class k as w_k . x + b_k with x the flattened image, so w_k has one
weight per pixel and channel: reshaped to (C, H, W) it is a picture, the class's "template",
and the score is how well the image matches it (cs231n, lecture 2). Two sources:

- a `cnnlab features pixels` run: RUN/weights.npz, already on 0..1 pixels (standardisation
  folded in);
- a `cnnlab train` run whose classifier sees the raw pixels (the `linear` model: ``fc.weight``
  is (K, C*H*W)), loaded with `cnnlab.load_model`. Its inputs were normalised per channel,
  (x - mean) / std, so weights are divided by std to be per 0..1 pixel.

Gray templates are drawn with a diverging colormap, 0 in the middle: red pixels raise the
class's score when bright, blue ones lower it. Color templates are scaled to 0..1 each. For
display, each template is clipped at the 99th percentile of its weights' magnitude.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.viz.grid import Panel, panels_figure, scale_tiles

GRAY_CMAP = "RdBu_r"
CLIP_PERCENTILE = 99.0  # display only: weights are drawn clipped to this percentile of their magnitude


@dataclass
class ClassTemplates:
    """Signed templates (K, H, W) for gray or (K, H, W, 3) for color images, with class names."""

    images: np.ndarray
    classes: list[str]
    source: str  # where the weights came from, for the figure title


def weights_to_templates(weight: np.ndarray, image_shape: Sequence[int], std: Sequence[float] | None = None) -> np.ndarray:
    """Rows of W (K, C*H*W) as images (K, H, W) (C = 1) or (K, H, W, C); divided by ``std`` per channel."""
    weight = np.asarray(weight, dtype=np.float64)
    c, h, w = (int(v) for v in image_shape)
    if weight.ndim != 2 or weight.shape[1] != c * h * w:
        raise ShapeError(
            f"class templates need a linear classifier on raw pixels: its weights are {weight.shape}, "
            f"not (classes, {c}*{h}*{w} = {c * h * w}); use a `cnnlab features pixels` run or a run of the `linear` model"
        )
    images = weight.reshape(-1, c, h, w)
    if std is not None:
        images = images / np.asarray(std, dtype=np.float64).reshape(1, c, 1, 1)
    return images[:, 0] if c == 1 else images.transpose(0, 2, 3, 1)


def _image_shape(meta: dict) -> tuple[int, int, int]:
    return int(meta["in_channels"]), *(int(v) for v in meta["input_size"])  # type: ignore[return-value]


def _from_feature_run(run: Path, meta: dict) -> ClassTemplates:
    from cnnlab.features.extractors import Pixels
    from cnnlab.features.run import read_weights

    if meta.get("method") != Pixels.name:
        raise ConfigError(
            f"{run} used {meta.get('method')!r} features, whose weights are not pixels: "
            f"templates need `cnnlab features {Pixels.name} ...`"
        )
    weight, _ = read_weights(run)
    if weight.size == 0:  # e.g. rbf-svm: a kernel machine has no weight per pixel
        raise ConfigError(f"{run} used the {meta.get('classifier')!r} classifier, which has no linear weights: "
                          "templates need a linear one (--classifier svm, logreg or perceptron)")
    return ClassTemplates(weights_to_templates(weight, _image_shape(meta)), [str(c) for c in meta["classes"]],
                          f"{meta.get('model', Pixels.name)}")


def _from_trained_model(run: Path, which: str) -> ClassTemplates:
    import torch

    from cnnlab.runs import load_model

    loaded = load_model(run, which=which, device="cpu")
    head = loaded.model.get_classifier()
    weight = getattr(head, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise ShapeError(f"{run}'s classifier has no linear weight matrix: templates need the `linear` model")
    meta = loaded.meta
    return ClassTemplates(
        weights_to_templates(weight.detach().cpu().numpy(), _image_shape(meta), meta.get("std")),
        [str(c) for c in meta["classes"]],
        f"{meta.get('model', 'model')} ({loaded.path.name})",
    )


def templates_from_run(run: str | Path, *, which: str = "best") -> ClassTemplates:
    """Templates of a feature run (``pixels``) or of a trained linear model (run folder or .pt)."""
    from cnnlab.runs import resolve_run

    target = resolve_run(run, which=which)
    meta = target.run.meta() if target.run is not None else {}
    if target.run is not None and meta.get("kind") == "features":
        return _from_feature_run(target.run.path, meta)
    return _from_trained_model(target.require_checkpoint(), which)


def _clip_outliers(image: np.ndarray) -> np.ndarray:
    """Clip weights beyond the CLIP_PERCENTILE of |w|: a few extreme pixels would wash out the rest."""
    bound = np.percentile(np.abs(image), CLIP_PERCENTILE)
    return np.clip(image, -bound, bound) if bound > 0 else image


def templates_figure(templates: ClassTemplates, *, ncols: int = 5) -> Figure:
    """One panel per class, titled with its name."""
    color = templates.images.ndim == 4
    panels = [
        Panel(scale_tiles(_clip_outliers(image)[None], "each" if color else "symmetric")[0], name,
              None if color else GRAY_CMAP)
        for image, name in zip(templates.images, templates.classes)
    ]
    return panels_figure(panels, ncols=ncols, title=f"class templates: {templates.source}", panel_inches=1.8)
