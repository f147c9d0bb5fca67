"""The machine's matrix-multiply peak: the yardstick that training throughput is compared with."""
from __future__ import annotations

import time

import torch

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
