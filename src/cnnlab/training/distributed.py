"""Distributed data parallel under torchrun: process group set-up, device choice, small collectives.

``torchrun --nproc-per-node=N -m cnnlab train ...`` sets RANK/WORLD_SIZE/LOCAL_RANK; without them
everything here degrades to a single process and the collectives are identities.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as td

from cnnlab.errors import ConfigError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only this process writes files and prints progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def all_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over processes (float64 so counts stay exact)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        td.all_reduce(t, op=td.ReduceOp.SUM)
        return t.tolist()

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """The CPU tensors of all processes, concatenated along the first axis in rank order."""
        if not self.enabled:
            return tensor
        parts: list[torch.Tensor | None] = [None] * self.world_size
        td.all_gather_object(parts, tensor.cpu())
        return torch.cat(parts)  # type: ignore[arg-type]

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, true if it is true in any process: every process takes the same branch."""
        if not self.enabled:
            return tuple(flags)
        t = torch.tensor([float(f) for f in flags], device=self._comm_device())
        td.all_reduce(t, op=td.ReduceOp.MAX)
        return tuple(bool(v) for v in t.tolist())

    def broadcast(self, obj: object) -> object:
        """Rank 0's ``obj`` in every process."""
        if not self.enabled:
            return obj
        box = [obj]
        td.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            td.barrier()

    def _comm_device(self) -> torch.device:
        return self.device if td.get_backend() == "nccl" else torch.device("cpu")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when available, else CPU; ``cuda`` under torchrun means this process's GPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu or auto")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def init(device_name: str) -> Dist:
    """Join the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world <= 1:
        return Dist(device=device)
    if not td.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        td.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(rank=td.get_rank(), world_size=td.get_world_size(), device=device)


def shutdown(dist: Dist) -> None:
    """Leave the process group together: a rank leaving while another still talks aborts gloo."""
    if dist.enabled and td.is_initialized():
        try:
            td.barrier()
        finally:
            td.destroy_process_group()
