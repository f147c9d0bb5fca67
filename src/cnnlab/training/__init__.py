"""Training: `train()` (what `cnnlab train` runs) and its config; `load_model` and the checkpoint
readers come from the run store (`cnnlab.runs`) and are handed on here (imported on first use).

    import cnnlab
    result = cnnlab.train("fastnet", "fashion-mnist", epochs=3, precision="bf16", channels_last=True)
    loaded = cnnlab.load_model(result.run_dir)        # eval-mode model + meta
"""
from cnnlab._exports import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["LoadedModel", "load_model", "load_weights", "read_checkpoint"], "cnnlab.runs"),
    **dict.fromkeys(["ResolvedConfig", "TrainConfig", "describe_settings", "list_recipes", "resolve_config",
                     "resolve_settings"], "cnnlab.training.config"),
    **dict.fromkeys(["TrainingDiverged", "TrainResult", "train"], "cnnlab.training.engine"),
    **dict.fromkeys(["StepParts", "StepResult", "train_step"], "cnnlab.training.step"),
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
