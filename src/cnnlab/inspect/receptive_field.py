"""Receptive fields: how much of the input one output value sees, and how far apart neighbours are.

Every feature-map position has a receptive field of ``size`` input pixels per spatial axis; moving
one position along an axis moves that field by ``jump`` input pixels (the product of the strides so
far). A window op (convolution or pooling) with kernel ``k``, dilation ``d`` and stride ``s`` maps

    size -> size + (d*(k-1)) * jump        jump -> jump * s

so ``L`` stacked ``K``x``K`` stride-1 convolutions see ``1 + L*(K-1)`` pixels.

`ReceptiveFieldTracker` follows the real forward pass with a ``TorchFunctionMode`` that tags every
tensor derived from the input: window ops grow the field, any other op (add, concat, ReLU, batch
norm, ...) takes the largest field over its tensor inputs, and an op that drops the spatial axes
(flatten, global mean, view to (B, F)) covers the whole feature map. Branching nets (ResNet adds,
Inception concats) are therefore handled without knowing their structure. Padding moves the field
but does not change its size, so it is ignored. Transposed convolutions are not modelled (they
keep the field of their input).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["ReceptiveField", "ReceptiveFieldTracker", "format_axes", "stacked_receptive_field"]


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field ``size`` and ``jump`` (cumulative stride) per spatial axis, in input pixels."""

    size: tuple[int, ...]
    jump: tuple[int, ...]

    @classmethod
    def pixel(cls, spatial_dims: int = 2) -> ReceptiveField:
        """The field of one input pixel: size 1, jump 1 on every axis."""
        return cls((1,) * spatial_dims, (1,) * spatial_dims)

    def grow(self, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> ReceptiveField:
        """The field after a window op with this kernel, stride and dilation (one value per axis)."""
        size = tuple(r + d * (k - 1) * j for r, k, d, j in zip(self.size, kernel, dilation, self.jump))
        jump = tuple(j * s for j, s in zip(self.jump, stride))
        return ReceptiveField(size, jump)

    def cover(self, extent: Sequence[int]) -> ReceptiveField:
        """The field of a value that depends on all ``extent`` positions of the feature map."""
        return self.grow(extent, extent, (1,) * len(extent))

    def union(self, other: ReceptiveField) -> ReceptiveField:
        """The field of a value computed from two tensors (elementwise maximum per axis)."""
        if len(other.size) != len(self.size):
            return self if max(self.size) >= max(other.size) else other
        return ReceptiveField(
            tuple(map(max, self.size, other.size)), tuple(map(max, self.jump, other.jump))
        )

    def to_dict(self) -> dict[str, list[int]]:
        return {"size": list(self.size), "jump": list(self.jump)}

    def __str__(self) -> str:
        return f"{format_axes(self.size)} (jump {format_axes(self.jump)})"


def format_axes(values: Sequence[int]) -> str:
    """``(11, 11)`` -> ``"11"``; ``(11, 7)`` -> ``"11x7"``."""
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def stacked_receptive_field(
    layers: Iterable[tuple[int, int, int]], spatial_dims: int = 1
) -> ReceptiveField:
    """Receptive field on the input of stacked window ops given as ``(kernel, stride, dilation)``.

    ``r_L = 1 + sum_l d_l*(k_l - 1) * prod_{i<l} s_i`` and ``jump = prod_l s_l``.
    """
    field = ReceptiveField.pixel(spatial_dims)
    for kernel, stride, dilation in layers:
        n = spatial_dims
        field = field.grow((kernel,) * n, (stride,) * n, (dilation,) * n)
    return field


# --- window-op geometry, read from each op's own arguments -------------------------------------

Window = tuple[Sequence[int], Sequence[int], Sequence[int]]  # kernel, stride, dilation per axis

_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_MAX_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
_LP_POOL_ARGS = ("input", "norm_type", "kernel_size", "stride", "ceil_mode")


def _per_axis(value: Any, n: int, default: int) -> tuple[int, ...]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return (default,) * n
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    return values * n if len(values) == 1 else values


def _conv_window(args: dict[str, Any], n: int) -> Window:
    kernel = tuple(args["weight"].shape[2:])
    return kernel, _per_axis(args.get("stride"), n, 1), _per_axis(args.get("dilation"), n, 1)


def _pool_window(args: dict[str, Any], n: int) -> Window:
    kernel = _per_axis(args["kernel_size"], n, 1)
    stride = args.get("stride")
    stride = kernel if stride is None or stride == [] or stride == () else _per_axis(stride, n, 1)
    return kernel, stride, _per_axis(args.get("dilation"), n, 1)


def _adaptive_window(in_extent: Sequence[int], out_extent: Sequence[int]) -> Window:
    """Adaptive pooling: exact when the input divides evenly, else the widest window PyTorch uses."""
    kernel, stride = [], []
    for i, o in zip(in_extent, out_extent):
        widest = max(math.ceil((j + 1) * i / o) - (j * i) // o for j in range(o))
        kernel.append(widest)
        stride.append(max(i // o, 1))
    return kernel, stride, (1,) * len(kernel)


_WINDOW_OPS: dict[Callable, tuple[tuple[str, ...], Callable[[dict[str, Any], int], Window]]] = {}
for _op in (F.conv1d, F.conv2d, F.conv3d):
    _WINDOW_OPS[_op] = (_CONV_ARGS, _conv_window)
for _op in (F.max_pool1d, F.max_pool2d, F.max_pool3d, F.max_pool1d_with_indices,
            F.max_pool2d_with_indices, F.max_pool3d_with_indices,
            torch.max_pool1d, torch.max_pool2d, torch.max_pool3d):
    _WINDOW_OPS[_op] = (_MAX_POOL_ARGS, _pool_window)
for _op in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d):
    _WINDOW_OPS[_op] = (_AVG_POOL_ARGS, _pool_window)
for _op in (F.lp_pool1d, F.lp_pool2d):
    _WINDOW_OPS[_op] = (_LP_POOL_ARGS, _pool_window)

_ADAPTIVE_OPS = frozenset({
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
    F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d,
    F.adaptive_max_pool1d_with_indices, F.adaptive_max_pool2d_with_indices,
    F.adaptive_max_pool3d_with_indices,
})


def _bind(names: tuple[str, ...], args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**dict(zip(names, args)), **kwargs}


class ReceptiveFieldTracker(TorchFunctionMode):
    """Tags tensors derived from the input with their `ReceptiveField` during a forward pass.

    Usage::

        with ReceptiveFieldTracker() as rf:
            x = rf.track(torch.randn(1, 3, 224, 224))
            y = model(x)
        rf.lookup(y)   # ReceptiveField(size=(435, 435), jump=(32, 32)) for resnet18
    """

    def __init__(self) -> None:
        super().__init__()
        self._fields: WeakIdKeyDictionary = WeakIdKeyDictionary()

    def track(self, tensor: torch.Tensor) -> torch.Tensor:
        """Mark ``tensor`` (B, C, *spatial) as the input: every position sees one pixel."""
        self._fields[tensor] = ReceptiveField.pixel(tensor.dim() - 2)
        return tensor

    def lookup(self, tensor: Any) -> ReceptiveField | None:
        """The field of ``tensor``, or None when it does not depend on the tracked input."""
        return self._fields.get(tensor) if isinstance(tensor, torch.Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and t in self._fields]
        if not inputs:
            return result
        outputs = [t for t in tree_flatten(result)[0] if isinstance(t, torch.Tensor)]
        if outputs:
            field = self._output_field(func, args, kwargs, inputs, outputs[0])
            for out in outputs:
                self._fields[out] = field
        return result

    def _output_field(self, func, args, kwargs, inputs: list[torch.Tensor], output: torch.Tensor) -> ReceptiveField:
        first = inputs[0]
        field = self._fields[first]
        if func in _WINDOW_OPS:
            names, window = _WINDOW_OPS[func]
            return field.grow(*window(_bind(names, args, kwargs), len(field.size)))
        if func in _ADAPTIVE_OPS:
            n = len(field.size)
            return field.grow(*_adaptive_window(first.shape[-n:], output.shape[-n:]))
        merged = None
        for tensor in inputs:
            one = self._fields[tensor]
            # An op that drops the spatial axes (flatten, global mean) depends on every position.
            if tensor.dim() >= 3 and output.dim() <= 2:
                one = one.cover(tensor.shape[-len(one.size):])
            merged = one if merged is None else merged.union(one)
        return merged
