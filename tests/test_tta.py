"""Test-time augmentation: the views and their weights, by hand."""
from __future__ import annotations

import torch

import pytest

from cnnlab.errors import ConfigError
from cnnlab.eval.tta import TestTimeAugmentation, as_tta, tta_level
from cnnlab.training.config import merge, resolve_config
from cnnlab.training import TrainConfig


def _shift(x: torch.Tensor, fill: torch.Tensor, down: int, right: int) -> torch.Tensor:
    """x with its content moved by (down, right) pixels, the border filled with ``fill`` (per channel)."""
    out = fill.view(1, -1, 1, 1).expand_as(x).clone()
    h, w = x.shape[-2:]
    out[..., max(down, 0):h + min(down, 0), max(right, 0):w + min(right, 0)] = \
        x[..., max(-down, 0):h + min(-down, 0), max(-right, 0):w + min(-right, 0)]
    return out


def test_views_and_weights():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2 * 5 * 6, 4))
    x = torch.randn(3, 2, 5, 6)
    mean, std = (0.2, 0.5), (0.4, 0.25)
    fill = torch.tensor([-m / s for m, s in zip(mean, std)])
    pair = lambda z: (model(z) + model(z.flip(-1))) / 2  # noqa: E731
    with torch.no_grad():
        assert torch.equal(TestTimeAugmentation()(model, x), model(x))
        torch.testing.assert_close(as_tta("flip")(model, x), pair(x))
        multi = TestTimeAugmentation.for_data("translate", mean, std)
        expected = pair(x) / 2 + (pair(_shift(x, fill, 1, 1)) + pair(_shift(x, fill, -1, -1))) / 4
        torch.testing.assert_close(multi(model, x), expected)
        # channels-last input: same numbers
        torch.testing.assert_close(multi(model, x.contiguous(memory_format=torch.channels_last)), expected)
    assert multi.description == "flip + translate TTA" and as_tta("flip").description == "flip TTA"
    assert as_tta("none").description == "" and not as_tta("flip").translate


def test_grid_views_and_weights():
    """The 3x3 grid: the original pair weighs 2/10, each of the eight one-pixel shifts 1/10."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1 * 5 * 6, 4))
    x = torch.randn(3, 1, 5, 6)
    mean, std = (0.3,), (0.5,)
    fill = torch.tensor([-0.3 / 0.5])
    pair = lambda z: (model(z) + model(z.flip(-1))) / 2  # noqa: E731
    grid = TestTimeAugmentation.for_data("grid", mean, std)
    with torch.no_grad():
        shifted = [pair(_shift(x, fill, d, r)) for d in (-1, 0, 1) for r in (-1, 0, 1) if (d, r) != (0, 0)]
        torch.testing.assert_close(grid(model, x), (2 * pair(x) + sum(shifted)) / 10)
        torch.testing.assert_close(grid(model, x.contiguous(memory_format=torch.channels_last)), (2 * pair(x) + sum(shifted)) / 10)
    assert grid.description == "flip + 3x3 translate TTA" and len(grid.shifts) == 8
    assert grid.flip and grid.translate and not as_tta("translate").grid


@pytest.mark.parametrize("old, level", [({"tta": False}, "none"), ({"tta": True}, "flip"),
                                        ({"tta": True, "tta_translate": True}, "translate"),
                                        ({"tta": True, "tta_translate": True, "tta_grid": True}, "grid"),
                                        ({"tta": False, "tta_translate": True, "tta_grid": True}, "none"),
                                        ({"tta": "grid"}, "grid"), ({}, "none")])
def test_configs_written_with_the_tta_booleans_still_load_as_levels(tmp_path, old, level):
    assert tta_level(old) == level
    path = tmp_path / "config.yaml"
    path.write_text("".join(f"{k}: {str(v).lower()}\n" for k, v in old.items()))
    assert resolve_config(config=path).tta == level                    # an old run folder's config.yaml
    assert merge(TrainConfig(), old).tta == level                       # a checkpoint's saved config


def test_an_unknown_level_is_a_config_error():
    with pytest.raises(ConfigError, match="choose one of: none, flip, translate, grid"):
        TrainConfig(tta="mirror")


@pytest.mark.parametrize("level", ["flip", "translate", "grid"])
def test_a_share_gives_the_views_to_the_least_confident_images_only(level):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1 * 5 * 6, 4))
    x = torch.randn(10, 1, 5, 6) * torch.linspace(0.1, 3, 10).view(-1, 1, 1, 1)  # confidence varies
    every, some = TestTimeAugmentation.for_data(level, (0.3,), (0.5,)), TestTimeAugmentation.for_data(level, (0.3,), (0.5,), 0.3)
    with torch.no_grad():
        plain, full, mixed = model(x), every(model, x), some(model, x)
    chosen = plain.softmax(1).amax(1).argsort()[:3]                         # ceil(0.3 * 10) images
    others = torch.ones(10, dtype=torch.bool)
    others[chosen] = False
    torch.testing.assert_close(mixed[chosen], full[chosen])
    assert torch.equal(mixed[others], plain[others])
    assert not torch.allclose(mixed, full)
    assert some.description.endswith("TTA on the 30% least confident") and every.description.endswith("TTA")
    assert torch.equal(TestTimeAugmentation.for_data(level, (0.3,), (0.5,), 1.0)(model, x), full)


@pytest.mark.parametrize("share", [0, -0.5, 1.5, True, "half"])
def test_a_share_outside_0_to_1_is_a_config_error(share):
    with pytest.raises(ConfigError, match=r"tta_share is the share of the images .* in \(0, 1\]"):
        TrainConfig(tta="flip", tta_share=share)
    with pytest.raises(ConfigError, match="tta_share"):
        TestTimeAugmentation("flip", share=share)
