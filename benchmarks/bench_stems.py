"""AirNet's training step with its 3x3 conv stem vs airbench's frozen 2x2 patch-whitening stem, with and without its bias.

Same process, alternating rounds (so a busy neighbour slows both alike), random 1x28x28 batches
of 256, channels-last, in the precision `cnnlab train` picks here (``--precision auto``: bf16 autocast
where the CPU runs bf16 natively, else fp32), SGD with Nesterov momentum. Ratios: whiten / conv, and
whiten without its bias (``whiten_bias=False``: no gradient reaches the stem) / whiten. The last net
is the 90% recipe's on CPUs without native bf16.

    nice .venv/bin/python benchmarks/bench_stems.py [--rounds 3] [--steps 10] [--precision auto]
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
from _machine import machine

from cnnlab.models import create_model
from cnnlab.numerics import Numerics, resolve_precision

NETS: dict[str, dict] = {
    "airnet_small": dict(widths=(16, 32, 64)), "airnet 24-48-96": dict(widths=(24, 48, 96)),
    "airnet": dict(widths=(32, 64, 128)), "airnet_wide": dict(widths=(64, 128, 256)),
    "16-32-64 1-1-2 s": dict(widths=(16, 32, 64), depths=(1, 1, 2), downsample=("stride", "pool", "pool"),
                             stem_act_layer="relu"),
}
STEMS = {"conv": dict(stem="conv"), "whiten": dict(stem="whiten"), "no bias": dict(stem="whiten", whiten_bias=False)}


def images_per_s(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, autocast: Callable) -> float:
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                                nesterov=True)
    for step in range(steps + 2):                          # two untimed warm-up steps
        if step == 2:
            start = time.perf_counter()
        with autocast():
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="auto | fp32 | bf16 (the step runs on the CPU)")
    args = p.parse_args()
    precision, why = resolve_precision(args.precision, "cpu")
    autocast = Numerics(precision, True, why).autocast("cpu")
    torch.manual_seed(0)
    x = torch.randn(256, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (256,))
    print(machine())
    print(f"precision: {precision} ({why})")
    print(f"{'net':<18}{'conv stem img/s':>17}{'whiten img/s':>14}{'no bias img/s':>15}{'whiten/conv':>13}{'no bias/whiten':>16}")
    for label, kwargs in NETS.items():
        models = {name: create_model("airnet", **kwargs, **stem).to(memory_format=torch.channels_last)
                  for name, stem in STEMS.items()}
        speeds: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, model in models.items():
                speeds[name].append(images_per_s(model, x, y, args.steps, autocast))
        conv, whiten, no_bias = (sorted(speeds[s])[len(speeds[s]) // 2] for s in STEMS)  # medians
        print(f"{label:<18}{conv:>17,.0f}{whiten:>14,.0f}{no_bias:>15,.0f}{whiten / conv:>12.2f}x{no_bias / whiten:>15.2f}x")


if __name__ == "__main__":
    main()
