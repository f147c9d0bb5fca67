"""Filters, activation maps, Grad-CAM/saliency and the image grids they are drawn in."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.viz.activations import activations_figure, capture_activations
from cnnlab.viz.cam import explain, explanation_figure, grad_cam, resolve_class, saliency
from cnnlab.inspect.conv_layers import conv_layers, execution_order, last_conv_layer, resolve_conv_layer
from cnnlab.viz.filters import filter_grid, filters_figure
from cnnlab.viz.grid import mosaic, png_bytes, save_figure, scale_tiles

from viz_support import tiny_cnn


def rgb_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(inplace=True),  # in-place ReLU: hooks must copy
        nn.Conv2d(5, 12, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 4),
    ).eval()


# --- layers ------------------------------------------------------------------------------------

def test_conv_layers_are_found_by_type_and_bad_names_list_them():
    model = rgb_net()
    assert list(conv_layers(model)) == ["0", "2"]
    with pytest.raises(ConfigError, match=r"'nope'.*0, 2"):
        resolve_conv_layer(model, "nope")
    with pytest.raises(ConfigError, match="no convolution layers"):
        filter_grid(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))


class RegisteredBackwards(nn.Module):
    """Registers its last-running conv first: the default Grad-CAM layer must follow execution."""

    def __init__(self) -> None:
        super().__init__()
        self.late = nn.Conv2d(4, 4, 3, padding=1)
        self.early = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.late(self.early(x)).mean((2, 3)))


def test_last_conv_layer_is_the_last_to_run_not_the_last_registered():
    model = RegisteredBackwards().eval()
    x = torch.randn(1, 1, 8, 8)
    assert list(conv_layers(model)) == ["late", "early"]
    assert list(execution_order(model, x)) == ["early", "late"]
    assert last_conv_layer(model, x) == "late"
    assert explain(model, x).layer == "late"


# --- grids -------------------------------------------------------------------------------------

def test_scale_tiles_modes():
    t = np.array([[[0.0, 2.0]], [[-1.0, 1.0]]])  # two 1x2 tiles
    np.testing.assert_allclose(scale_tiles(t, "each"), [[[0, 1]], [[0, 1]]])
    np.testing.assert_allclose(scale_tiles(t, "shared"), [[[1 / 3, 1]], [[0, 2 / 3]]])
    np.testing.assert_allclose(scale_tiles(t, "symmetric"), [[[0.5, 1]], [[0.25, 0.75]]])
    np.testing.assert_allclose(scale_tiles(np.ones((2, 2, 2)), "each"), 0)


def test_mosaic_places_tiles_row_by_row_with_gaps():
    tiles = np.arange(5 * 2 * 3, dtype=float).reshape(5, 2, 3)
    m = mosaic(tiles, ncols=3, pad=1)
    assert m.shape == (2 * 3 - 1, 3 * 4 - 1)
    np.testing.assert_array_equal(m[0:2, 4:7], tiles[1])
    np.testing.assert_array_equal(m[3:5, 4:7], tiles[4])
    assert np.isnan(m[2]).all() and np.isnan(m[3:5, 8:]).all()  # gap row, unused 6th cell
    assert mosaic(np.zeros((10, 4, 4, 3))).shape == (3 * 5 - 1, 4 * 5 - 1, 3)  # near-square: 4 columns


def test_png_bytes_is_enlarged_by_an_integer_factor():
    img = Image.open(io.BytesIO(png_bytes(np.random.rand(7, 5), "viridis", min_side=40)))
    assert img.format == "PNG" and img.size == (5 * 8, 7 * 8)


# --- filters -----------------------------------------------------------------------------------

def test_first_layer_of_rgb_model_is_drawn_in_color_one_tile_per_filter():
    model = rgb_net()
    grid = filter_grid(model)
    w = model[0].weight.detach()
    assert grid.rgb and grid.layer == "0" and grid.tiles.shape == (5, 3, 3, 3)
    lo, hi = w.amin((1, 2, 3), keepdim=True), w.amax((1, 2, 3), keepdim=True)
    np.testing.assert_allclose(grid.tiles, ((w - lo) / (hi - lo)).permute(0, 2, 3, 1).numpy(), atol=1e-6)


def test_deeper_layer_has_one_signed_tile_per_filter_and_input_channel():
    model = rgb_net()
    grid = filter_grid(model, "2", max_filters=10, max_inputs=4)
    w = model[2].weight.detach()[:10, :4]
    assert not grid.rgb and grid.tiles.shape == (10 * 4, 3, 3) and grid.ncols == 4
    np.testing.assert_allclose(grid.tiles, (0.5 + w / (2 * w.abs().max())).reshape(-1, 3, 3).numpy(), atol=1e-6)
    assert grid.mosaic().shape == (10 * 4 - 1, 4 * 4 - 1)
    assert "10 of 12 filters" in grid.caption()


def test_gray_first_layer_gets_a_square_grid():
    grid = filter_grid(tiny_cnn())
    assert not grid.rgb and grid.tiles.shape == (4, 3, 3) and grid.mosaic().shape == (7, 7)


# --- activations -------------------------------------------------------------------------------

def test_activations_equal_the_conv_outputs_computed_directly():
    model = rgb_net()
    x = torch.randn(1, 3, 10, 10)
    acts = capture_activations(model, x)
    assert [a.layer for a in acts] == ["0", "2"]
    with torch.no_grad():
        out0 = model[0](x)
        out2 = model[2](torch.relu(out0))
    np.testing.assert_allclose(acts[0].maps, out0[0].numpy(), atol=1e-6)  # before the in-place ReLU
    np.testing.assert_allclose(acts[1].maps, out2[0].numpy(), atol=1e-5)
    assert acts[1].mosaic(max_channels=9).shape == (3 * 11 - 1, 3 * 11 - 1)
    assert [a.layer for a in capture_activations(model, x, ["2"])] == ["2"]
    with pytest.raises(ShapeError):
        capture_activations(model, torch.randn(2, 3, 10, 10))


# --- Grad-CAM and saliency ---------------------------------------------------------------------

class QuadrantNet(nn.Module):
    """Sees only the top-left quadrant of the image (the rest is multiplied by 0)."""

    def __init__(self, size: int = 16) -> None:
        super().__init__()
        mask = torch.zeros(1, 1, size, size)
        mask[..., : size // 2, : size // 2] = 1
        self.register_buffer("mask", mask)
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.abs_()
            self.conv.bias.zero_()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 1, 1, 1], [-1, -1, -1, -1]]))

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x * self.mask)).mean((2, 3)))


def quadrant_share(heat: np.ndarray, rows: slice, cols: slice) -> float:
    return float(heat[rows, cols].sum() / heat.sum())


def test_grad_cam_and_saliency_concentrate_on_the_only_quadrant_the_model_sees():
    x = torch.rand(1, 1, 16, 16)
    result = explain(QuadrantNet().eval(), x, target=0)
    tl = (slice(0, 8), slice(0, 8))
    assert result.gradcam.shape == result.saliency.shape == (16, 16)
    assert result.gradcam.max() == pytest.approx(1.0) and result.saliency.max() == pytest.approx(1.0)
    # the 3x3 conv reaches one pixel past the quadrant's edge, and no further
    assert result.gradcam[9:].max() == 0 and result.gradcam[:, 9:].max() == 0
    assert quadrant_share(result.gradcam, *tl) > 0.85
    assert quadrant_share(result.saliency, *tl) == pytest.approx(1.0)  # input gradient is exactly 0 outside


class TwoDetectors(nn.Module):
    """Class k = mean over space of ReLU(channel k of the image): each class has its own channel."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(2).view(2, 2, 1, 1))

    def forward(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))


