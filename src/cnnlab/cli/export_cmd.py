"""`cnnlab export`: a trained run -> ONNX, TorchScript or safetensors, checked against the checkpoint."""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer


class Format(str, Enum):
    onnx = "onnx"
    torchscript = "torchscript"
    safetensors = "safetensors"


def export_command(
    run: Path = typer.Argument(..., help="A run folder (written by `cnnlab train`) or a checkpoint .pt file."),
    format: Format = typer.Option(Format.onnx, "--format", "-f", help="onnx | torchscript | safetensors."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file (default: RUN/export/<model>.<format suffix>)."),
    opset: Optional[int] = typer.Option(None, "--opset", min=7, help="ONNX opset version (default: the exporter's)."),
    which: str = typer.Option("best", help="Checkpoint of a run folder: best | last."),
    no_check: bool = typer.Option(False, "--no-check", help="Skip loading the file back and comparing outputs."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Export a trained model (eval mode, with classes/normalization/input size inside the file)."""
    from cnnlab.export import export_run

    result = export_run(run, format=format.value, out=out, opset=opset, which=which, check=not no_check)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    size_kb = result.path.stat().st_size / 1024
    typer.echo(f"wrote {result.path} ({result.format}, {size_kb:,.0f} KB)")
    if result.max_abs_diff is not None:
        typer.echo(f"checked: largest logit difference vs the checkpoint on a random batch {result.max_abs_diff:.2e}")


def register(app: typer.Typer) -> None:
    app.command("export")(export_command)
