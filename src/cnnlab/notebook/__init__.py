"""cnnlab in Jupyter: rich displays of its results, a live training view, run folders as objects.

- ModelSummary, ConvReport, EvalResult, the worked examples of `cnnlab.scratch.explain` and runs
  display themselves as HTML (``_repr_html_``; their pieces are in `cnnlab.display`);
- `LiveTraining`: the callback behind ``cnnlab.train(..., live=True)`` (`cnnlab.training.notebook_view`);
- `open_run(path)`: a run folder shown as the report's key figures and its epochs.
"""
from cnnlab.eval.run_card import Run, open_run
from cnnlab.training.notebook_view import LiveTraining

__all__ = ["LiveTraining", "Run", "open_run"]
