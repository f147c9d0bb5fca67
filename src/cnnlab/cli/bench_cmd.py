"""`cnnlab bench`: training throughput of a model vs a textbook PyTorch loop, FLOPs and the matmul peak."""
from __future__ import annotations

import json
from typing import Optional

import typer


def bench_command(
    model: str = typer.Argument(..., help="A registered model name (see `cnnlab models`)."),
    input_size: Optional[str] = typer.Option(None, "--input", "-i", help="CxHxW of random images, e.g. 3x32x32 (default: --data's images)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Train on this dataset's images (default fashion-mnist when --input is absent)."),
    batch_size: int = typer.Option(256, "--batch-size", "-b", min=1, help="Images per step."),
    steps: int = typer.Option(20, "--steps", min=1, help="Timed steps per round."),
    warmup: int = typer.Option(3, "--warmup", min=0, help="Untimed steps first."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Alternating timed rounds per loop (median kept)."),
    precision: str = typer.Option("auto", "--precision", help="auto | fp32 | bf16 | fp16 (CUDA): cnnlab's step only; auto as in `cnnlab train`."),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last", help="NHWC layout for cnnlab's step (default: the faster one, timed)."),
    max_seconds: float = typer.Option(45.0, "--max-seconds", min=1.0, help="Time budget of the whole benchmark, imports aside (a shorter warm-up, then fewer steps and rounds, if needed)."),
    peak_size: int = typer.Option(2048, "--peak-size", min=16, help="Side of the square matmul that measures the peak."),
    textbook: bool = typer.Option(True, "--textbook/--no-textbook", help="Also time the textbook loop and give the ratio."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N."),
    threads: int = typer.Option(0, "--threads", min=0, help="CPU threads; 0 = torch's default."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Time MODEL's training step (images/s, FLOPs, GFLOP/s vs this machine's matmul peak) against a textbook loop."""
    import torch

    from cnnlab.bench import bench_train, format_result
    from cnnlab.inspect.sizes import parse_size

    if threads:
        torch.set_num_threads(threads)
    shape = parse_size(input_size, lengths=(3,), what="input size") if input_size else None
    result = bench_train(model, input_shape=shape, data=data or (None if shape else "fashion-mnist"),
                         batch_size=batch_size, steps=steps, warmup=warmup, rounds=rounds, precision=precision,
                         channels_last="auto" if channels_last is None else channels_last, textbook=textbook,
                         device=device, peak_size=peak_size, max_seconds=max_seconds,
                         progress=lambda line: typer.echo(f"bench: {line}", err=True))
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else format_result(result))


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
