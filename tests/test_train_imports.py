"""What a training run imports: none of torch.compile's machinery (torch._dynamo), the report's plotting
(matplotlib) or torchvision, which would add seconds to a short run's start-up on a small CPU.
The `isolated` fixture is in conftest.py."""
from __future__ import annotations

import json
import subprocess
import sys

from cnnlab.data import load_dataset
from test_data_formats import write_idx_dataset

# Trains the fashion-mnist-90 recipe on argv[1] in a fresh interpreter; prints which heavy modules it imported.
_TRAIN_SCRIPT = """
import json, sys
from cnnlab.cli import main
try:
    main(["train", "--recipe", "fashion-mnist-90", "--data-dir", sys.argv[1], "--batch-size", "32",
          "--threads", "1", "-q", "--run-dir", sys.argv[2]])
except SystemExit as exit:
    assert not exit.code, exit.code
print(json.dumps(sorted(m for m in ("torch._dynamo", "matplotlib", "torchvision") if m in sys.modules)))
"""


def test_a_recipe_run_on_cached_data_imports_no_dynamo_plotting_or_torchvision(isolated):
    data = isolated / "data"
    write_idx_dataset(data / "fashion-mnist", n_train=64, n_test=16)
    load_dataset("fashion-mnist", data_dir=data, download=False)  # decodes the files and caches the arrays
    done = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, str(data), str(isolated / "run")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
    results = json.loads((isolated / "run" / "results.json").read_text())
    assert results["status"] == "completed" and results["train_flops"] > 0
