"""What a neuron wants: class visualisation, feature visualisation and fooling images on a small
CNN trained for a moment on scikit-learn's 8x8 digits (offline)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnlab.errors import ConfigError
from cnnlab.viz.input_opt import PixelSpace, blur
from cnnlab.viz.neurons import class_visualisation, feature_visualisation, fooling_image

from viz_support import digits_meta, tiny_cnn


@pytest.fixture(scope="module")
def trained():
    """TinyCNN fitted to the digits (full batch Adam, ~1 s) and its pixel space."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    meta = digits_meta()
    space = PixelSpace.of(meta)
    x = (torch.tensor(digits.images[:600], dtype=torch.float32)[:, None] / 16 - space.mean) / space.std
    y = torch.tensor(digits.target[:600])
    model = tiny_cnn(seed=0).train()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.8  # it learned the digits
    return model, space, x, y


def test_class_visualisation_raises_the_class_score_and_keeps_pixels_valid(trained):
    model, space, _, _ = trained
    weights = [p.detach().clone() for p in model.parameters()]
    for target in (0, 7):
        result = class_visualisation(model, space, target, steps=60)
        assert result.end > result.start + 1.0
        assert result.image.shape == (8, 8) and result.image.min() >= 0 and result.image.max() <= 1
        image = (torch.tensor(result.image, dtype=torch.float32)[None, None] - space.mean) / space.std
        with torch.no_grad():
            assert float(model(image)[0, target]) == pytest.approx(result.end, rel=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))  # the model is untouched
    assert all(p.requires_grad for p in model.parameters())


def test_feature_visualisation_raises_the_channels_activation(trained):
    model, space, _, _ = trained
    result = feature_visualisation(model, space, "conv2", 3, steps=40)
    assert result.end > result.start
    with pytest.raises(ConfigError, match="channel 9"):
        feature_visualisation(model, space, "conv2", 9, steps=2)
    with pytest.raises(ConfigError, match="conv1, conv2"):
        feature_visualisation(model, space, "conv9", 0, steps=2)


def test_a_fooling_image_is_classified_as_the_target_with_a_small_perturbation(trained):
    model, space, x, y = trained
    image = x[y == 3][:1]
    with torch.no_grad():
        target = int(model(image)[0].argsort(descending=True)[1])  # the runner-up class
    result = fooling_image(model, space, image, target)
    assert result.original_class == 3 and result.success and result.fooled_class == target
    with torch.no_grad():
        fooled = (torch.tensor(result.fooled, dtype=torch.float32)[None, None] - space.mean) / space.std
        assert int(model(fooled).argmax()) == target
    original_norm = float(np.linalg.norm(result.original))
    assert 0 < result.l2 < 0.25 * original_norm  # far smaller than the image itself
    np.testing.assert_allclose(result.fooled - result.original, result.delta, atol=1e-6)
    with pytest.raises(ConfigError, match="0..9"):
        fooling_image(model, space, image, 10)


def test_blur_keeps_a_constant_image_and_smooths_an_impulse():
    flat = torch.full((1, 2, 6, 6), 0.3)
    torch.testing.assert_close(blur(flat, 0.7), flat)
    impulse = torch.zeros(1, 1, 7, 7)
    impulse[0, 0, 3, 3] = 1
    out = blur(impulse, 0.7)
    assert out[0, 0, 3, 3] < 1 and out[0, 0, 3, 4] > 0 and out.sum() == pytest.approx(1.0, abs=1e-5)
