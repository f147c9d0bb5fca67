"""The one-line description of the machine that every benchmark prints with its figures."""
from __future__ import annotations

import torch

from cnnlab.bench import machine_line


def machine() -> str:
    """`cnnlab.bench.machine_line` plus the GPU, if any: enough to judge whether figures compare."""
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return machine_line() + gpu
