"""ONNX export (torch.export-based exporter) and an ONNX Runtime predictor for `cnnlab predict`.

The model is exported in eval mode with a dynamic batch axis (input ``images`` (B, C, H, W) at the
run's input size, output ``logits`` (B, classes)); BatchNorm stays a BatchNormalization node and
ONNX Runtime fuses it into the preceding convolution when it loads the file. The run's meta
(classes, mean, std, input size, ...) is stored as JSON in the model's ``metadata_props`` under
``cnnlab.meta``, so the file alone is enough to classify images.
"""
from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.export.predictor import Predictor

META_KEY = "cnnlab.meta"
INPUT_NAME, OUTPUT_NAME = "images", "logits"
# ONNX Runtime execution providers per torch device type, best first
PROVIDERS = {"cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"], "cpu": ["CPUExecutionProvider"]}
INSTALL_HINT = "install the export extras: pip install 'cnnlab[export]' (onnx, onnxruntime, onnxscript)"


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path, meta: Mapping[str, Any], *,
               opset: int | None = None) -> None:
    """Export ``model`` (eval mode) for inputs shaped like ``example``, with any batch size."""
    try:
        import onnxscript  # noqa: F401  (the exporter needs it; import here for a clear message)
    except ImportError as err:
        raise ConfigError(f"ONNX export needs onnxscript ({err}); {INSTALL_HINT}") from None
    batch = torch.export.Dim("batch")
    # the exporter reports its progress with print() and warns about internals: keep the CLI quiet
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(), (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_shapes=({0: batch},), external_data=False,
        )
    program.model.metadata_props[META_KEY] = json.dumps(dict(meta))
    program.save(str(path))


def onnx_predictor(path: str | Path, device: str | torch.device = "cpu", *, threads: int | None = None) -> Predictor:
    """An ONNX Runtime session for an exported file, as the `Predictor` that `cnnlab predict` uses.

    ``device`` picks the execution provider (CUDA when the device is a GPU and onnxruntime-gpu is
    installed, else CPU); ``threads`` caps ONNX Runtime's intra-op threads (default: all cores).
    Inputs and outputs are CPU tensors.
    """
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ConfigError(f"running ONNX files needs onnxruntime ({err}); {INSTALL_HINT}") from None
    path = Path(path)
    available = set(ort.get_available_providers())
    providers = [p for p in PROVIDERS.get(torch.device(device).type, PROVIDERS["cpu"]) if p in available]
    try:
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as err:  # ORT raises its own exception types for unreadable or invalid files
        raise CheckpointError(f"{path} is not a valid ONNX model ({str(err)[:200]})") from None
    meta = _meta(session.get_modelmeta().custom_metadata_map, path)
    input_name = session.get_inputs()[0].name

    def forward(x: torch.Tensor) -> torch.Tensor:
        logits = session.run(None, {input_name: x.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(logits)

    return Predictor(meta, forward, path, "cpu")


def read_onnx_meta(path: str | Path) -> dict[str, Any]:
    """The cnnlab meta stored in an exported ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return _meta({p.key: p.value for p in model.metadata_props}, Path(path))


def _meta(props: Mapping[str, str], path: Path) -> dict[str, Any]:
    if META_KEY not in props:
        raise CheckpointError(f"{path} has no cnnlab metadata (classes, input size, normalization): it was not "
                              f"written by `cnnlab export`; export the run with `cnnlab export RUN --format onnx`")
    return json.loads(props[META_KEY])
