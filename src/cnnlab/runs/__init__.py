"""The run store: what `cnnlab train` writes and every other command reads.

- `RunDir`: one run folder, the place of each of its files (docs/design.md)
- `resolve_run(path)`: a run folder, checkpoint file or folder of runs -> the run and its checkpoint
- the checkpoint format: `save_checkpoint`, `read_checkpoint` (weights_only, never unrestricted
  unpickling), `save_safetensors`, `load_weights`
- `load_model(run)`: the trained model in eval mode, with its meta
- `run_status(run)` / `run_state(run)`: completed, running, interrupted or no checkpoint
"""
from cnnlab.runs.checkpoint import (FORMAT_VERSION, check_same_model, load_weights, model_weights, read_checkpoint,
                                    save_checkpoint, save_safetensors)
from cnnlab.runs.folder import (CHECKPOINT_NAMES, RunDir, RunTarget, find_runs, pick_run, read_json, read_text,
                                resolve_run)
from cnnlab.runs.load import LoadedModel, load_model
from cnnlab.runs.status import LIVE_FILE, LIVE_SECONDS, RUN_STATES, SNAPSHOT_FILE, RunState, run_state, run_status

__all__ = [
    "CHECKPOINT_NAMES", "FORMAT_VERSION", "LIVE_FILE", "LIVE_SECONDS", "LoadedModel", "RUN_STATES", "RunDir",
    "RunState", "RunTarget", "check_same_model", "find_runs", "load_model", "load_weights", "model_weights",
    "pick_run", "read_checkpoint", "read_json", "read_text", "resolve_run", "run_state", "run_status",
    "save_checkpoint", "save_safetensors", "SNAPSHOT_FILE",
]
