"""`torchrun --nproc-per-node=2 -m cnnlab train ...` on CPU: DDP over gloo, sharded data, rank 0 writes.

About 20 s on the shared 2-core machine (two interpreters import torch), so it stays in the default suite."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from cnnlab.training import load_model, read_checkpoint

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}


def test_two_process_ddp_run_writes_one_run_folder(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "cnnlab",
           "train", "fastnet_small", "--data", "digits", "--epochs", "3", "--batch-size", "32", "--lr", "0.05",
           "--threads", "1", "--out", str(out), "--no-report", "--quiet"]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list(out.iterdir())
    assert len(runs) == 1  # both ranks agreed on the folder; only rank 0 wrote
    run = runs[0]
    results = json.loads((run / "results.json").read_text())
    assert results["world_size"] == 2 and results["test_acc"] > 0.7
    per_rank_batches = (1293 + 1) // 2 // 32  # each rank trains on its half of the shuffled training split
    assert results["steps"] == 3 * per_rank_batches
    assert done.stdout.count("epoch 3/3") == 1  # rank 0 prints, rank 1 stays silent
    state = read_checkpoint(run / "checkpoints" / "last.pt")
    assert not any(k.startswith("module.") for k in state["model"])  # the raw model, not the DDP wrapper
    assert not load_model(run).model.training
