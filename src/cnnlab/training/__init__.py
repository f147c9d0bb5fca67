"""Training: `train()` (what `cnnlab train` runs), its config, checkpoints and `load_model`.

    import cnnlab
    result = cnnlab.train("fastnet", "fashion-mnist", epochs=3, precision="bf16", channels_last=True)
    loaded = cnnlab.load_model(result.run_dir)        # eval-mode model + meta
"""
from cnnlab.training.checkpoint import LoadedModel, load_model, load_weights, read_checkpoint
from cnnlab.training.config import ResolvedConfig, TrainConfig, describe_settings, list_recipes, resolve_config, resolve_settings
from cnnlab.training.engine import TrainingDiverged, TrainResult, evaluate, train

__all__ = [
    "LoadedModel",
    "ResolvedConfig",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "list_recipes",
    "load_model",
    "load_weights",
    "describe_settings",
    "read_checkpoint",
    "resolve_config",
    "resolve_settings",
    "train",
]

