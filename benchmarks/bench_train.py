"""Training throughput of cnnlab's step vs a textbook PyTorch loop, with FLOPs and the matmul peak.

A thin wrapper over `cnnlab.bench.bench_train` (the same as `cnnlab bench`), printing the machine
line shared by every benchmark here. Default: FastNet on Fashion-MNIST's training images
(1x28x28), batch 256, cnnlab's step in the precision and layout `cnnlab train` picks on this CPU
(``--precision auto``), the textbook loop in fp32 over
torchvision's FashionMNIST with per-sample transforms; 3 alternating rounds of 20 steps each.

    nice .venv/bin/python benchmarks/bench_train.py [--model fastnet] [--input 3x32x32] [--precision fp32]
"""
from __future__ import annotations

import argparse

from _machine import machine

from cnnlab.bench import bench_train, format_result
from cnnlab.inspect.sizes import parse_size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fastnet")
    p.add_argument("--input", default=None, help="CxHxW of random images (default: Fashion-MNIST's images)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--precision", default="auto", help="auto | fp32 | bf16 | fp16 (CUDA)")
    p.add_argument("--channels-last", dest="channels_last", action="store_true", default="auto")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    args = p.parse_args()
    shape = parse_size(args.input, lengths=(3,), what="--input") if args.input else None
    result = bench_train(args.model, input_shape=shape, data=None if shape else "fashion-mnist",
                         batch_size=args.batch_size, steps=args.steps, rounds=args.rounds,
                         precision=args.precision, channels_last=args.channels_last)
    print(format_result(result, machine=machine()))


if __name__ == "__main__":
    main()
