"""The run report: RUN/report.html (self-contained, figures inlined as base64 PNG) and RUN/figures/*.png."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
import torch

from cnnlab.eval import figures
from cnnlab.eval.figures import curve_rows
from cnnlab.eval.evaluate import EvalResult, evaluate, run_test_views
from cnnlab.runs import RunDir, resolve_run

# id -> heading, in page order (the template has one <section id=...> for each)
SECTIONS = {
    "results": "Results",
    "curves": "Learning curves",
    "confusion": "Confusion matrix",
    "per-class": "Per-class metrics",
    "mistakes": "Most confidently wrong",
    "summary": "Model summary",
    "config": "Configuration",
    "environment": "Environment",
}


EVALUATED = ("test_acc", "test_loss")  # results.json figures a fresh evaluation supersedes in the cards
FIGURES = ("learning_curves", "confusion", "per_class")  # figures the template inlines (mistakes: a gallery)


def _percent(v: float) -> str:
    return f"{v:.2%}"


def _count(v: float) -> str:
    return f"{int(v):,}"


def _seconds(v: float) -> str:
    return f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"


def _plain(v: float) -> str:
    return f"{v:.4g}"


# results.json key -> (card label, formatter); keys absent from a run are skipped
RESULT_CARDS: dict[str, tuple[str, Callable[[float], str]]] = {
    "test_acc": ("test accuracy", _percent),
    "test_loss": ("test loss", _plain),
    "best_val_acc": ("best val accuracy", _percent),
    "params": ("parameters", _count),
    "train_time_s": ("training time", _seconds),
}


def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(template: str, context: Mapping[str, Any], path: Path) -> Path:
    """Render ``templates/<template>`` with ``context`` into ``path``."""
    html = _templates().get_template(template).render(**context)
    path.write_text(html, encoding="utf-8")
    return path


def data_uri(png: Path) -> str:
    """A PNG file as a data: URI, so the page needs no other file."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def image_data_uri(image: torch.Tensor) -> str:
    """A uint8 (C, H, W) image as a PNG data: URI."""
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()  # (H, W, C)
    buffer = io.BytesIO()
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _gallery(evaluation: EvalResult | None) -> list[dict[str, str]]:
    if evaluation is None:
        return []
    classes = evaluation.metrics.classes
    return [
        {"src": image_data_uri(m.image), "true": classes[m.true], "pred": classes[m.pred], "prob": f"{m.prob:.0%}", "index": str(m.index)}
        for m in evaluation.mistakes
    ]


def result_cards(results: Mapping[str, Any], *, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [
        (label, fmt(results[key]))
        for key, (label, fmt) in RESULT_CARDS.items()
        if key not in skip and isinstance(results.get(key), (int, float))
    ]


def _evaluation_cards(evaluation: EvalResult) -> list[tuple[str, str]]:
    m, split = evaluation.metrics, evaluation.split
    cards = [(f"{split} accuracy" + (" (TTA)" if evaluation.tta != "none" else ""), _percent(m.accuracy))]
    cards += [(f"{split} top-{k}", _percent(v)) for k, v in m.topk.items() if 1 < k < len(m.classes)]
    cards += [(f"{split} loss", _plain(m.loss)), (f"{split} macro F1", _percent(m.macro["f1"]))]
    return cards


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", str(value)))
    return rows


def _default_evaluation(run_dir: Path, kind: str, device: str | torch.device) -> EvalResult | None:
    """Evaluate on the test split (validation without one) when the run has a network checkpoint; feature runs have none.

    With the run's test-time augmentation, as its own test figure in results.json.
    """
    checkpoint = resolve_run(run_dir).checkpoint
    if kind == "features" or checkpoint is None:
        return None
    tta, tta_share = run_test_views(checkpoint)
    return evaluate(run_dir, tta=tta, tta_share=tta_share, device=device)


def write_report(run_dir: str | Path, *, evaluation: EvalResult | None = None, device: str | torch.device = "cpu") -> Path:
    """Write RUN/report.html and RUN/figures/*.png; return the report's path.

    Without ``evaluation`` the run's best checkpoint is evaluated on its test split (runs
    without a checkpoint, such as feature runs, get a report without the evaluation sections).
    """
    run_dir = Path(run_dir)
    run = RunDir(run_dir, writer=False)
    meta = run.meta()
    kind = meta.get("kind", "cnn")
    if evaluation is None:
        evaluation = _default_evaluation(run_dir, kind, device)
    fig_dir = run_dir / "figures"
    pngs: dict[str, Path] = {}
    rows, steps = curve_rows(run_dir)
    if rows or steps:
        pngs["learning_curves"] = figures.learning_curves(rows, fig_dir / "learning_curves.png", steps)
    if evaluation is not None:
        m = evaluation.metrics
        pngs["confusion"] = figures.confusion_figure(m, fig_dir / "confusion_matrix.png")
        pngs["per_class"] = figures.per_class_figure(m, fig_dir / "per_class.png")
        if evaluation.mistakes:
            pngs["mistakes"] = figures.mistakes_figure(evaluation.mistakes, m.classes, fig_dir / "mistakes.png")
    results = run.results()
    subtitle = " · ".join(
        str(x) for x in (meta.get("model"), meta.get("dataset"), kind, evaluation and f"evaluated: {evaluation.checkpoint}") if x
    )
    split_note = f" ({evaluation.split_note})" if evaluation is not None and evaluation.split_note else ""
    context = {
        "title": f"Run report: {run.name}{split_note}",
        "subtitle": subtitle,
        "sections": list(SECTIONS.items()),
        "cards": _evaluation_cards(evaluation) + result_cards(results, skip=EVALUATED) if evaluation else result_cards(results),
        "evaluation_note": None if evaluation else "No checkpoint evaluated: the figures from metrics.csv and results.json only.",
        "split": evaluation.split if evaluation else "test",
        "figures": {name: data_uri(pngs[name]) if name in pngs else None for name in FIGURES},
        "per_class": evaluation.metrics.per_class() if evaluation else [],
        "gallery": _gallery(evaluation),
        "summary": run.read_text("summary.txt"),
        "config": run.read_text("config.yaml"),
        "environment": _flatten(run.read_json("env.json")),
    }
    return render_html("report.html", context, run_dir / "report.html")
