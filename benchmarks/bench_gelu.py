"""cnnlab's GELU against torch's nn.GELU in the recipe nets' training steps, channels-last.

`cnnlab.layers.GELU` (what ``act_layer: gelu`` builds) evaluates a channels-last activation as its
contiguous NHWC view, where torch's GELU takes a slower loop on the CPU. For each recipe's network
(its settings on this CPU) at its batch size: images/s of a training step (forward, loss, backward,
SGD) with its GELUs as they are and swapped for ``torch.nn.GELU``, random 1x28x28 batches,
channels-last, in the precision `cnnlab train` picks here; same process, alternating rounds, medians.

    nice .venv/bin/python benchmarks/bench_gelu.py [--recipes fashion-mnist-90 ...] [--rounds 6] [--steps 10]
"""
from __future__ import annotations

import argparse
import copy

import torch
from _machine import machine
from _recipe_net import recipe_net
from bench_stems import images_per_s
from torch import nn

from cnnlab.layers import GELU
from cnnlab.numerics import Numerics, resolve_precision
from cnnlab.training import list_recipes, resolve_config

RECIPES = ("demo", "fashion-mnist-90", "fashion-mnist-93", "fashion-mnist-95")


def with_torch_gelu(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every cnnlab GELU replaced by torch's."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, GELU):
                setattr(parent, name, nn.GELU(child.approximate))
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list_recipes(), metavar="RECIPE")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    precision, why = resolve_precision("auto", "cpu")
    autocast = Numerics(precision, True, why).autocast("cpu")
    print(machine())
    print(f"precision: {precision} ({why}); channels-last")
    print(f"{'recipe':<18}{'nn.GELU img/s':>15}{'cnnlab GELU img/s':>19}{'ratio':>8}")
    for recipe in args.recipes:
        cfg = resolve_config(recipe=recipe)
        model = recipe_net(cfg)
        models = {"torch": with_torch_gelu(model), "cnnlab": model}
        for net in models.values():
            net.to(memory_format=torch.channels_last)
        x = torch.randn(cfg.batch_size, 1, 28, 28).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 10, (cfg.batch_size,))
        speeds: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.rounds):
            for name, net in models.items():
                speeds[name].append(images_per_s(net, x, y, args.steps, autocast))
        torch_gelu, cnnlab_gelu = (sorted(speeds[n])[len(speeds[n]) // 2] for n in ("torch", "cnnlab"))
        print(f"{recipe:<18}{torch_gelu:>15,.0f}{cnnlab_gelu:>19,.0f}{cnnlab_gelu / torch_gelu:>7.2f}x")


if __name__ == "__main__":
    main()
