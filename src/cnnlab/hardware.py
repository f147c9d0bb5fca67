"""What this CPU runs fast: its model, the instruction sets that matter, and whether bf16 is native.

bf16 autocast is 2-2.5x faster than fp32 on CPUs with bf16 instructions (AVX512_BF16, AMX) and
about 200x slower where torch has to emulate it (AVX2-only CPUs: most laptops, AMD Zen 3 and
older, many cloud VMs). So cnnlab never picks bf16 from a guess: the CPU's flags say whether it
may be native, and a short timed matrix product confirms it. ``CNNLAB_CPU_BF16=1`` or ``=0``
overrides both (the tests cover each branch on any CPU that way).
"""
from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from cnnlab.errors import ConfigError

BF16_ENV = "CNNLAB_CPU_BF16"
FLAGS_OF_INTEREST = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni", "bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")  # x86 / x86 AMX / aarch64 (Linux "Features")
PROBE_SIZE = 256              # n of the n x n probe product: ~0.1 s even where bf16 is emulated
NATIVE_MAX_SLOWDOWN = 1.5     # bf16 within this factor of fp32 counts as native (emulated: ~100-300x)
CLEARLY_EMULATED = 20.0       # a ratio this high is no timing accident: no second look
PROBE_ROUNDS = 5              # at most, 20 ms apart, while the ratio lies between the two


@dataclass(frozen=True)
class CpuInfo:
    """The CPU as far as the choice of precision is concerned."""

    model: str                 # e.g. "AMD EPYC 7B13"
    capability: str            # torch's kernel level: "AVX2", "AVX512", "DEFAULT", ...
    flags: tuple[str, ...]     # those of FLAGS_OF_INTEREST the CPU reports
    native_bf16: bool          # bf16 autocast runs at least as fast as fp32 here
    bf16_slowdown: float | None  # measured time of a bf16 product / the same in fp32 (None: not measured)
    decided_by: str            # how native_bf16 was decided, for the user

    def describe(self) -> str:
        """One phrase: 'AMD EPYC 7B13 (AVX2, no native bf16)'; an override is named, as it may contradict the flags."""
        bf16 = "native bf16" if self.native_bf16 else "no native bf16"
        if self.decided_by.startswith(BF16_ENV):
            bf16 += f" by {self.decided_by}"
        return f"{self.model} ({self.capability}, {bf16})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flags": list(self.flags)}


def _proc_cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (Linux); empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def cpu_steal_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests so far, all CPUs together (``steal`` of /proc/stat).

    On a virtual machine a timed run is slowed by this as by local load, but the load average does not
    show it. None where /proc/stat has no steal column (not Linux).
    """
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def cpu_model() -> str:
    fields = _proc_cpuinfo()
    return fields.get("model name") or fields.get("cpu model") or platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> tuple[str, ...]:
    fields = _proc_cpuinfo()
    present = set((fields.get("flags") or fields.get("features") or "").split())
    return tuple(flag for flag in FLAGS_OF_INTEREST if flag in present)


def _best_seconds(dtype: torch.dtype, n: int, repeats: int = 3) -> float:
    a = torch.ones(n, n, dtype=dtype)
    torch.mm(a, a)  # kernel selection, page faults
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, a)
        best = min(best, time.perf_counter() - start)
    return best


def measure_bf16_slowdown(n: int = PROBE_SIZE, rounds: int = PROBE_ROUNDS) -> float:
    """Seconds of an n x n bf16 matrix product over the same product in fp32, each the best of its rounds.

    A product takes well under a millisecond where bf16 is native, so one slice of time the host
    takes from a VM can make it look 2x slower than fp32 (seen on a Zen 4 with 11% steal). Stolen time
    only ever adds, so a ratio between "native" and "clearly emulated" is measured again, in rounds
    spread over ~0.1 s, keeping each dtype's best time: the verdict is then the CPU's, not the host's.
    """
    best_bf16 = best_fp32 = float("inf")
    for round_ in range(rounds):
        if round_:
            time.sleep(0.02)
        best_fp32 = min(best_fp32, _best_seconds(torch.float32, n))
        best_bf16 = min(best_bf16, _best_seconds(torch.bfloat16, n))
        slowdown = best_bf16 / max(best_fp32, 1e-9)
        if slowdown <= NATIVE_MAX_SLOWDOWN or slowdown >= CLEARLY_EMULATED:
            break
    return slowdown


def _env_override() -> bool | None:
    """The verdict ``CNNLAB_CPU_BF16`` forces, or None (unset or empty: detect); any other value is an error."""
    raw = os.environ.get(BF16_ENV, "")
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    if value:
        raise ConfigError(f"{BF16_ENV}={raw!r} is neither 0 nor 1: set it to 1 to take bf16 as native on this CPU, "
                          f"0 to take it as emulated, or unset it to detect")
    return None


@functools.lru_cache(maxsize=None)
def _detect(override: bool | None) -> CpuInfo:
    model, flags = cpu_model(), cpu_flags()
    capability = torch.backends.cpu.get_cpu_capability()
    if override is not None:
        return CpuInfo(model, capability, flags, override, None, f"{BF16_ENV}={int(override)}")
    if not any(flag in flags for flag in NATIVE_BF16_FLAGS):
        return CpuInfo(model, capability, flags, False, None, "no bf16 instructions among the CPU flags")
    slowdown = measure_bf16_slowdown()
    native = slowdown <= NATIVE_MAX_SLOWDOWN
    why = f"bf16 flags, and a bf16 product ran {1 / slowdown:.1f}x the fp32 speed" if native else \
        f"bf16 flags, but a bf16 product ran {slowdown:.0f}x slower than fp32"
    return CpuInfo(model, capability, flags, native, round(slowdown, 2), why)


def cpu_info() -> CpuInfo:
    """This CPU (measured once per process; ``CNNLAB_CPU_BF16=0|1`` overrides the bf16 decision)."""
    return _detect(_env_override())


def bf16_slowdown() -> float:
    """bf16 / fp32 time of a probe product on this CPU: the measured one when cpu_info() made it."""
    measured = cpu_info().bf16_slowdown
    return measured if measured is not None else measure_bf16_slowdown()
