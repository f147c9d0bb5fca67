"""Export trained models: ONNX, TorchScript or safetensors, each with the run's meta inside the file.

    from cnnlab.export import export_run
    result = export_run("runs/digits-fastnet", format="onnx")   # checks the outputs against the checkpoint
    result.path, result.max_abs_diff

`load_predictor(path)` gives any of them (or a run folder or checkpoint) as a `Predictor`, a function
from a normalized batch to logits: what `cnnlab predict` classifies images with.
"""
from cnnlab.export.export import FORMATS, ExportFormat, ExportResult, export_model, export_run, load_predictor
from cnnlab.export.predictor import Predictor, torch_predictor
from cnnlab.export.to_onnx import onnx_predictor, read_onnx_meta
from cnnlab.export.to_torchscript import torchscript_predictor

__all__ = ["FORMATS", "ExportFormat", "ExportResult", "Predictor", "export_model", "export_run", "load_predictor",
           "onnx_predictor", "read_onnx_meta", "torch_predictor", "torchscript_predictor"]
