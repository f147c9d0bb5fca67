"""Interrupting a Jupyter kernel during `cnnlab.train(..., live=True)` saves a checkpoint that resumes.

The kernel is a real ipykernel started by jupyter_client; `interrupt_kernel` sends it SIGINT, as
JupyterLab's stop button does. The run must stop at a step boundary with checkpoints/last.pt written,
the cell must end in KeyboardInterrupt (as an interrupted cell does), and `cnnlab.train(resume=...)`
must finish the run.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytest.importorskip("ipykernel", reason="the notebook extra is not installed: pip install 'cnnlab[notebook]'")
from jupyter_client.manager import start_new_kernel  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TRAIN = """
import time, cnnlab

class Slow:  # ~40 ms per step: the run lasts long enough to be interrupted mid-way
    def on_step(self, event):
        time.sleep(0.04)

result = cnnlab.train("lenet5_relu", "digits", image_size=28, epochs=3, batch_size=16, run_dir={run!r},
                      report=False, quiet=True, live=True, callbacks=[Slow()])
"""

RESUME = """
done = cnnlab.train(resume={run!r}, live=True, callbacks=[Slow()])
print("STATUS", done.status, done.results["steps"])
"""


def execute(client, code: str, *, interrupt_after_steps: int | None = None, km=None,
            timeout: float = 240) -> tuple[str, str | None]:
    """Run ``code``: its printed text and the name of the exception it ended in (None if none). With
    ``interrupt_after_steps``, interrupt the kernel once the live view shows that many steps."""
    msg_id = client.execute(code)
    text, error, deadline, interrupted = [], None, time.monotonic() + timeout, False
    while True:
        msg = client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 1))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            text.append(content["text"])
        elif kind == "error":
            error = content["ename"]
            text.append("\n".join(content["traceback"]))
        elif kind in ("display_data", "update_display_data") and interrupt_after_steps and not interrupted:
            shown = content["data"].get("text/html", "")
            step = _progress_value(shown)
            if step is not None and step >= interrupt_after_steps:
                km.interrupt_kernel()
                interrupted = True
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(text), error


def _progress_value(page: str) -> int | None:
    marker = '<progress value="'
    if marker not in page:
        return None
    return int(page.split(marker, 1)[1].split('"', 1)[0])


def test_interrupting_the_kernel_saves_a_checkpoint_that_resumes(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    km, client = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        out, error = execute(client, TRAIN.format(run=str(run)), interrupt_after_steps=10, km=km)
        assert error == "KeyboardInterrupt" and "Continue with cnnlab.train(resume=" in out
        assert (run / "checkpoints" / "last.pt").is_file()
        assert not (run / "results.json").exists()
        out, error = execute(client, RESUME.format(run=str(run)))
        assert error is None and "STATUS completed" in out
        assert (run / "results.json").is_file()
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
