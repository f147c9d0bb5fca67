"""Test-only models that misbehave on cue: a loss that turns NaN, predictions that collapse to one class."""
from __future__ import annotations

import pytest
import torch

from cnnlab.models import registered
from cnnlab.models.fastnet import FastNet


class _CollapseAfter(FastNet):
    """fastnet_small that misbehaves from its ``at``-th training forward call on: it predicts class 0
    for everything in eval mode (a subclass with ``how = "nan"`` turns the training output NaN instead)."""

    how = "collapse"

    def __init__(self, *, at: int = 1_000_000, **kwargs) -> None:
        super().__init__(widths=(16, 32, 64), **kwargs)
        self.at, self.calls = at, 0

    def forward(self, x):
        self.calls += self.training
        out = super().forward(x)
        if self.calls < self.at or self.training != (self.how == "nan"):
            return out
        if self.how == "nan":
            return out * float("nan")
        return torch.zeros_like(out) + torch.nn.functional.one_hot(torch.tensor(0), out.shape[1])


class _NanAfter(_CollapseAfter):
    how = "nan"

    def __init__(self, *, nan_at: int = 1_000_000, **kwargs) -> None:
        super().__init__(at=nan_at, **kwargs)


def _test_nan_after(**kwargs) -> _NanAfter:
    """Test-only: a fastnet_small whose loss turns NaN at a chosen step."""
    return _NanAfter(arch="_test_nan_after", **kwargs)


def _test_collapse_after(**kwargs) -> _CollapseAfter:
    """Test-only: a fastnet_small that predicts class 0 for everything after a chosen step."""
    return _CollapseAfter(arch="_test_collapse_after", **kwargs)


@pytest.fixture
def misbehaving_models():
    """_test_nan_after (option nan_at) and _test_collapse_after (option at), registered for one test."""
    with registered(_test_nan_after, _test_collapse_after) as names:
        yield names
