"""Activation maps: what each conv layer outputs for one image.

Forward hooks record every conv layer's output (before any batch norm or ReLU that follows, so
maps can be negative). Each channel is one tile, scaled to its own min..max so weak but
structured maps stay visible (1x1 maps share the layer's range); the caption gives the
layer's output shape.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from cnnlab.errors import ShapeError
from cnnlab.inspect.conv_layers import forward_hooks, require_conv_layers, resolve_conv_layer
from cnnlab.viz.grid import Panel, mosaic, panels_figure, scale_tiles

ACTIVATION_CMAP = "viridis"


@dataclass
class ActivationMaps:
    """One layer's output for one image."""

    layer: str
    maps: np.ndarray  # (C, h, w) raw values

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.maps.shape)  # type: ignore[return-value]

    def tiles(self, max_channels: int = 64) -> np.ndarray:
        """The first ``max_channels`` maps scaled to 0..1, each on its own range
        (1x1 maps, which have no range of their own, on the layer's range)."""
        maps = self.maps[:max_channels]
        return scale_tiles(maps, "shared" if maps[0].size == 1 else "each")

    def mosaic(self, max_channels: int = 64) -> np.ndarray:
        return mosaic(self.tiles(max_channels))

    def caption(self, max_channels: int = 64) -> str:
        c, h, w = self.shape
        cut = f", first {max_channels} shown" if c > max_channels else ""
        return f"{self.layer}: {c} maps of {h}x{w}{cut}"


def capture_activations(model: nn.Module, x: torch.Tensor, layers: list[str] | None = None) -> list[ActivationMaps]:
    """Run ``model`` on one image ``x`` (1, C, H, W) and return the outputs of the conv layers
    ``layers`` (default: all), in the order the forward pass produced them.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ShapeError(f"expected one image as a (1, C, H, W) tensor, got shape {tuple(x.shape)}")
    modules = require_conv_layers(model) if layers is None else {n: resolve_conv_layer(model, n) for n in layers}
    seen: dict[str, np.ndarray] = {}

    def record(name: str, out: torch.Tensor) -> None:
        # a conv module used twice keeps its first output; copy before in-place ops change it
        seen.setdefault(name, out.detach()[0].float().cpu().numpy().copy())

    with forward_hooks(modules, record), torch.no_grad():
        model(x)
    return [ActivationMaps(name, maps) for name, maps in seen.items()]


def activations_figure(acts: list[ActivationMaps], *, max_channels: int = 64, title: str = "") -> Figure:
    """One titled grid per layer, in execution order, up to three a row."""
    panels = [Panel(a.mosaic(max_channels), a.caption(max_channels), ACTIVATION_CMAP) for a in acts]
    return panels_figure(panels, ncols=min(3, len(panels)), title=title, panel_inches=4.0)
