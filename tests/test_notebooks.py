"""The course's notebooks run top to bottom: quick mode (CNNLAB_QUICK=1) by default, in full with -m slow.

Each notebook is read from its plain-text form (notebooks/*.py, jupytext percent format) and executed
by nbclient in a fresh kernel of this Python, in a temporary folder (its runs/ go there). A cell that
raises fails the test with the cell's traceback.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="the notebook extra is not installed: pip install 'cnnlab[notebook]'")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
FULL_TIMEOUT_S = 900      # per cell; the notebooks aim at 5 minutes each on 2 CPU cores


def run_notebook(path: Path, workdir: Path, *, quick: bool, timeout: int) -> object:
    from nbclient import NotebookClient

    notebook = jupytext.read(path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    env.pop("CNNLAB_QUICK", None)
    if quick:
        env.update(CNNLAB_QUICK="1", OMP_NUM_THREADS="1")
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    with client.setup_kernel(env=env, cwd=str(workdir)):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    return notebook


def test_every_notebook_is_tested():
    names = [p.stem for p in NOTEBOOKS]
    assert len(names) == 6 and names == sorted(names)
    for path in NOTEBOOKS:
        assert path.with_suffix(".ipynb").exists(), f"{path.name} has no paired .ipynb (run `make notebooks-sync`)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, tmp_path):
    notebook = run_notebook(path, tmp_path, quick=True, timeout=300)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert outputs, "the notebook showed nothing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_full(path, tmp_path):
    run_notebook(path, tmp_path, quick=False, timeout=FULL_TIMEOUT_S)


def test_paired_notebooks_hold_no_outputs():
    import nbformat

    for path in NOTEBOOKS:
        notebook = nbformat.read(path.with_suffix(".ipynb"), as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), f"{path.name}: clear the outputs"
        assert [c.source for c in code] == [c.source for c in jupytext.read(path).cells if c.cell_type == "code"], \
            f"{path.with_suffix('.ipynb').name} differs from {path.name}: run `make notebooks-sync`"
