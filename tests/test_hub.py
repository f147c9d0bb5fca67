"""hubconf.py: torch.hub finds every registered model in the repository checkout."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from cnnlab.errors import ConfigError
from cnnlab.models import list_models

REPO = Path(__file__).resolve().parents[1]


def load_hubconf():
    spec = importlib.util.spec_from_file_location("hubconf", REPO / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hubconf_has_one_entry_point_per_registered_model():
    hub = load_hubconf()
    # torch.hub.list's rule (it takes only GitHub repos): public callables are the entry points
    entries = sorted(name for name in dir(hub) if callable(getattr(hub, name)) and not name.startswith("_"))
    assert entries == [name for name in list_models() if not name.startswith("_")]  # "_x": test-only models
    assert hub.dependencies == ["torch", "torchvision"]
    assert "ResNet-18" in hub.resnet18.__doc__ and "cnnlab.create_model" in hub.resnet18.__doc__


@pytest.mark.parametrize("name, kwargs, shape", [
    ("resnet18", dict(num_classes=10), (1, 3, 224, 224)),
    ("shufflenet_v2_x0_5", dict(num_classes=5, in_channels=1, input_size=28), (2, 1, 28, 28)),
])
def test_hub_load_builds_the_model_with_keyword_arguments(name, kwargs, shape):
    model = torch.hub.load(str(REPO), name, source="local", **kwargs).eval()
    assert model.arch == name
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == (shape[0], kwargs["num_classes"])


def test_hub_pretrained_says_where_weights_come_from():
    with pytest.raises(ConfigError, match="load_torchvision_weights"):
        torch.hub.load(str(REPO), "resnet18", source="local", pretrained=True)
