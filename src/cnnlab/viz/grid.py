"""Image grids: many small tiles (filters, activation maps) in one picture.

Tiles are first scaled to 0..1 and laid out as one mosaic array, so a grid of 512 tiles is a
single ``imshow`` (fast) rather than 512 axes. The same mosaic is written either into a titled
matplotlib figure (the CLI's PNGs) or straight to PNG bytes with a colormap (the explorer).
Figures are `matplotlib.figure.Figure` objects on the Agg canvas: no pyplot global state, so
the web server can draw from several threads.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

Scaling = Literal["each", "shared", "symmetric"]
BACKGROUND = (1.0, 1.0, 1.0)  # gaps between tiles


def scale_tiles(tiles: np.ndarray, scaling: Scaling = "each") -> np.ndarray:
    """Map tiles (N, h, w) or (N, h, w, 3) to 0..1.

    ``"each"``: every tile to its own min..max (shows structure in weak maps);
    ``"shared"``: one min..max for all tiles (compares strengths);
    ``"symmetric"``: -m..m -> 0..1 with m the largest magnitude, so 0 maps to 0.5 (signed weights).
    A constant tile (or set) maps to 0 ("each", "shared") or 0.5 ("symmetric").
    """
    t = np.asarray(tiles, dtype=np.float64)
    if scaling == "symmetric":
        m = np.abs(t).max() if t.size else 0.0
        return np.full_like(t, 0.5) if m == 0 else 0.5 + t / (2 * m)
    axes = tuple(range(1, t.ndim)) if scaling == "each" else None
    lo = t.min(axis=axes, keepdims=True)
    span = t.max(axis=axes, keepdims=True) - lo
    return np.where(span > 0, (t - lo) / np.where(span > 0, span, 1), 0.0)


def grid_shape(n: int, ncols: int | None = None) -> tuple[int, int]:
    """(rows, cols) for ``n`` tiles: ``ncols`` if given, else a near-square layout."""
    cols = max(1, min(n, ncols if ncols else math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


def mosaic(tiles: np.ndarray, *, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tiles (N, h, w) or (N, h, w, 3) laid out row by row with ``pad`` pixels between them.

    Gaps (and unused cells) are NaN, which the renderers draw as `BACKGROUND`.
    Returns (rows*(h+pad)-pad, cols*(w+pad)-pad[, 3]).
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    n, h, w = tiles.shape[:3]
    rows, cols = grid_shape(n, ncols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *tiles.shape[3:]), np.nan)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return out


def to_rgb(image: np.ndarray, cmap: str | None = "viridis") -> np.ndarray:
    """A 0..1 array (H, W) through ``cmap``, or (H, W, 3) as is, to float RGB with NaN -> background."""
    image = np.asarray(image, dtype=np.float64)
    gaps = np.isnan(image if image.ndim == 2 else image[..., 0])
    rgb = image.copy() if image.ndim == 3 else colormaps[cmap or "gray"](np.nan_to_num(image))[..., :3]
    rgb[gaps] = BACKGROUND
    return np.clip(rgb, 0, 1)


def png_bytes(image: np.ndarray, cmap: str | None = "viridis", *, min_side: int = 0) -> bytes:
    """PNG of a 0..1 image (see `to_rgb`), enlarged by an integer factor (nearest) to ``min_side``."""
    rgb = (to_rgb(image, cmap) * 255).round().astype(np.uint8)
    pil = Image.fromarray(rgb, "RGB")
    factor = max(1, math.ceil(min_side / max(1, min(pil.size)))) if min_side else 1
    if factor > 1:
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Panel:
    """One picture in a figure: a 0..1 image (H, W) or (H, W, 3), its title and colormap."""

    image: np.ndarray
    title: str = ""
    cmap: str | None = "viridis"


def panels_figure(panels: Sequence[Panel], *, ncols: int = 1, title: str = "", panel_inches: float = 4.0) -> Figure:
    """A figure with ``panels`` in a grid of ``ncols`` columns, pixels drawn unsmoothed."""
    rows, cols = grid_shape(len(panels), ncols)
    heights = [
        max(p.image.shape[0] / p.image.shape[1] for p in panels[r * cols : (r + 1) * cols]) for r in range(rows)
    ]
    size = (panel_inches * cols, panel_inches * sum(heights) + 0.45 * rows + (0.5 if title else 0))
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows, cols, height_ratios=heights)
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(grid[divmod(i, cols)])
        ax.imshow(to_rgb(panel.image, panel.cmap), interpolation="nearest")
        ax.set_title(panel.title, fontsize=10)
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG (creating parent folders) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path


