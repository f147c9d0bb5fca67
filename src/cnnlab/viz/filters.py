"""The learned filters (kernels) of a conv layer as an image grid.

A conv layer's weight is (out_channels, in_channels / groups, kh, kw). How it is drawn:

- the first conv layer of an RGB model: one color tile per filter (its 3 input-channel kernels
  as R, G, B), each filter scaled to its own min..max, as in the AlexNet paper's figure;
- any other layer: one gray tile per (filter, input channel) kernel, a row per filter
  (or a square grid when there is one input channel), on a shared diverging scale where white
  is 0, red positive and blue negative, so that signs and magnitudes compare across tiles.

Large layers are cut to the first ``max_filters`` filters and ``max_inputs`` input channels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from cnnlab.inspect.conv_layers import require_conv_layers, resolve_conv_layer
from cnnlab.viz.grid import Panel, mosaic, panels_figure, scale_tiles

SIGNED_CMAP = "RdBu_r"


@dataclass
class FilterGrid:
    """The tiles of one layer's filters, ready to draw."""

    layer: str
    weight_shape: tuple[int, ...]  # (out, in/groups, kh, kw)
    tiles: np.ndarray  # 0..1, (N, kh, kw, 3) when `rgb`, else (N, kh, kw)
    rgb: bool
    ncols: int | None  # tiles per row (None: a near-square grid)
    filters_shown: int
    inputs_shown: int

    @property
    def cmap(self) -> str | None:
        return None if self.rgb else SIGNED_CMAP

    def mosaic(self) -> np.ndarray:
        return mosaic(self.tiles, ncols=self.ncols)

    def caption(self) -> str:
        out, cin, kh, kw = self.weight_shape
        shown = f"{self.filters_shown} of {out} filters" if self.filters_shown < out else f"{out} filters"
        if self.rgb:
            return f"{self.layer}: {shown}, {kh}x{kw}, RGB"
        per_row = f", input channels 0-{self.inputs_shown - 1} of {cin} per row" if cin > 1 else ""
        return f"{self.layer}: {shown}, {kh}x{kw}{per_row}"


def filter_grid(model: nn.Module, layer: str | None = None, *, max_filters: int = 64, max_inputs: int = 8) -> FilterGrid:
    """The filters of conv layer ``layer`` (default: the first one) as tiles (see module docs)."""
    layers = require_conv_layers(model)
    first = next(iter(layers))
    name = layer or first
    weight = resolve_conv_layer(model, name).weight.detach().float().cpu().numpy()  # (out, in, kh, kw)
    out, cin = weight.shape[:2]
    kept = weight[:max_filters]
    if name == first and cin == 3:
        tiles = scale_tiles(kept.transpose(0, 2, 3, 1), "each")  # (N, kh, kw, 3)
        return FilterGrid(name, weight.shape, tiles, True, None, len(kept), 3)
    kept = kept[:, :max_inputs]
    n_in = kept.shape[1]
    tiles = scale_tiles(kept.reshape(-1, *kept.shape[2:]), "symmetric")  # (N*n_in, kh, kw)
    return FilterGrid(name, weight.shape, tiles, False, n_in if n_in > 1 else None, len(kept), n_in)


def filters_figure(grid: FilterGrid) -> Figure:
    """A titled figure of one layer's filters."""
    return panels_figure([Panel(grid.mosaic(), grid.caption(), grid.cmap)], panel_inches=6.0)
