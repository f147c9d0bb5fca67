"""Images/s of a whole training step (forward, loss, backward, optimizer step) per optimizer, one process.

For a recipe's network, batch size and numerics (as `cnnlab train` resolves them on this CPU): the
optimizers given take turns, round after round, on the same random batch, so a machine whose speed
drifts (or that other jobs share) slows all of them alike; the ratios against the first one are
what to read. The figure a recipe's time follows is the median of the rounds.

    nice .venv/bin/python benchmarks/bench_optimizers.py --recipe fashion-mnist-90 --optimizers sgd muon
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from _machine import machine
from _recipe_net import recipe_net
from torch import nn

from cnnlab.numerics import choose_numerics
from cnnlab.training import resolve_config
from cnnlab.training.optim import build_optimizer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="fashion-mnist-90")
    p.add_argument("--optimizers", nargs="+", default=["sgd", "muon"])
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine(), f"torch threads {torch.get_num_threads()}")
    cfg = resolve_config(recipe=args.recipe, overrides={"device": "cpu"})
    shape = (cfg.batch_size, 1, 28, 28)
    torch.manual_seed(0)
    x, y = torch.randn(shape), torch.randint(0, 10, (cfg.batch_size,))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    setups = {}
    for name in args.optimizers:
        model = recipe_net(cfg)
        numerics = choose_numerics(cfg.precision, cfg.channels_last, "cpu", model=model, loss_fn=loss_fn, batch_shape=shape)
        if numerics.channels_last:
            model = model.to(memory_format=torch.channels_last)
        setups[name] = (model, build_optimizer(model, cfg.replace(optimizer=name)), numerics)
    speeds: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.rounds + 1):                     # the first round warms up
        for name, (model, opt, numerics) in setups.items():
            batch = numerics.layout(x)
            start = time.perf_counter()
            for _ in range(args.steps):
                with numerics.autocast("cpu")():
                    loss = loss_fn(model(batch), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            speeds[name].append(args.steps * cfg.batch_size / (time.perf_counter() - start))
    first = statistics.median(speeds[args.optimizers[0]][1:])
    print(f"{args.recipe}: {cfg.model} {cfg.model_kwargs.get('widths', '')}, batch {cfg.batch_size}, "
          f"{numerics.precision}{', channels-last' if numerics.channels_last else ''}")
    for name, values in speeds.items():
        median = statistics.median(values[1:])
        print(f"{name:<8} median {median:8,.0f} images/s  ({median / first:.3f}x {args.optimizers[0]});"
              f" rounds {', '.join(f'{v:,.0f}' for v in values[1:])}")


if __name__ == "__main__":
    main()
