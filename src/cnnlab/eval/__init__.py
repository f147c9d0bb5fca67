"""Evaluation, prediction, the run report and run comparison.

- `evaluate(run, split=None, tta=False)` -> EvalResult (accuracy, top-k, loss, per-class
  precision/recall/F1, confusion matrix, the most confidently wrong images) on the test split,
  or the validation split of a dataset without one
- `predict(run_or_checkpoint_or_onnx, paths, topk=5)` -> PredictResult for image files
- `write_report(run_dir)` -> RUN/report.html (self-contained) and RUN/figures/*.png
- `compare_runs(runs)` / `write_comparison(runs, out_dir)`: several runs side by side
"""
from cnnlab.eval.compare import Comparison, compare_runs, write_comparison
from cnnlab.eval.evaluate import EvalResult, Mistake, evaluate, evaluate_model
from cnnlab.eval.metrics import Metrics, compute_metrics
from cnnlab.eval.predict import Prediction, PredictResult, load_predictor, predict
from cnnlab.eval.report import write_report

__all__ = [
    "Comparison", "EvalResult", "Metrics", "Mistake", "PredictResult", "Prediction",
    "compare_runs", "compute_metrics", "evaluate", "evaluate_model", "load_predictor", "predict",
    "write_comparison", "write_report",
]
