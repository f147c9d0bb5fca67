"""Step-by-step convolution and pooling: every output element as the arithmetic that makes it.

The output numbers come from the real torch layers (``F.conv2d``, ``F.max_pool2d``,
``F.avg_pool2d``); the steps are the sums of products (or the max/mean of each window) written
out by hand, and ``explain_*`` checks that every written-out step gives torch's number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cnnlab.display import CELL, HIGHLIGHT, MAX_STEPS_SHOWN, PADDING_CELL, TABLE, esc
from cnnlab.errors import ConfigError, ShapeError
from cnnlab.scratch.conv import output_size

# The course's examples, used when the user gives no input.
COURSE_CONV_INPUT = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
COURSE_CONV_KERNEL = [[0, 1], [2, 3]]
COURSE_CHANNELS_INPUT = [[[0, 1, 2], [3, 4, 5], [6, 7, 8]], [[1, 2, 3], [4, 5, 6], [7, 8, 9]]]
COURSE_CHANNELS_KERNEL = [[[0, 1], [2, 3]], [[1, 2], [3, 4]]]
COURSE_POOL_INPUT = [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]


def fmt(value: float) -> str:
    """A number as a student would write it: ``25`` rather than ``25.0``."""
    if np.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _factor(value: float) -> str:
    """A factor in a product; negative numbers get brackets so ``2x(-1)`` reads right."""
    text = fmt(value)
    return f"({text})" if text.startswith("-") else text


@dataclass(frozen=True)
class ChannelSum:
    """The contribution of one input channel to one output element: ``sum(kernel * window)``."""

    channel: int
    kernel: tuple[float, ...]     # kernel entries, row by row
    window: tuple[float, ...]     # the input entries under them
    total: float

    def expression(self) -> str:
        """``0x1 + 1x2 + 2x4 + 3x5 = 25`` (kernel entry x input entry)."""
        terms = " + ".join(f"{_factor(k)}x{_factor(v)}" for k, v in zip(self.kernel, self.window))
        return f"{terms} = {fmt(self.total)}"


@dataclass(frozen=True)
class ConvStep:
    position: tuple[int, int]          # (row, column) of the output element
    origin: tuple[int, int]            # top-left corner of its window in the padded input
    channels: tuple[ChannelSum, ...]
    value: float                       # torch's output at this position


@dataclass(frozen=True)
class ConvExplanation:
    input: np.ndarray      # (C, H, W)
    padded: np.ndarray     # (C, H + 2p, W + 2p)
    kernel: np.ndarray     # (C, kh, kw)
    stride: int
    padding: int
    output: np.ndarray     # (H_out, W_out), from torch
    steps: tuple[ConvStep, ...]

    def __repr__(self) -> str:
        return explain_conv_text(self)

    def _repr_html_(self) -> str:
        return explain_conv_html(self)


@dataclass(frozen=True)
class PoolStep:
    channel: int
    position: tuple[int, int]
    origin: tuple[int, int]
    window: tuple[float, ...]
    value: float                       # torch's output

    def expression(self, label: str) -> str:
        """``max(1, 1, 5, 6) = 6``."""
        return f"{label}({', '.join(fmt(v) for v in self.window)}) = {fmt(self.value)}"


@dataclass(frozen=True)
class PoolExplanation:
    input: np.ndarray      # (C, H, W)
    padded: np.ndarray
    mode: str
    size: int
    stride: int
    padding: int
    output: np.ndarray     # (C, H_out, W_out), from torch
    steps: tuple[PoolStep, ...]

    def __repr__(self) -> str:
        return explain_pool_text(self)

    def _repr_html_(self) -> str:
        return explain_pool_html(self)


# --------------------------------------------------------------------------------------------
# Input parsing


def parse_array(text: str, what: str) -> np.ndarray:
    """A JSON list such as ``[[1,2],[3,4]]`` (2-D, one channel) or ``[[[...]], [[...]]]`` (C, H, W)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{what} is not a JSON list ({err.msg}); write it like [[1,2,3],[4,5,6]]") from None
    return as_grid(data, what)


def as_grid(data: object, what: str) -> np.ndarray:
    """Check a nested list of numbers and return it as float64 ``(C, H, W)``."""
    try:
        array = np.array(data, dtype=np.float64)
    except ValueError:
        raise ShapeError(f"{what} is ragged or not numeric: every row needs the same number of numbers") from None
    except TypeError:
        raise ConfigError(f"{what} must contain only numbers") from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.size == 0:
        raise ShapeError(f"{what} must be a non-empty 2-D list (rows of numbers) or 3-D list (channels), "
                         f"got {array.ndim}-D")
    return array


