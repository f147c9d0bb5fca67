"""Settings for the whole suite; set before torch is imported by any test module.

`make test` runs two pytest workers on a 2-core machine: each worker (and every `python -m cnnlab`
subprocess it starts) uses one torch thread, and idle OpenMP threads sleep rather than spin, so the
workers do not slow each other down many times over.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
