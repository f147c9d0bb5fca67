"""`cnnlab explain ...`: convolution and pooling written out step by step, next to torch's numbers."""
from __future__ import annotations

from typing import Optional

import numpy as np
import typer

explain_app = typer.Typer(
    help="Step through a small convolution or pooling by hand; the numbers come from the real torch layers.",
    no_args_is_help=True,
)

STRIDE_OPT = typer.Option(None, "--stride", "-s", help="Step between windows (conv default 1, pool default the window size).")
PADDING_OPT = typer.Option(0, "--padding", "-p", help="Zeros added on every side (pooling: -inf for max).")


def grid_lines(matrix: np.ndarray, indent: str = "  ") -> list[str]:
    """A 2-D array as right-aligned text rows."""
    from cnnlab.scratch.explain import fmt

    cells = [[fmt(v) for v in row] for row in matrix]
    width = max(len(c) for row in cells for c in row)
    return [indent + "  ".join(c.rjust(width) for c in row) for row in cells]


def _show_channels(title: str, array: np.ndarray) -> None:
    """Print a (C, H, W) array, naming the channels when there is more than one."""
    for c, channel in enumerate(array):
        typer.echo(f"{title}:" if len(array) == 1 else f"{title}, channel {c}:")
        typer.echo("\n".join(grid_lines(channel)))


def _window(origin: tuple[int, int], size: tuple[int, int]) -> str:
    (top, left), (kh, kw) = origin, size
    return f"(window rows {top}-{top + kh - 1}, cols {left}-{left + kw - 1})"


def _parse_or(text: Optional[str], default: object, what: str) -> object:
    from cnnlab.scratch.explain import parse_array

    return default if text is None else parse_array(text, what)


@explain_app.command("conv")
def conv_command(
    input_text: Optional[str] = typer.Option(None, "--input", "-i", help="Input as a JSON list: [[1,2,3],[4,5,6],[7,8,9]], or [[[..]],[[..]]] for channels."),
    kernel_text: Optional[str] = typer.Option(None, "--kernel", "-k", help="Kernel as a JSON list: [[0,1],[2,3]]; one 2-D slice per input channel."),
    stride: Optional[int] = STRIDE_OPT,
    padding: int = PADDING_OPT,
    channels: bool = typer.Option(False, "--channels", help="The course's two-channel example (X and X+1; sum over channels)."),
) -> None:
    """Each output element of a 2-D cross-correlation as its sum of products (kernel x input)."""
    from cnnlab.errors import ConfigError
    from cnnlab.scratch import explain as ex

    if channels and (input_text or kernel_text):
        raise ConfigError("--channels shows the course's two-channel example; give it without --input/--kernel, "
                          "or give a 3-D --input and --kernel instead")
    x_default, k_default = ((ex.COURSE_CHANNELS_INPUT, ex.COURSE_CHANNELS_KERNEL) if channels
                            else (ex.COURSE_CONV_INPUT, ex.COURSE_CONV_KERNEL))
    result = ex.explain_conv(_parse_or(input_text, x_default, "--input"), _parse_or(kernel_text, k_default, "--kernel"),
                             stride=1 if stride is None else stride, padding=padding)

    (c, h, w), (kh, kw), (oh, ow) = result.input.shape, result.kernel.shape[1:], result.output.shape
    typer.echo(f"Cross-correlation of a {c}x{h}x{w} input with a {c}x{kh}x{kw} kernel, "
               f"stride {result.stride}, padding {result.padding} -> {oh}x{ow} output\n")
    _show_channels("input", result.input)
    if result.padding:
        _show_channels(f"input with {result.padding} pixel(s) of zero padding", result.padded)
    _show_channels("kernel", result.kernel)
    typer.echo("\nEach output element: the kernel laid on a window, entries multiplied and summed"
               + (" - per channel, then over channels:" if c > 1 else ":"))
    for step in result.steps:
        name = f"out[{step.position[0]},{step.position[1]}]"
        if c == 1:
            typer.echo(f"{name} = {step.channels[0].expression()}   {_window(step.origin, (kh, kw))}")
            continue
        typer.echo(f"{name} {_window(step.origin, (kh, kw))}:")
        for part in step.channels:
            typer.echo(f"  channel {part.channel}: {part.expression()}")
        totals = " + ".join(ex.fmt(part.total) for part in step.channels)
        typer.echo(f"  sum over channels: {totals} = {ex.fmt(step.value)}")
    typer.echo("\noutput (torch.nn.functional.conv2d):")
    typer.echo("\n".join(grid_lines(result.output)))
    typer.echo("checked: every sum above equals torch's output.")


@explain_app.command("pool")
def pool_command(
    input_text: Optional[str] = typer.Option(None, "--input", "-i", help="Input as a JSON list (2-D, or 3-D for channels)."),
    size: int = typer.Option(2, "--size", help="Window size (square)."),
    stride: Optional[int] = STRIDE_OPT,
    padding: int = PADDING_OPT,
    mode: str = typer.Option("max", "--mode", "-m", help="max or avg."),
) -> None:
    """Each output element of max or average pooling as the max/mean of its window."""
    from cnnlab.scratch import explain as ex

    result = ex.explain_pool(_parse_or(input_text, ex.COURSE_POOL_INPUT, "--input"), size=size, stride=stride,
                             padding=padding, mode=mode)
    c, h, w = result.input.shape
    oh, ow = result.output.shape[1:]
    typer.echo(f"{mode} pooling of a {c}x{h}x{w} input, window {size}x{size}, stride {result.stride}, "
               f"padding {result.padding} -> {c}x{oh}x{ow} output (channel by channel)\n")
    _show_channels("input", result.input)
    if result.padding:
        _show_channels(f"input padded with {ex.fmt(ex.POOL_MODES[mode].pad_value)}", result.padded)
    label = ex.POOL_MODES[mode].label
    typer.echo("")
    for step in result.steps:
        prefix = f"channel {step.channel}: " if c > 1 else ""
        typer.echo(f"{prefix}out[{step.position[0]},{step.position[1]}] = {step.expression(label)}   "
                   f"{_window(step.origin, (size, size))}")
    typer.echo("")
    _show_channels(f"output (torch.nn.functional.{ex.POOL_MODES[mode].torch_function})", result.output)
    typer.echo("checked: every step above equals torch's output.")


def register(app: typer.Typer) -> None:
    app.add_typer(explain_app, name="explain")
