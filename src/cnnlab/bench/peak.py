"""The machine's matrix-multiply peak: the yardstick that training throughput is compared with."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable

import torch

from cnnlab.hardware import PROBE_SIZE, cpu_info

# precision name (as in TrainConfig.precision) -> dtype whose matmul peak bounds that training step
PEAK_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(dtype: torch.dtype = torch.float32, *, n: int = 2048, seconds: float = 0.5, repeats: int = 3,
                  device: str | torch.device = "cpu") -> float:
    """Best-of-``repeats`` GFLOP/s of an ``n`` x ``n`` matrix product (2 n^3 FLOPs) in ``dtype``.

    The best round is the peak: on a shared machine slower rounds measure the neighbours, not the CPU.
    """
    dev = torch.device(device)
    gen = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(n, n, generator=gen, device=dev).to(dtype)
    b = torch.randn(n, n, generator=gen, device=dev).to(dtype)
    torch.mm(a, b)  # warm-up: kernel selection, page faults
    best = 0.0
    for _ in range(repeats):
        calls, start, elapsed = 0, time.perf_counter(), 0.0
        while calls == 0 or elapsed < seconds / repeats:   # whole calls until this round's share of the time
            torch.mm(a, b)
            _sync(dev)
            calls, elapsed = calls + 1, time.perf_counter() - start
        best = max(best, calls * 2 * n**3 / elapsed / 1e9)
    return best


@dataclass(frozen=True)
class Peak:
    gflops: float          # best GFLOP/s of the square matmul
    emulated: bool         # the dtype is not native here: a small probe instead of the full-size product


def matmul_peaks(precisions: Iterable[str], *, n: int = 2048, seconds: float = 0.5,
                 device: str | torch.device = "cpu") -> dict[str, Peak]:
    """The matmul peak of each precision that the device runs natively; an emulated bf16 (a CPU
    without bf16 instructions runs it ~200x slower: a 2048^2 product would take a minute) gets
    its speed from a small probe product instead, and is marked as emulated."""
    dev = torch.device(device)
    peaks: dict[str, Peak] = {}
    for name in dict.fromkeys(precisions):
        emulated = name == "bf16" and dev.type == "cpu" and not cpu_info().native_bf16
        size = PROBE_SIZE if emulated else n
        peaks[name] = Peak(matmul_gflops(PEAK_DTYPES[name], n=size, seconds=seconds if not emulated else 0.0,
                                         repeats=1 if emulated else 3, device=dev), emulated)
    return peaks
