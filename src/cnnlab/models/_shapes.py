"""Spatial-size arithmetic over a model's layers, without running it.

`output_hw` walks modules in forward order and applies the convolution/pooling output formula
(PyTorch's, including ``ceil_mode``) per spatial dimension; it raises `ShapeError` as soon as a
layer would get an input too small for its window. Containers are walked child by child; a block
with parallel branches (a residual block) names the modules of one branch via ``spatial_path()``.
Modules that keep the size (norms, activations, 1x1 branches) need no entry.

Models use it to size a flatten (LeNet, the 2012 AlexNet) and to know their minimum input.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from torch import nn

from cnnlab.errors import ShapeError

# 1-D and 3-D layers follow the same rule per axis (models built with dims=1|3)
_WINDOWED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d,
             nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


def _ntuple(v: int | Sequence[int], n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) or v is None else tuple(v)


def shape_str(shape: Sequence[int]) -> str:
    """(28, 28) -> "28x28"."""
    return "x".join(str(int(s)) for s in shape)


def _window_out(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """PyTorch's output-size rule; with ``ceil_mode`` the last window may overhang but must start inside."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * pad - span + (stride - 1 if ceil_mode else 0)) // stride + 1  # // floors like torch
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _layer_out(module: nn.Module, hw: tuple[int, int]) -> tuple[int, int]:
    if isinstance(module, _ADAPTIVE):
        out = _ntuple(module.output_size, len(hw))
        return tuple(o if o is not None else s for o, s in zip(out, hw))  # type: ignore[return-value]
    pad = module.padding
    if isinstance(pad, str):  # "same" keeps the size, "valid" means no padding
        return hw if pad == "same" else _window_hw(module, hw, (0,) * len(hw))
    return _window_hw(module, hw, _ntuple(pad, len(hw)))


def _window_hw(module: nn.Module, hw: tuple[int, int], pad: tuple[int, int]) -> tuple[int, int]:
    n = len(hw)
    kernel, stride = _ntuple(module.kernel_size, n), _ntuple(module.stride or module.kernel_size, n)
    dilation = _ntuple(getattr(module, "dilation", 1), n)
    ceil_mode = bool(getattr(module, "ceil_mode", False))
    out = tuple(_window_out(hw[i], kernel[i], stride[i], pad[i], dilation[i], ceil_mode) for i in range(n))
    if min(out) < 1:
        raise ShapeError(f"a {type(module).__name__} with a {shape_str(kernel)} window cannot take a "
                         f"{shape_str(hw)} input")
    return out  # type: ignore[return-value]


def _leaves(modules: Iterable[nn.Module]) -> Iterable[nn.Module]:
    for module in modules:
        if isinstance(module, _WINDOWED + _ADAPTIVE):
            yield module
        elif hasattr(module, "spatial_path"):
            yield from _leaves(module.spatial_path())
        else:
            yield from _leaves(module.children())


def output_hw(modules: Iterable[nn.Module], hw: tuple[int, ...]) -> tuple[int, ...]:
    """The (H, W) after ``modules`` for an (H, W) input (or (L,) / (D, H, W) for 1-D / 3-D layers);
    `ShapeError` if some layer gets too little."""
    for module in _leaves(modules):
        hw = _layer_out(module, hw)
    return hw


def min_input_size(modules: Sequence[nn.Module], limit: int = 4096, dims: int = 2) -> int:
    """The smallest square (cubic, for ``dims=3``) input that every layer of ``modules`` can take."""
    leaves = list(_leaves(modules))
    lo, hi = 1, limit  # the output shrinks monotonically with the input, so bisect
    if _fits(leaves, lo, dims):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _fits(leaves, mid, dims) else (mid, hi)
    return hi


def _fits(leaves: list[nn.Module], size: int, dims: int) -> bool:
    try:
        output_hw(leaves, (size,) * dims)
    except ShapeError:
        return False
    return True
