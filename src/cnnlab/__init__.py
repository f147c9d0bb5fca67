"""cnnlab: a lab for convolutional neural networks.

Build, inspect, train, evaluate and explain CNN image classifiers::

    import cnnlab
    model = cnnlab.create_model("resnet18", num_classes=10, in_channels=1, input_size=28)
    print(cnnlab.summary(model, (1, 28, 28)))

Public names are imported lazily so that ``import cnnlab`` (and the CLI) start fast.
"""
from __future__ import annotations

from cnnlab._exports import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "create_model": "cnnlab.models",
    "list_models": "cnnlab.models",
    "register_model": "cnnlab.models",
    "model_info": "cnnlab.models",
    "train_defaults": "cnnlab.models",
    "TrainDefaults": "cnnlab.models",
    "load_torchvision_weights": "cnnlab.models.convert",
    "summary": "cnnlab.inspect",
    "conv_output_size": "cnnlab.inspect",
    "load_dataset": "cnnlab.data",
    "list_datasets": "cnnlab.data",
    "make_loader": "cnnlab.data",
    "train": "cnnlab.training",
    "TrainConfig": "cnnlab.training",
    "load_model": "cnnlab.runs",
    "run_features": "cnnlab.features", "FeatureRunConfig": "cnnlab.features",
    "evaluate": "cnnlab.eval", "predict": "cnnlab.eval", "write_report": "cnnlab.eval", "compare_runs": "cnnlab.eval",
    "export_run": "cnnlab.export",
    "open_run": "cnnlab.notebook",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
