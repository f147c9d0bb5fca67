"""Evaluation, prediction, the run report and run comparison.

- `evaluate(run, split=None, tta=False)` -> EvalResult (accuracy, top-k, loss, per-class
  precision/recall/F1, confusion matrix, the most confidently wrong images) on the test split,
  or the validation split of a dataset without one
- `predict(run_or_checkpoint_or_onnx, paths, topk=5)` -> PredictResult for image files
- `write_report(run_dir)` -> RUN/report.html (self-contained) and RUN/figures/*.png
- `compare_runs(runs)` / `write_comparison(runs, out_dir)`: several runs side by side
"""
from cnnlab._exports import lazy_exports

# imported now: these functions share their modules' names, which an import of the module would
# otherwise leave on the package in their place
from cnnlab.eval.evaluate import EvalResult, Mistake, evaluate, evaluate_model
from cnnlab.eval.predict import Prediction, PredictResult, load_predictor, predict

# imported on first use: a training run evaluates without the report's and the comparison's
# plotting (matplotlib, about a second of start-up)
_EXPORTS = {
    **dict.fromkeys(["Comparison", "compare_runs", "write_comparison"], "cnnlab.eval.compare"),
    **dict.fromkeys(["Metrics", "compute_metrics"], "cnnlab.eval.metrics"),
    "write_report": "cnnlab.eval.report",
}
__all__ = sorted([*_EXPORTS, "EvalResult", "Mistake", "evaluate", "evaluate_model", "Prediction", "PredictResult",
                  "load_predictor", "predict"])
__getattr__ = lazy_exports(__name__, _EXPORTS)[0]


def __dir__() -> list[str]:
    return __all__
