"""Where the model looks: Grad-CAM and plain gradient saliency, computed with captum.

- Grad-CAM (Selvaraju et al., 2017, https://arxiv.org/abs/1610.02391): the target class score's
  gradient with respect to a conv layer's output, averaged over space, weights that layer's
  maps; the ReLU of the weighted sum, upsampled (bilinear) to the input size, is the heat map.
  The layer defaults to the conv layer that runs last (found by running the model, never by
  its name) among those whose output is larger than 1x1: the most class-specific maps that
  still have a spatial layout.
- Saliency (Simonyan et al., 2013, https://arxiv.org/abs/1312.6034): the absolute gradient of
  the class score with respect to each input pixel, the largest over color channels.

Both maps are scaled to 0..1 by their maximum (all zeros stay zeros).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.inspect.conv_layers import last_conv_layer, resolve_conv_layer
from cnnlab.viz.grid import Panel, panels_figure, to_rgb

HEAT_CMAP = "jet"


@dataclass
class Explanation:
    """Grad-CAM and saliency of one image for one class."""

    target: int  # the class explained
    probs: np.ndarray  # (num_classes,) softmax of the logits
    layer: str | None  # Grad-CAM's conv layer (None: Grad-CAM was not asked for)
    gradcam: np.ndarray | None  # (H, W) in 0..1
    saliency: np.ndarray  # (H, W) in 0..1


def _check_single(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[0] != 1:
        raise ShapeError(f"expected one image as a (1, C, H, W) tensor, got shape {tuple(x.shape)}")


def _unit_max(heat: torch.Tensor) -> np.ndarray:
    heat = heat.detach().float().cpu()
    top = heat.max()
    return (heat / top if top > 0 else torch.zeros_like(heat)).numpy()


def grad_cam(model: nn.Module, x: torch.Tensor, target: int, *, layer: str | None = None) -> tuple[np.ndarray, str]:
    """Grad-CAM heat map (H, W) in 0..1 of ``x`` (1, C, H, W) for class ``target``, and its layer."""
    from captum.attr import LayerAttribution, LayerGradCam

    _check_single(x)
    name = layer or last_conv_layer(model, x)
    cam = LayerGradCam(model, resolve_conv_layer(model, name)).attribute(x, target=target, relu_attributions=True)
    cam = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")  # (1, 1, H, W)
    return _unit_max(cam.clamp(min=0)[0, 0]), name


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """|d score_target / d pixel|, the maximum over channels, (H, W) in 0..1."""
    from captum.attr import Saliency

    _check_single(x)
    grads = Saliency(model).attribute(x.clone().requires_grad_(True), target=target, abs=True)  # (1, C, H, W)
    return _unit_max(grads[0].amax(0))


def resolve_class(spec: str | int, classes: Sequence[str]) -> int:
    """A class given by index (``3``) or by name (``"cat"``) -> its index."""
    names = [str(c) for c in classes]
    if str(spec) in names:
        return names.index(str(spec))
    if str(spec).lstrip("-").isdigit() and 0 <= int(spec) < len(names):
        return int(spec)
    raise ConfigError(f"unknown class {spec!r}: give an index 0..{len(names) - 1} or one of: {', '.join(names)}")


def explain(
    model: nn.Module, x: torch.Tensor, *, target: int | None = None, layer: str | None = None, gradcam: bool = True
) -> Explanation:
    """Grad-CAM and saliency of ``x`` for class ``target`` (default: the predicted class).

    ``gradcam=False`` gives the saliency only (for models without conv layers).
    """
    _check_single(x)
    with torch.no_grad():
        probs = model(x).float().softmax(1)[0].cpu().numpy()
    if target is None:
        target = int(probs.argmax())
    elif not 0 <= target < len(probs):
        raise ConfigError(f"class {target} is out of range: the model has classes 0..{len(probs) - 1}")
    cam, name = grad_cam(model, x, target, layer=layer) if gradcam else (None, None)
    return Explanation(target, probs, name, cam, saliency(model, x, target))


def overlay(image: np.ndarray, heat: np.ndarray, *, alpha: float = 0.6) -> np.ndarray:
    """Color a 0..1 image (H, W) or (H, W, 3) by a 0..1 heat map (H, W) -> RGB (H, W, 3).

    Opacity grows with the heat, so cold regions show the image and hot ones the colormap.
    """
    weight = alpha * np.asarray(heat, dtype=np.float64)[..., None]
    return (1 - weight) * to_rgb(image, "gray") + weight * to_rgb(heat, HEAT_CMAP)


def explanation_figure(image: np.ndarray, result: Explanation, classes: Sequence[str]) -> Figure:
    """Three panels: the input, Grad-CAM over it, and the saliency map."""
    top = int(result.probs.argmax())
    label = f"class {classes[result.target]} (p={result.probs[result.target]:.2f})"
    if top != result.target:
        label += f"; the model predicts {classes[top]} (p={result.probs[top]:.2f})"
    panels = [
        Panel(image, "input (as the model sees it)", "gray"),
        Panel(overlay(image, result.gradcam), f"Grad-CAM at {result.layer}", None),
        Panel(result.saliency, "gradient saliency", "hot"),
    ]
    return panels_figure(panels, ncols=3, title=label, panel_inches=3.5)
