"""What the explorer computes for one uploaded image, as JSON-ready dicts with PNG data URLs.

The pictures come from `cnnlab.viz` (the same tiles and heat maps as `cnnlab viz ...`), drawn
straight to PNG with a colormap instead of into a titled figure.
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch

from cnnlab.app.catalog import LoadedRun
from cnnlab.eval.predict import polarity_note
from cnnlab.viz.activations import ACTIVATION_CMAP, capture_activations
from cnnlab.viz.cam import explain, overlay
from cnnlab.inspect.conv_layers import conv_layers
from cnnlab.viz.filters import filter_grid
from cnnlab.viz.grid import png_bytes
from cnnlab.viz.inputs import ModelImage, prepare_image

TOP_K = 5
MAX_CHANNELS = 64  # activation maps drawn per layer
RESPONSE_TILES = 16  # per-filter response tiles per layer (the filters card, beyond the first layer)
MIN_SIDE = 160  # small pictures are enlarged (nearest neighbour) to at least this many pixels


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _picture(image: np.ndarray, cmap: str | None) -> str:
    return data_url(png_bytes(image, cmap, min_side=MIN_SIDE))


def conv_layer_info(run: LoadedRun) -> list[dict[str, Any]]:
    return [
        {"name": name, "in_channels": m.in_channels, "out_channels": m.out_channels, "kernel_size": list(m.kernel_size)}
        for name, m in conv_layers(run.model).items()
    ]


def filters(run: LoadedRun, layer: str | None) -> dict[str, Any]:
    with run.lock:
        grid = filter_grid(run.model, layer)
    return {"layer": grid.layer, "caption": grid.caption(), "image": _picture(grid.mosaic(), grid.cmap)}


def _device(run: LoadedRun) -> torch.device:
    return next(run.model.parameters()).device


def _image(run: LoadedRun, data: bytes, inverted: bool) -> ModelImage:
    return prepare_image(data, run.meta, device=_device(run), inverted=inverted)


def model_input(run: LoadedRun, data: bytes, inverted: bool = False) -> torch.Tensor:
    """The upload as the model's normalized (1, C, H, W) input."""
    return _image(run, data, inverted).x


def _cam(run: LoadedRun, img: ModelImage, target: int | None) -> tuple[dict[str, Any], np.ndarray]:
    """The Grad-CAM/saliency answer and the class probabilities (explain runs the model anyway)."""
    result = explain(run.model, img.x, target=target, gradcam=bool(conv_layers(run.model)))
    classes = [str(c) for c in run.meta["classes"]]
    answer = {
        "target": result.target,
        "class": classes[result.target],
        "prob": float(result.probs[result.target]),
        "layer": result.layer,
        "gradcam": None if result.gradcam is None else _picture(overlay(img.display(), result.gradcam), None),
        "saliency": _picture(result.saliency, "hot"),
    }
    return answer, result.probs


def analyze(run: LoadedRun, data: bytes, inverted: bool = False) -> dict[str, Any]:
    """Top-k prediction, activation maps of every conv layer and Grad-CAM/saliency of the top class;
    ``polarity_note`` when the image looks of inverted polarity against the training images."""
    img = _image(run, data, inverted)
    classes = [str(c) for c in run.meta["classes"]]
    with run.lock:
        acts = capture_activations(run.model, img.x) if conv_layers(run.model) else []
        cam_answer, probs = _cam(run, img, None)
    order = np.argsort(-probs, kind="stable")[:TOP_K]
    return {
        "input_image": _picture(img.display(), "gray"),
        "polarity_note": polarity_note(img.pixels, run.meta["mean"]),
        "top": [{"index": int(i), "class": classes[i], "prob": float(probs[i])} for i in order],
        "activations": [
            {
                "layer": a.layer,
                "shape": list(a.shape),
                "caption": a.caption(MAX_CHANNELS),
                "image": _picture(a.mosaic(MAX_CHANNELS), ACTIVATION_CMAP),
                "tiles": [data_url(png_bytes(t, ACTIVATION_CMAP, min_side=48)) for t in a.tiles(RESPONSE_TILES)],
            }
            for a in acts
        ],
        "cam": cam_answer,
    }


def cam(run: LoadedRun, data: bytes, target: int | None, inverted: bool = False) -> dict[str, Any]:
    """Grad-CAM and saliency for class ``target`` (default: the predicted class)."""
    img = _image(run, data, inverted)
    with run.lock:
        return _cam(run, img, target)[0]
