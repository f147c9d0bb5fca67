"""From-scratch convolution: the im2col version against the loop version, forward + backward.

Both are cnnlab.scratch (NumPy, float64) and compute the same numbers (tests/test_scratch_ops.py
checks it); this measures only how much faster one big matrix product is than Python loops over
images, filters and output positions. torch's F.conv2d is timed on the same arrays for scale.
Each figure is the best of ``--repeats`` runs (the least disturbed by other processes); NumPy's BLAS
and torch use ``--threads`` threads (1 by default: on a shared machine extra threads mostly wait).

    .venv/bin/python benchmarks/bench_scratch_im2col.py [--batch 8] [--size 28] [--repeats 3] [--threads 1]

Prints milliseconds per forward + backward and the speed ratios, with the machine it ran on.
Nothing is asserted.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

from _machine import machine
from cnnlab import scratch as S

# (in_channels, out_channels, kernel, options): the ConvNet's first layer and a wider, strided one
CASES = [
    (1, 8, 3, dict(padding=1)),
    (16, 32, 3, dict(padding=1, stride=2)),
]


def best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first-call allocations and lazy initialisation are not what we measure
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def scratch_step(forward: Callable, backward: Callable, x, w, b, options) -> Callable[[], object]:
    def run():
        out, cache = forward(x, w, b, **options)
        return backward(np.ones_like(out), cache)
    return run


def torch_step(x, w, b, options) -> Callable[[], object]:
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

    def run():
        F.conv2d(xt, wt, bt, **options).sum().backward()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        run(args)


def run(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}; numpy {np.__version__}; best of {args.repeats}")
    rng = np.random.default_rng(0)
    for c_in, c_out, k, options in CASES:
        x = rng.normal(size=(args.batch, c_in, args.size, args.size))
        w, b = rng.normal(size=(c_out, c_in, k, k)), rng.normal(size=c_out)
        naive = best_ms(scratch_step(S.conv2d_naive_forward, S.conv2d_naive_backward, x, w, b, options), args.repeats)
        fast = best_ms(scratch_step(S.conv2d_im2col_forward, S.conv2d_im2col_backward, x, w, b, options), args.repeats)
        ref = best_ms(torch_step(x, w, b, options), args.repeats)
        print(f"x {x.shape} w {w.shape} {options}: naive {naive:.1f} ms, im2col {fast:.1f} ms, torch {ref:.1f} ms "
              f"-> naive / im2col time ratio {naive / fast:.0f}, im2col / torch {fast / ref:.1f}")


if __name__ == "__main__":
    main()
