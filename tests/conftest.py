"""Settings for the whole suite; set before torch is imported by any test module.

`make test` runs two pytest workers on a 2-core machine: each worker (and every `python -m cnnlab`
subprocess it starts) uses one torch thread, and idle OpenMP threads sleep rather than spin, so the
workers do not slow each other down many times over.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# precision "auto" means fp32 in the suite on every CPU (same numbers everywhere, and bf16 is ~200x
# slower where it is emulated); tests of the bf16 branch set CNNLAB_CPU_BF16=1 themselves
os.environ["CNNLAB_CPU_BF16"] = "0"
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich wraps table cells to the terminal width: tests read whole rows."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $CNNLAB_DATA, no system folders, a private user cache: only what the test writes is found."""
    from cnnlab.data import locate

    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(locate, "SYSTEM_ROOTS", ())
    return tmp_path
