"""Muon for convolution filters, SGD for the rest: airbench94_muon's optimizer as one torch optimizer.

Muon (Keller Jordan, 2024) replaces a filter bank's momentum update by the nearest semi-orthogonal
matrix (all singular values ~1), found with a few Newton-Schulz iterations on the update reshaped
to (out_channels, in_channels * k * k). Every direction of the filter space then moves at the same
rate, which reaches a given accuracy in fewer steps than SGD (airbench94_muon: 94% on CIFAR-10 with
20% fewer FLOPs). As there, each filter bank is rescaled to norm sqrt(out_channels) before its step:
the BatchNorm after every conv makes the scale irrelevant, so the learning rate sets the angle a
step turns the filters by, and no weight decay is needed.

Groups with ``muon: True`` take Muon steps (4-D parameters only); the others plain SGD with
(Nesterov) momentum and L2 weight decay, so one learning-rate schedule drives both. The iteration
runs in fp32: on CPUs without native bf16 a bf16 product is ~200x slower.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

NEWTON_SCHULZ_COEFFS = (3.4445, -4.7750, 2.0315)  # Muon's quintic: fast rise of small singular values


def orthogonalize(update: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """About the nearest semi-orthogonal matrix to the 2-D ``update`` (U V^T of its SVD), by Newton-Schulz."""
    a, b, c = NEWTON_SCHULZ_COEFFS
    x = update / (update.norm() + eps)         # spectral norm <= 1
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    for _ in range(steps):
        gram = x @ x.T
        # a x + (b G + c G G) x as two fused multiply-adds: the filter banks are small, so the
        # iteration's time is mostly per-operator overhead (3.8 -> 2.9 ms a step for the 90% recipe's net)
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


class MuonSGD(torch.optim.Optimizer):
    """Muon steps for groups marked ``muon: True``, SGD (momentum, Nesterov, L2 decay) for the others."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.9, nesterov: bool = True,
                 weight_decay: float = 0.0, ns_steps: int = 5) -> None:
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, muon=False,
                        ns_steps=ns_steps)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["muon"] and any(p.ndim != 4 for p in group["params"]):
                raise ValueError("MuonSGD: a muon group holds convolution filters (4-D parameters) only")

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, momentum, nesterov = group["lr"], group["momentum"], group["nesterov"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"] and not group["muon"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = grad.clone()
                else:
                    state["momentum_buffer"].mul_(momentum).add_(grad)
                buf = state["momentum_buffer"]
                update = grad.add(buf, alpha=momentum) if nesterov else buf
                if group["muon"]:
                    p.mul_(len(p) ** 0.5 / p.norm().clamp_min(1e-12))
                    flat = update.reshape(len(update), -1)
                    update = orthogonalize(flat, group["ns_steps"]).view_as(p)
                p.add_(update, alpha=-lr)
        return loss
