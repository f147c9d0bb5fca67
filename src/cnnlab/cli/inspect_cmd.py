"""`cnnlab summary` (per-layer table of a zoo model) and `cnnlab conv` (conv/pool arithmetic)."""
from __future__ import annotations

import json
from enum import Enum
from typing import Callable, Optional

import typer


def _size_parser(lengths: tuple[int, ...]) -> Callable[[str], tuple[int, ...]]:
    """A typer option callback: parses ``CxHxW``; a malformed size is a usage error (exit 2)."""

    def parse(text: str) -> tuple[int, ...]:
        from cnnlab.errors import ConfigError
        from cnnlab.inspect.sizes import parse_size

        try:
            return parse_size(text, lengths=lengths, what="input size")
        except ConfigError as err:
            raise typer.BadParameter(str(err)) from None

    return parse


def summary_command(
    model: str = typer.Argument(..., help="A registered model name (see `cnnlab models`)."),
    input_size: str = typer.Option(
        ..., "--input", "-i", callback=_size_parser((3,)), help="One image's size, channels first: CxHxW, e.g. 3x224x224."
    ),
    classes: int = typer.Option(1000, "--classes", "-n", min=1, help="Number of classes of the classifier."),
    depth: Optional[int] = typer.Option(
        None, "--depth", "-d", min=0, help="Collapse layers below this depth (1 = top-level children); default: every leaf layer."
    ),
    device: str = typer.Option(
        "meta", "--device", help="'meta' (default) works out shapes and counts without arithmetic; 'cpu'/'cuda' run the layers."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of the table."),
) -> None:
    """Per-layer output shapes, parameters, MACs/FLOPs and receptive fields of a zoo model."""
    import torch

    from cnnlab.inspect import summary
    from cnnlab.models import create_model

    channels, height, width = input_size  # parsed by the option's callback
    with torch.device(device):
        net = create_model(model, num_classes=classes, in_channels=channels, input_size=(height, width))
    result = summary(net, (channels, height, width), depth=depth, device=device)
    if as_json:
        typer.echo(json.dumps({"name": model, **result.to_dict()}, indent=2))
    else:
        typer.echo(str(result))


class PoolKind(str, Enum):
    max = "max"
    avg = "avg"


def conv_command(
    input_size: str = typer.Option(
        ..., "--input", "-i", callback=_size_parser((1, 2, 3)), help="Input size: CxHxW, HxW or N (one channel, N x N)."
    ),
    kernel: int = typer.Option(..., "--filter", "--kernel", "-f", min=1,
                               help="Filter (window) size F; PyTorch's kernel_size."),
    stride: Optional[int] = typer.Option(None, "--stride", "-s", min=1, help="Stride S (default 1; F for pooling)."),
    padding: str = typer.Option("0", "--padding", "-p", help="Zero padding P per side, or 'same' = D(F-1)/2."),
    dilation: int = typer.Option(1, "--dilation", "-d", min=1, help="Dilation D."),
    filters: Optional[int] = typer.Option(None, "--filters", "-k", min=1, help="Number of filters K (default 1)."),
    pool: Optional[PoolKind] = typer.Option(None, "--pool", help="A pooling layer instead of a convolution."),
    layers: int = typer.Option(1, "--layers", "-l", min=1, help="L identical layers stacked."),
    separable: bool = typer.Option(False, "--separable", help="Depthwise-separable convolution (depthwise FxF + 1x1)."),
    groups: int = typer.Option(1, "--groups", "-g", min=1, help="Grouped convolution: G groups, each filter sees C/G channels."),
    transposed: bool = typer.Option(False, "--transposed", help="Transposed convolution: output (N-1)S - 2P + D(F-1) + output_padding + 1."),
    output_padding: int = typer.Option(0, "--output-padding", min=0, help="Extra output size of a transposed convolution (< S)."),
    no_bias: bool = typer.Option(False, "--no-bias", help="Filters without a bias term."),
    floor: bool = typer.Option(False, "--floor", help="Round a fractional output size down like PyTorch instead of failing."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Convolution/pooling arithmetic: output size, parameters, MACs and receptive field (also separable, grouped, transposed)."""
    from cnnlab.inspect import conv_arithmetic

    report = conv_arithmetic(
        input_size, kernel, stride=stride, padding=padding, dilation=dilation,
        filters=filters, pool=pool.value if pool else None, layers=layers, separable=separable,
        groups=groups, transposed=transposed, output_padding=output_padding, bias=not no_bias, exact=not floor,
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else str(report))


def register(app: typer.Typer) -> None:
    app.command("summary")(summary_command)
    app.command("conv")(conv_command)