def test_grad_cam_follows_the_chosen_class():
    x = torch.zeros(1, 2, 12, 12)
    x[0, 0, 1:5, 1:5] = 1.0  # class 0's evidence: top-left
    x[0, 1, 7:11, 7:11] = 2.0  # class 1's evidence (stronger, so predicted): bottom-right
    model = TwoDetectors().eval()
    tl, br = (slice(0, 6), slice(0, 6)), (slice(6, 12), slice(6, 12))
    predicted = explain(model, x)
    assert predicted.target == 1 and quadrant_share(predicted.gradcam, *br) > 0.95
    chosen = explain(model, x, target=0)
    assert quadrant_share(chosen.gradcam, *tl) > 0.95 and quadrant_share(chosen.saliency, *tl) == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="out of range"):
        explain(model, x, target=2)


class EndsInOneByOne(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(1, 3, 3, padding=1)
        self.squeeze = nn.Conv2d(3, 3, 8)  # 8x8 -> 1x1: no spatial layout left
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.squeeze(self.spatial(x)).flatten(1))


def test_default_grad_cam_layer_skips_1x1_outputs():
    assert last_conv_layer(EndsInOneByOne().eval(), torch.randn(1, 1, 8, 8)) == "spatial"


def test_grad_cam_matches_a_hand_computed_reference():
    """Grad-CAM by its definition with plain autograd, at the default (last) conv layer."""
    model = rgb_net()
    x = torch.randn(1, 3, 9, 9)
    heat, layer = grad_cam(model, x, target=3)
    assert layer == "2"
    stash = {}
    handle = model[2].register_forward_hook(lambda m, i, o: stash.update(a=o))
    score = model(x)[0, 3]
    handle.remove()
    grads = torch.autograd.grad(score, stash["a"])[0]  # (1, C, h, w)
    cam = torch.relu((grads.mean((2, 3), keepdim=True) * stash["a"]).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(9, 9), mode="bilinear", align_corners=False)[0, 0].detach()
    np.testing.assert_allclose(heat, (cam / cam.max()).numpy(), atol=1e-5)


