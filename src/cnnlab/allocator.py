"""Keep freed memory in the process: a training step's activations then reuse pages already mapped.

glibc hands large blocks (from 128 KiB, rising with use) to the kernel with mmap and returns them on
free, and trims the heap's free top; either way the next step's tensors of the same sizes fault
their pages in again, each zeroed by the kernel. For the 16-32-64 AirNet on a 2-core AMD Zen 3
that is a sixth of the training step: 1.15x more images/s with the thresholds raised
(docs/recipes.md). The cost is that the process keeps its peak memory until it exits, which is what
a training run holds anyway. A setting the user made (glibc's MALLOC_* variables, or another
allocator preloaded, such as jemalloc or tcmalloc) wins; other C libraries are left alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters (malloc.h)
KEEP_BYTES = 1 << 30                          # blocks up to 1 GiB come from the heap, freed memory stays


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; whether it was done."""
    user_set = any(key.startswith("MALLOC_") and key.endswith("_") for key in os.environ)
    user_set = user_set or "malloc" in os.environ.get("GLIBC_TUNABLES", "") + os.environ.get("LD_PRELOAD", "")
    if user_set or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, KEEP_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))
    except (OSError, AttributeError):
        return False
