"""Spatial-size arithmetic over a model's layers, without running it.

`output_hw` walks modules in forward order and applies the convolution/pooling output formula
(PyTorch's, including ``ceil_mode``) per spatial dimension; it raises `ShapeError` as soon as a
layer would get an input too small for its window. Containers are walked child by child; a block
with parallel branches (a residual block) names the modules of one branch via ``spatial_path()``.
Modules that keep the size (norms, activations, 1x1 branches) need no entry.

Models use it to size a flatten (LeNet, the 2012 AlexNet) and to know their minimum input.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

from torch import nn

from cnnlab.errors import ShapeError

_WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _window_out(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's output-size rule; with ``ceil_mode`` the last window may overhang but must start inside."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * pad - span + (stride - 1 if ceil_mode else 0)) // stride + 1  # // floors like torch
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _layer_out(module: nn.Module, hw: tuple[int, int]) -> tuple[int, int]:
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        out = _pair(module.output_size)
        return tuple(o if o is not None else s for o, s in zip(out, hw))  # type: ignore[return-value]
    pad = module.padding
    if isinstance(pad, str):  # "same" keeps the size, "valid" means no padding
        return hw if pad == "same" else _window_hw(module, hw, (0, 0))
    return _window_hw(module, hw, _pair(pad))


def _window_hw(module: nn.Module, hw: tuple[int, int], pad: tuple[int, int]) -> tuple[int, int]:
    kernel, stride = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
    dilation = _pair(getattr(module, "dilation", 1))
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    out = tuple(_window_out(hw[i], kernel[i], stride[i], pad[i], dilation[i], ceil_mode) for i in range(2))
    if min(out) < 1:
        raise ShapeError(f"a {type(module).__name__} with a {kernel[0]}x{kernel[1]} window cannot take a "
                         f"{hw[0]}x{hw[1]} input")
    return out  # type: ignore[return-value]


def _leaves(modules: Iterable[nn.Module]) -> Iterable[nn.Module]:
    for module in modules:
        if isinstance(module, _WINDOWED + (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            yield module
        elif hasattr(module, "spatial_path"):
            yield from _leaves(module.spatial_path())
        else:
            yield from _leaves(module.children())


def output_hw(modules: Iterable[nn.Module], hw: tuple[int, int]) -> tuple[int, int]:
    """The (H, W) after ``modules`` for an (H, W) input; `ShapeError` if some layer gets too little."""
    for module in _leaves(modules):
        hw = _layer_out(module, hw)
    return hw


def min_input_size(modules: Sequence[nn.Module], limit: int = 4096) -> int:
    """The smallest square input that every layer of ``modules`` can take."""
    leaves = list(_leaves(modules))
    lo, hi = 1, limit  # the output shrinks monotonically with the input, so bisect
    if _fits(leaves, lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _fits(leaves, mid) else (mid, hi)
    return hi


def _fits(leaves: list[nn.Module], size: int) -> bool:
    try:
        output_hw(leaves, (size, size))
    except ShapeError:
        return False
    return True
