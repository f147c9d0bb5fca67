"""`export_run`: a trained run -> an ONNX, TorchScript or safetensors file that gives the same outputs.

The model is loaded like every other command loads it (`cnnlab.runs.load_model`: the best checkpoint,
EMA weights when the run kept them, eval mode), written by the format's writer with the run's meta
inside the file, then loaded back the way a user would (ONNX Runtime, ``torch.jit.load``,
`load_model`) and compared with the checkpoint on a random batch of two images.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.export.predictor import Predictor, torch_predictor
from cnnlab.export.to_onnx import onnx_predictor, write_onnx
from cnnlab.export.to_safetensors import write_safetensors
from cnnlab.export.to_torchscript import torchscript_predictor, write_torchscript
from cnnlab.runs import load_model, resolve_run

Writer = Callable[..., None]  # (model, example, path, meta, *, opset) -> None
Loader = Callable[[Path, "str | torch.device"], Predictor]


@dataclass(frozen=True)
class ExportFormat:
    suffix: str
    write: Writer
    load: Loader


FORMATS: dict[str, ExportFormat] = {
    "onnx": ExportFormat(".onnx", write_onnx, onnx_predictor),
    "torchscript": ExportFormat(".torchscript", write_torchscript, torchscript_predictor),
    "safetensors": ExportFormat(".safetensors", write_safetensors, torch_predictor),
}


def load_predictor(run_or_file: str | Path, *, device: str | torch.device = "cpu") -> Predictor:
    """A `Predictor` for a run folder or checkpoint, or for a file exported in one of FORMATS (by its suffix)."""
    path = Path(run_or_file).expanduser()
    spec = next((f for f in FORMATS.values() if path.is_file() and path.suffix.lower() == f.suffix), None)
    return (spec.load if spec is not None else torch_predictor)(path, device)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    meta: dict[str, Any]
    max_abs_diff: float | None  # largest |exported - checkpoint| logit on the check batch (None: not checked)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "format": self.format, "bytes": self.path.stat().st_size,
                "max_abs_diff": self.max_abs_diff}


def export_model(
    model: nn.Module,
    meta: Mapping[str, Any],
    path: str | Path,
    *,
    format: str = "onnx",
    opset: int | None = None,
    check: bool = True,
) -> ExportResult:
    """Write ``model`` (put in eval mode) to ``path``; ``meta`` needs ``in_channels`` and ``input_size``."""
    spec = _format(format)
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters(), torch.empty(0)).device
    example = check_batch(meta, device)
    spec.write(model.eval(), example, path, meta, opset=opset)
    diff = None
    if check:
        exported = spec.load(path, device)
        with torch.no_grad():
            expected = model(example)
            got = exported.forward(example.to(exported.device)).to(expected.device)
        diff = float((got - expected).abs().max())
    return ExportResult(path, format, dict(meta), diff)


def export_run(
    run_or_checkpoint: str | Path,
    *,
    format: str = "onnx",
    out: str | Path | None = None,
    opset: int | None = None,
    which: str = "best",
    check: bool = True,
) -> ExportResult:
    """Export a run folder's (or a checkpoint file's) model to ``out``.

    ``out`` defaults to ``RUN/export/<model>.<suffix>`` for a run folder and to the checkpoint's
    name with the format's suffix beside a checkpoint file.
    """
    spec = _format(format)
    target = resolve_run(run_or_checkpoint, which=which)
    loaded = load_model(target.require_checkpoint(), device="cpu")
    if out is None:
        out = (target.run.path / "export" / f"{loaded.meta['model']}{spec.suffix}" if target.given.is_dir() and target.run
               else target.given.with_suffix(spec.suffix))
    if Path(out).expanduser().resolve() == Path(loaded.path).resolve():
        raise ConfigError(f"exporting {loaded.path} to itself would overwrite it; give another path with --out")
    return export_model(loaded.model, loaded.meta, out, format=format, opset=opset, check=check)


def check_batch(meta: Mapping[str, Any], device: str | torch.device = "cpu", batch: int = 2) -> torch.Tensor:
    """A fixed random normalized batch at the model's input size (also the tracing example)."""
    h, w = meta["input_size"]
    g = torch.Generator().manual_seed(0)
    return torch.randn(batch, meta["in_channels"], h, w, generator=g).to(device)


def _format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ConfigError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}") from None
