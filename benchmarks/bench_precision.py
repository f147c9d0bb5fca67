"""fp32 vs bf16 autocast, NCHW vs channels-last, and what ``precision: auto`` picks, for the recipe nets.

For each recipe's network and batch size: seconds per image of a training step (forward, loss,
backward), measured by `cnnlab.numerics.time_layouts` in both layouts and both precisions, in this
one process, and the choice `cnnlab train` makes here with the default ``precision: auto`` and
``channels_last: auto``. Where bf16 is emulated (AVX2-only CPUs), its steps run ~100-300x slower,
so the probe shrinks its batch to stay within a few seconds; the figure per image still holds.
Images/s are the best round's; ratios are against fp32 NCHW measured in the same process.

    nice .venv/bin/python benchmarks/bench_precision.py [--recipes demo fashion-mnist-90 ...]
"""
from __future__ import annotations

import argparse

import torch
from _machine import machine
from _recipe_net import recipe_net

from cnnlab.hardware import cpu_info
from cnnlab.numerics import choose_numerics, time_layouts
from cnnlab.training import resolve_config, list_recipes

NET_COLUMN = 44


def net_label(model: str, model_kwargs: dict) -> str:
    """The recipe's net as its name, widths and, where set, its convs per group and downsampling:
    two recipes' nets may share widths and differ in layout (``airnet 16-32-64 1-1-2 stride,pool,pool``)."""
    parts = [model]
    for key, sep in (("widths", "-"), ("depths", "-"), ("downsample", ",")):
        value = model_kwargs.get(key)
        if value is not None:
            parts.append(value if isinstance(value, str) else sep.join(map(str, value)))
    return " ".join(parts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="*", default=list_recipes(), choices=list_recipes(), metavar="RECIPE")
    args = p.parse_args()
    print(machine())
    cpu = cpu_info()
    print(f"bf16: {'native' if cpu.native_bf16 else 'emulated'} ({cpu.decided_by})")
    header = ("recipe", "model", "fp32", "fp32 CL", "bf16", "bf16 CL", "auto picks", "auto / fp32")
    print("images/s of a training step; CL = channels-last")
    print(f"{header[0]:<18}{header[1]:<{NET_COLUMN}}" + "".join(f"{h:>10}" for h in header[2:6]) + f"{header[6]:>22}{header[7]:>12}")
    for recipe in args.recipes:
        cfg = resolve_config(recipe=recipe)
        model = recipe_net(cfg)
        shape = (cfg.batch_size, 1, 28, 28)
        speeds = {}
        for precision in ("fp32", "bf16"):
            seconds = time_layouts(model, shape, precision, torch.device("cpu"))
            speeds[precision, False], speeds[precision, True] = 1 / seconds[False], 1 / seconds[True]
        auto = choose_numerics("auto", "auto", "cpu", model=model, batch_shape=shape, cache=False)
        picked = speeds[auto.precision, auto.channels_last]
        print(f"{recipe:<18}{net_label(cfg.model, cfg.model_kwargs):<{NET_COLUMN}}"
              + "".join(f"{speeds[key]:>10,.0f}" for key in (("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)))
              + f"{auto.precision + (' CL' if auto.channels_last else ' NCHW'):>22}{picked / speeds['fp32', False]:>11.2f}x")


if __name__ == "__main__":
    main()
