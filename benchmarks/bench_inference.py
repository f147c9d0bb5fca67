"""CPU inference throughput of one model four ways: eager PyTorch, torch.compile, TorchScript, ONNX Runtime.

Models: LeNet-5 on 1x28x28 (MNIST size) and ResNet-18 on 3x32x32 (CIFAR size, with its small-input
stem; ``--resnet-size 224`` for the ImageNet stem at 3x224x224), randomly initialised, eval mode,
under ``torch.inference_mode``. Batch sizes 1 and 64. TorchScript and ONNX are written by
`cnnlab.export` (traced + frozen, BN folded; ONNX via the torch.export-based exporter) and loaded
back as `cnnlab predict` loads them, so the ONNX figures include the torch <-> NumPy copies.
torch.compile uses the default inductor backend (compilation is not timed). Every backend gets the
same number of intra-op threads (``--threads``, default 1: the machine is shared).

Timing: after warm-up, each case runs for about ``--seconds`` in ``--repeats`` rounds; the table
shows the median images/s and the ratio to eager PyTorch measured in the same run.

    nice .venv/bin/python benchmarks/bench_inference.py [--threads 1] [--seconds 1] [--resnet-size 32]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from _machine import machine

Forward = Callable[[torch.Tensor], torch.Tensor]
BATCHES = (1, 64)


def images_per_s(forward: Forward, x: torch.Tensor, seconds: float, repeats: int) -> float:
    """Median over ``repeats`` rounds of images/s; each round runs whole calls for about ``seconds``."""
    for _ in range(3):
        forward(x)  # warm-up: allocations, ORT arena, compiled kernels
    start = time.perf_counter()
    forward(x)
    calls = max(1, int(seconds / max(time.perf_counter() - start, 1e-6)))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            forward(x)
        rates.append(calls * x.shape[0] / (time.perf_counter() - start))
    return statistics.median(rates)


def backends(model: torch.nn.Module, meta: dict, folder: Path, threads: int) -> dict[str, Forward]:
    """Each backend's forward function (torch.compile compiles lazily, on the first call)."""
    from cnnlab.export import export_model, onnx_predictor, torchscript_predictor

    found: dict[str, Forward | str] = {"eager": model, "torch.compile": torch.compile(model)}
    script = export_model(model, meta, folder / f"{meta['model']}.torchscript", format="torchscript")
    found["TorchScript"] = torchscript_predictor(script.path).forward
    onnx = export_model(model, meta, folder / f"{meta['model']}.onnx", format="onnx")
    found["ONNX Runtime"] = onnx_predictor(onnx.path, threads=threads).forward
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for every backend")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per case (the median is shown)")
    parser.add_argument("--resnet-size", type=int, default=32, choices=(32, 224), help="ResNet-18 input side")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from cnnlab.models import create_model

    cases = [("lenet5", 1, 28), ("resnet18", 3, args.resnet_size)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, channels, size in cases:
            torch.manual_seed(0)
            model = create_model(name, num_classes=10, in_channels=channels, input_size=size).eval()
            meta = {"model": name, "in_channels": channels, "input_size": [size, size], "classes": list("0123456789"),
                    "num_classes": 10, "mean": [0.5] * channels, "std": [0.25] * channels}
            found = backends(model, meta, Path(tmp), args.threads)
            for batch in BATCHES:
                x = torch.randn(batch, channels, size, size)
                eager = None
                for backend, forward in found.items():
                    try:
                        with torch.inference_mode():
                            rate = images_per_s(forward, x, args.seconds, args.repeats)
                    except Exception as err:  # e.g. torch.compile without a C++ toolchain
                        rows.append((name, f"{channels}x{size}x{size}", batch, backend, None, f"n/a ({type(err).__name__})"))
                        continue
                    eager = eager or rate
                    rows.append((name, f"{channels}x{size}x{size}", batch, backend, rate, f"{rate / eager:.2f}x"))
                    print(f"  {name} batch {batch:>2} {backend:<13} {rate:>10,.0f} images/s", flush=True)

    print(f"\nmachine: {machine()}")
    print(f"{'model':<9} {'input':<10} {'batch':>5}  {'backend':<13} {'images/s':>10}  {'vs eager':>8}")
    for name, shape, batch, backend, rate, ratio in rows:
        shown = f"{rate:>10,.0f}" if rate is not None else f"{'-':>10}"
        print(f"{name:<9} {shape:<10} {batch:>5}  {backend:<13} {shown}  {ratio:>8}")


if __name__ == "__main__":
    main()
