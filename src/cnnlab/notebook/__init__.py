"""cnnlab in Jupyter: rich displays of its results, a live training view, run folders as objects.

- `display`: the ``_repr_html_``/``__repr__`` renderers behind ModelSummary, ConvReport,
  EvalResult, the worked examples of `cnnlab.scratch.explain` and runs;
- `live.LiveTraining`: the callback behind ``cnnlab.train(..., live=True)``;
- `open_run(path)`: a run folder shown as the report's key figures and its epochs.
"""
from cnnlab.notebook.runs import Run, open_run

__all__ = ["Run", "open_run"]