def _check_geometry(size: tuple[int, int], kernel: tuple[int, int], stride: int, padding: int, what: str) -> None:
    if stride < 1 or padding < 0:
        raise ConfigError(f"stride must be at least 1 and padding at least 0, got stride={stride}, padding={padding}")
    for axis in range(2):
        try:
            output_size(size[axis], kernel[axis], stride, padding)
        except ShapeError as err:
            raise ShapeError(f"the {what} {kernel[0]}x{kernel[1]} is larger than the input {size[0]}x{size[1]} "
                             f"with padding {padding} ({err})") from None


def _verify(step_value: float, torch_value: float, where: str) -> None:
    # The hand-written arithmetic must give torch's number, or the explanation would teach a lie.
    if not np.isclose(step_value, torch_value, rtol=1e-9, atol=1e-9):
        raise RuntimeError(f"step-by-step value {step_value} differs from torch's {torch_value} at {where}")


# --------------------------------------------------------------------------------------------
# Convolution


def explain_conv(x: object, kernel: object, *, stride: int = 1, padding: int = 0) -> ConvExplanation:
    """Explain ``F.conv2d`` of ``x`` (H, W) or (C, H, W) with one filter ``kernel`` (kh, kw) or (C, kh, kw).

    With several input channels each channel is cross-correlated with its own kernel slice and the
    results are summed, giving one output channel.
    """
    import torch
    import torch.nn.functional as F

    x, kernel = as_grid(x, "input"), as_grid(kernel, "kernel")
    if kernel.shape[0] != x.shape[0]:
        raise ShapeError(f"the input has {x.shape[0]} channel(s) but the kernel has {kernel.shape[0]}: "
                         "give one kernel slice per input channel")
    _check_geometry(x.shape[1:], kernel.shape[1:], stride, padding, "kernel")
    output = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(kernel)[None], stride=stride, padding=padding)
    output = output[0, 0].numpy()                                     # (H_out, W_out)
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    kh, kw = kernel.shape[1:]
    steps = []
    for (i, j), value in np.ndenumerate(output):
        top, left = i * stride, j * stride
        sums = []
        for c in range(x.shape[0]):
            window = padded[c, top:top + kh, left:left + kw]
            total = float(np.sum(window * kernel[c]))
            sums.append(ChannelSum(c, tuple(kernel[c].ravel()), tuple(window.ravel()), total))
        _verify(sum(s.total for s in sums), value, f"output ({i}, {j})")
        steps.append(ConvStep((i, j), (top, left), tuple(sums), float(value)))
    return ConvExplanation(x, padded, kernel, stride, padding, output, tuple(steps))


# --------------------------------------------------------------------------------------------
# Pooling

@dataclass(frozen=True)
class PoolMode:
    torch_function: str                     # name in torch.nn.functional
    pad_value: float                        # what torch pads with
    reduce: Callable[[np.ndarray], float]   # the hand computation of one window
    label: str                              # how a step is written: "max(1, 1, 5, 6) = 6"


POOL_MODES: dict[str, PoolMode] = {
    "max": PoolMode("max_pool2d", -np.inf, np.max, "max"),
    "avg": PoolMode("avg_pool2d", 0.0, np.mean, "mean"),
}


def explain_pool(x: object, *, size: int = 2, stride: int | None = None, padding: int = 0,
                 mode: str = "max") -> PoolExplanation:
    """Explain ``F.max_pool2d`` (mode "max") or ``F.avg_pool2d`` (mode "avg"), channel by channel."""
    import torch
    import torch.nn.functional as F

    if mode not in POOL_MODES:
        raise ConfigError(f"unknown pooling mode {mode!r}; choose one of {sorted(POOL_MODES)}")
    spec = POOL_MODES[mode]
    x = as_grid(x, "input")
    stride = size if stride is None else stride
    _check_geometry(x.shape[1:], (size, size), stride, padding, "pooling window")
    if padding > size // 2:
        raise ConfigError(f"padding {padding} must be at most half the window size {size} (torch's rule)")
    pool = getattr(F, spec.torch_function)
    output = pool(torch.from_numpy(x)[None], size, stride=stride, padding=padding)[0].numpy()  # (C, H_out, W_out)
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)), constant_values=spec.pad_value)
    steps = []
    for (c, i, j), value in np.ndenumerate(output):
        top, left = i * stride, j * stride
        window = padded[c, top:top + size, left:left + size]
        _verify(float(spec.reduce(window)), value, f"channel {c}, output ({i}, {j})")
        steps.append(PoolStep(c, (i, j), (top, left), tuple(window.ravel()), float(value)))
    return PoolExplanation(x, padded, mode, size, stride, padding, output, tuple(steps))


# --- in Jupyter ---------------------------------------------------------------------------------