def test_saliency_matches_the_input_gradient():
    model = rgb_net()
    x = torch.randn(1, 3, 9, 9, requires_grad=True)
    model(x)[0, 1].backward()
    ref = x.grad[0].abs().amax(0)
    np.testing.assert_allclose(saliency(model, x.detach(), 1), (ref / ref.max()).numpy(), atol=1e-6)


def test_resolve_class_by_name_or_index():
    classes = ["cat", "dog", "7"]
    assert resolve_class("dog", classes) == 1 and resolve_class("2", classes) == 2 and resolve_class("7", classes) == 2
    with pytest.raises(ConfigError, match="cat, dog, 7"):
        resolve_class("bird", classes)
    with pytest.raises(ConfigError):
        resolve_class("3", classes)


# --- figures -----------------------------------------------------------------------------------

def test_figures_are_written_as_png(tmp_path):
    model = rgb_net()
    x = torch.rand(1, 3, 10, 10)
    paths = [
        save_figure(filters_figure(filter_grid(model)), tmp_path / "f.png"),
        save_figure(activations_figure(capture_activations(model, x)), tmp_path / "a.png"),
        save_figure(explanation_figure(x[0].permute(1, 2, 0).numpy(), explain(model, x), list("abcd")), tmp_path / "c.png"),
    ]
    for path in paths:
        with Image.open(path) as img:
            assert img.format == "PNG" and min(img.size) > 100


def test_a_missing_image_file_is_named_with_the_fix(tmp_path):
    from cnnlab.errors import DataError
    from cnnlab.viz.inputs import prepare_image

    meta = {"in_channels": 1, "input_size": [8, 8], "mean": [0.5], "std": [0.5]}
    with pytest.raises(DataError, match=r"no file at .*none\.png: check the path"):
        prepare_image(tmp_path / "none.png", meta)
