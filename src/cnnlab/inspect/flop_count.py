"""`FlopCount`: the total of PyTorch's ``FlopCounterMode``, without its cost of importing ``torch._dynamo``.

``FlopCounterMode`` is a ``TorchDispatchMode``, and torch wraps every such mode's ``__torch_dispatch__``
so that ``torch.compile`` skips it; the wrapper's first call imports ``torch._dynamo`` (1.5-2 s on a
small CPU: the largest fixed cost of a short training run, which writes a model summary and counts
its FLOPs). `FlopCount` opts out of that wrapping (nothing under it is compiled) and applies the same
formulas (``torch.utils.flop_counter.flop_registry``) to the same operators, decomposing the others
as ``FlopCounterMode`` does, so its total equals ``FlopCounterMode.get_total_flops()``
(tests/test_inspect_flop_count.py compares them). It keeps one running total, not per-module counts,
and does not count inside higher-order operators (``torch.cond``).
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

__all__ = ["FlopCount"]


def _ops(namespace: Any, names: str) -> set[Any]:
    """The operator overloads ``packet.overload`` of ``names`` that this torch has."""
    found = set()
    for name in names.split():
        packet, overload = name.split(".")
        op = getattr(getattr(namespace, packet, None), overload, None)
        if op is not None:
            found.add(op)
    return found


# operators that only ask for metadata: FlopCounterMode leaves them to the tensor (they carry no FLOPs)
_METADATA_OPS = _ops(torch.ops.aten, "sym_is_contiguous.default is_contiguous.default is_contiguous.memory_format "
                     "is_strides_like_format.default is_non_overlapping_and_dense.default size.default "
                     "sym_size.default stride.default sym_stride.default storage_offset.default "
                     "sym_storage_offset.default numel.default sym_numel.default dim.default") | _ops(
                     torch.ops.prim, "layout.default")


class FlopCount(TorchDispatchMode):
    """Counts FLOPs (convolutions and matrix products, 2 per multiply-add) of the operators run inside it.

        with FlopCount() as count:
            model(x).sum().backward()
        count.total            # == FlopCounterMode's get_total_flops() for the same code
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # False: torch does not wrap __torch_dispatch__ for torch.compile, whose first call would
        # import torch._dynamo; nothing under this mode is compiled
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func in _METADATA_OPS or isinstance(func, torch._ops.HigherOrderOperator):
            return NotImplemented
        if func not in flop_registry and func is not torch.ops.prim.device.default:
            with self:  # a composite operator's parts are counted, as FlopCounterMode counts them
                decomposed = func.decompose(*args, **kwargs)
                if decomposed is not NotImplemented:
                    return decomposed
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out
