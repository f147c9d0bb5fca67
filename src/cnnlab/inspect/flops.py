"""FLOPs of one training step per image, counted by `FlopCount` (PyTorch's ``FlopCounterMode`` formulas).

Convolutions and matrix products only, 2 FLOPs per multiply-add (the convention of
`cnnlab.summary`, whose totals the forward count equals). Backward is roughly twice the forward:
a gradient for the inputs and one for the weights of every layer, minus the first layer's input
gradient, which nobody asks for.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from cnnlab.inspect.flop_count import FlopCount


@dataclass
class StepFlops:
    forward: float       # FLOPs per image of the forward pass
    backward: float      # FLOPs per image of the backward pass

    @property
    def total(self) -> float:
        """Forward + backward: what one training step costs per image (the optimizer update is negligible)."""
        return self.forward + self.backward


def step_flops(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 2,
               device: str | torch.device = "cpu") -> StepFlops:
    """Per-image FLOPs of forward and backward for one (C, H, W) image, on a copy of ``model`` in train mode."""
    net = copy.deepcopy(model).to(device, memory_format=torch.contiguous_format).train()
    with torch.random.fork_rng(devices=[]), FlopCount() as counter:  # leaves the run's random stream alone
        x = torch.randn(batch_size, *input_shape, device=device)
        out = net(x)
        forward = counter.total
        out.float().sum().backward()
        total = counter.total
    return StepFlops(forward / batch_size, (total - forward) / batch_size)
