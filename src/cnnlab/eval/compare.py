"""Several runs side by side: a results table and their learning curves on one plot.

CNN runs and feature runs (kind "features", which have only results.json) mix freely; a
number a run does not have is left empty.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cnnlab.errors import CheckpointError
from cnnlab.eval import figures
from cnnlab.eval.report import RESULT_CARDS, data_uri, render_html
from cnnlab.runs import RunDir

# meta.json fields shown to say what a run is, first present wins for "model"
MODEL_FIELDS = ("model", "method", "classifier")
# results column -> other results.json names for the same number (feature runs write val_acc)
RESULT_ALIASES = {"best_val_acc": ("val_acc",)}


@dataclass
class Comparison:
    """One row per run (name, kind, model, dataset and the results.json numbers) and their curves."""

    rows: list[dict[str, Any]]
    curves: dict[str, list[dict[str, float | None]]]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.rows}

    def formatted_rows(self) -> list[list[str]]:
        """The table as text: name, kind, model, dataset, then one cell per results column."""
        return [
            [r["name"], r["kind"], r["model"], r["dataset"]]
            + [fmt(r[key]) if isinstance(r.get(key), (int, float)) else "" for key, (_, fmt) in RESULT_CARDS.items()]
            for r in self.rows
        ]

    @staticmethod
    def header() -> list[str]:
        return ["run", "kind", "model", "dataset", *(label for label, _ in RESULT_CARDS.values())]


def _describe(meta: dict[str, Any]) -> str:
    return next((str(meta[k]) for k in MODEL_FIELDS if meta.get(k)), "")


def _result(results: dict[str, Any], key: str) -> Any:
    return next((results[k] for k in (key, *RESULT_ALIASES.get(key, ())) if results.get(k) is not None), None)


def compare_runs(runs: Sequence[str | Path]) -> Comparison:
    """Read meta.json, results.json and metrics.csv of each run folder."""
    rows, curves = [], {}
    for run in map(Path, runs):
        if not (run / "meta.json").exists():
            raise CheckpointError(f"{run} is not a run folder (no meta.json): pass folders written by `cnnlab train` or `cnnlab features`")
        folder = RunDir(run, writer=False)
        meta = folder.meta()
        name = folder.name
        if name in curves:  # two runs with the same folder name: keep both apart
            name = f"{name} ({len(rows) + 1})"
        results = folder.results()
        rows.append(
            {"name": name, "path": str(run), "kind": meta.get("kind", "cnn"), "model": _describe(meta),
             "dataset": str(meta.get("dataset", "")), **{k: _result(results, k) for k in RESULT_CARDS}}
        )
        curves[name] = folder.read_metrics()
    return Comparison(rows, curves)


def write_comparison(runs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Write OUT/compare.html (self-contained) and OUT/compare_curves.png; return the HTML path."""
    comparison = compare_runs(runs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = None
    if any(comparison.curves.values()):
        curves = data_uri(figures.compare_curves(comparison.curves, out_dir / "compare_curves.png"))
    context = {
        "title": f"cnnlab: {len(comparison.rows)} runs compared",
        "subtitle": ", ".join(r["path"] for r in comparison.rows),
        "sections": [("table", "Results"), ("curves", "Learning curves")],
        "header": Comparison.header(),
        "table": comparison.formatted_rows(),
        "curves": curves,
    }
    return render_html("compare.html", context, out_dir / "compare.html")
