"""Training: `train()` (what `cnnlab train` runs), its config, checkpoints and `load_model`.

    import cnnlab
    result = cnnlab.train("fastnet", "fashion-mnist", epochs=3, precision="bf16", channels_last=True)
    loaded = cnnlab.load_model(result.run_dir)        # eval-mode model + meta
"""
import sys
import types
from typing import Any

from cnnlab.train.checkpoint import LoadedModel, load_model, load_weights, read_checkpoint
from cnnlab.train.config import TrainConfig, list_recipes, resolve_config
from cnnlab.train.engine import TrainingDiverged, TrainResult, evaluate, train

__all__ = [
    "LoadedModel",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "list_recipes",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "resolve_config",
    "train",
]


class _CallableModule(types.ModuleType):
    """Importing the subpackage ``cnnlab.train`` makes Python set ``cnnlab.train`` to this module,
    hiding the ``train`` function exported by ``cnnlab``; calling the module calls the function."""

    def __call__(self, *args: Any, **kwargs: Any) -> TrainResult:
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
