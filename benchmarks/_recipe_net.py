"""A recipe's network as the benchmarks build it: its settings on this CPU, for 1x28x28 images, 10 classes."""
from __future__ import annotations

import torch
from torch import nn

from cnnlab.models import create_model
from cnnlab.training import TrainConfig


def recipe_net(cfg: TrainConfig) -> nn.Module:
    """``cfg``'s model (a resolved recipe), built from seed 0 so that every benchmark times the same weights."""
    torch.manual_seed(0)
    return create_model(cfg.model, num_classes=10, in_channels=1, input_size=(28, 28), **cfg.model_kwargs)
