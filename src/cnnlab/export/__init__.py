"""Export trained models: ONNX, TorchScript or safetensors, each with the run's meta inside the file.

    from cnnlab.export import export_run
    result = export_run("runs/digits-fastnet", format="onnx")   # checks the outputs against the checkpoint
    result.path, result.max_abs_diff

`onnx_predictor(path, device)` runs an exported ONNX file with ONNX Runtime; `cnnlab predict`
uses it for ``.onnx`` files.
"""
from cnnlab.export.export import FORMATS, ExportFormat, ExportResult, export_model, export_run
from cnnlab.export.to_onnx import onnx_predictor, read_onnx_meta
from cnnlab.export.to_torchscript import torchscript_predictor

__all__ = ["FORMATS", "ExportFormat", "ExportResult", "export_model", "export_run", "onnx_predictor",
           "read_onnx_meta", "torchscript_predictor"]
