"""The explorer's "what neurons want" answers (`cnnlab.viz.neurons`) as JSON-ready dicts with PNG data URLs."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from cnnlab.app.analysis import data_url
from cnnlab.app.catalog import LoadedRun
from cnnlab.viz.grid import png_bytes, scale_tiles
from cnnlab.viz.input_opt import PixelSpace
from cnnlab.viz.neurons import class_visualisation, feature_visualisation, fooling_image

PICTURE_SIDE = 224
MAX_STEPS = 1000  # a request cannot ask the server for more than this many gradient steps


def _picture(image: np.ndarray) -> str:
    return data_url(png_bytes(image, "gray" if image.ndim == 2 else None, min_side=PICTURE_SIDE))


def _space(run: LoadedRun) -> PixelSpace:
    return PixelSpace.of(run.meta, device=next(run.model.parameters()).device)


def _classes(run: LoadedRun) -> list[str]:
    return [str(c) for c in run.meta["classes"]]


def classvis(run: LoadedRun, target: int, steps: int) -> dict[str, Any]:
    with run.lock:
        result = class_visualisation(run.model, _space(run), target, steps=min(steps, MAX_STEPS))
    return {"image": _picture(result.image), "class": _classes(run)[target], "start": result.start, "end": result.end,
            "steps": result.steps}


def featvis(run: LoadedRun, layer: str, channel: int, steps: int) -> dict[str, Any]:
    with run.lock:
        result = feature_visualisation(run.model, _space(run), layer, channel, steps=min(steps, MAX_STEPS))
    return {"image": _picture(result.image), "layer": layer, "channel": channel, "start": result.start,
            "end": result.end, "steps": result.steps}


def fool(run: LoadedRun, x: torch.Tensor, target: int) -> dict[str, Any]:
    with run.lock:
        result = fooling_image(run.model, _space(run), x, target)
    classes = _classes(run)
    magnified = scale_tiles(result.delta[None], "symmetric")[0]
    gain = 0.5 / result.linf if result.linf > 0 else 1.0
    return {
        "original": _picture(result.original), "fooled": _picture(result.fooled),
        "delta": data_url(png_bytes(magnified, "RdBu_r" if magnified.ndim == 2 else None, min_side=PICTURE_SIDE)),
        "magnified": gain, "original_class": classes[result.original_class], "fooled_class": classes[result.fooled_class],
        "target": classes[target], "target_prob": result.target_prob, "success": result.success,
        "steps": result.steps, "l2": result.l2, "linf": result.linf,
    }
