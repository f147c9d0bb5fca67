"""Training: `train()` (what `cnnlab train` runs) and its config; `load_model` and the checkpoint
readers come from the run store (`cnnlab.runs`) and are handed on here.

    import cnnlab
    result = cnnlab.train("fastnet", "fashion-mnist", epochs=3, precision="bf16", channels_last=True)
    loaded = cnnlab.load_model(result.run_dir)        # eval-mode model + meta
"""
from cnnlab.runs import LoadedModel, load_model, load_weights, read_checkpoint
from cnnlab.training.config import TrainConfig, list_recipes, resolve_config
from cnnlab.training.engine import TrainingDiverged, TrainResult, train

__all__ = [
    "LoadedModel",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "list_recipes",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "resolve_config",
    "train",
]