def grid_html(matrix: Any, *, window: tuple[int, int, int, int] | None = None, border: int = 0) -> str:
    """A 2-D array as a table of cells; ``window`` (top, left, height, width) highlighted, the outer
    ``border`` rows and columns (the padding) greyed."""

    rows = []
    height, width = len(matrix), len(matrix[0])
    for i, row in enumerate(matrix):
        cells = []
        for j, value in enumerate(row):
            inside = window is not None and window[0] <= i < window[0] + window[2] and window[1] <= j < window[1] + window[3]
            pad = border and (i < border or j < border or i >= height - border or j >= width - border)
            background = HIGHLIGHT if inside else PADDING_CELL if pad else "white"
            mark = ' class="window"' if inside else ""
            cells.append(f'<td{mark} style="{CELL};background:{background}">{esc(fmt(float(value)))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="grid" style="{TABLE}"><tbody>{"".join(rows)}</tbody></table>'


def _panel(title: str, body: str) -> str:
    return f'<div style="display:inline-block;vertical-align:top;margin-right:16px"><div>{esc(title)}</div>{body}</div>'


def _step_box(content: str, expression: str) -> str:
    return (f'<div class="step" style="border:1px solid #ddd;padding:6px;margin:6px 0">{content}'
            f'<div style="font-family:monospace">{esc(expression)}</div></div>')


def _more(total: int) -> str:
    return f"<p>... {total - MAX_STEPS_SHOWN} more steps (the first {MAX_STEPS_SHOWN} are shown)</p>" if total > MAX_STEPS_SHOWN else ""


def explain_conv_html(ex: ConvExplanation) -> str:
    """Every output element: the input with its window highlighted, the kernel, the sum of products."""
    kh, kw = ex.kernel.shape[1:]
    steps = []
    for step in ex.steps[:MAX_STEPS_SHOWN]:
        window = (*step.origin, kh, kw)
        panels = "".join(_panel(f"input channel {s.channel}" if len(ex.padded) > 1 else "input",
                                grid_html(ex.padded[s.channel], window=window, border=ex.padding)) for s in step.channels)
        panels += "".join(_panel(f"kernel {c}" if len(ex.kernel) > 1 else "kernel", grid_html(k)) for c, k in enumerate(ex.kernel))
        panels += _panel("output", grid_html(ex.output, window=(*step.position, 1, 1)))
        terms = " + ".join(f"({s.expression()})" if len(step.channels) > 1 else s.expression() for s in step.channels)
        total = f" = {step.value:g}" if len(step.channels) > 1 else ""
        steps.append(_step_box(panels, f"output{list(step.position)}: {terms}{total}"))
    title = (f"cross-correlation: input {'x'.join(map(str, ex.input.shape))}, kernel {'x'.join(map(str, ex.kernel.shape))}, "
             f"stride {ex.stride}, padding {ex.padding} -> output {'x'.join(map(str, ex.output.shape))}")
    return f'<div class="cnnlab-explain"><p><b>{esc(title)}</b></p>{"".join(steps)}{_more(len(ex.steps))}</div>'


def explain_pool_html(ex: PoolExplanation) -> str:

    label = POOL_MODES[ex.mode].label
    steps = []
    for step in ex.steps[:MAX_STEPS_SHOWN]:
        panels = _panel(f"input channel {step.channel}" if len(ex.input) > 1 else "input",
                        grid_html(ex.padded[step.channel], window=(*step.origin, ex.size, ex.size), border=ex.padding))
        panels += _panel("output", grid_html(ex.output[step.channel], window=(*step.position, 1, 1)))
        steps.append(_step_box(panels, f"output{list(step.position)}: {step.expression(label)}"))
    title = (f"{ex.mode} pooling {ex.size}x{ex.size}, stride {ex.stride}, padding {ex.padding}: "
             f"input {'x'.join(map(str, ex.input.shape))} -> output {'x'.join(map(str, ex.output.shape))}")
    return f'<div class="cnnlab-explain"><p><b>{esc(title)}</b></p>{"".join(steps)}{_more(len(ex.steps))}</div>'


def explain_conv_text(ex: ConvExplanation) -> str:
    lines = [f"ConvExplanation(stride {ex.stride}, padding {ex.padding}, output {ex.output.tolist()})"]
    for step in ex.steps:
        lines.append(f"  output{list(step.position)}: " + " + ".join(s.expression() for s in step.channels))
    return "\n".join(lines)


def explain_pool_text(ex: PoolExplanation) -> str:

    lines = [f"PoolExplanation({ex.mode} {ex.size}x{ex.size}, stride {ex.stride}, output {ex.output.tolist()})"]
    lines += [f"  channel {s.channel} output{list(s.position)}: {s.expression(POOL_MODES[ex.mode].label)}" for s in ex.steps]
    return "\n".join(lines)
