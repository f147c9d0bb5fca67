"""`cnnlab eval | predict | report | compare`: measure, use and present trained runs."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from cnnlab.cli.output import print_table
from cnnlab.errors import DataError

CONFUSION_PRINT_MAX = 15  # larger confusion matrices are only in --json and the report

RUN_ARG = typer.Argument(..., help="A run folder (written by `cnnlab train`) or a checkpoint .pt file.")
DEVICE_OPT = typer.Option("auto", help="auto | cpu | cuda | cuda:N.")


def _device(name: str) -> Any:
    from cnnlab.training.distributed import resolve_device

    return resolve_device(name)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def _hint_the_runs_own_views(checkpoint: Path) -> None:
    """Plain views by default (the model's own accuracy); say so where the run's test figure had views."""
    from cnnlab.eval.evaluate import run_test_views

    tta, tta_share = run_test_views(checkpoint)
    if tta != "none":
        share = f" --tta-share {tta_share:g}" if tta_share < 1 else ""
        typer.echo(f"note: plain views; the run's own test figure had test-time views: add --tta {tta}{share} to reproduce it")


def eval_command(
    run: Path = RUN_ARG,
    data: Optional[str] = typer.Option(None, "--data", help="Dataset to evaluate on (default: the run's own)."),
    split: Optional[str] = typer.Option(None, help="train | val | test (default: test, or val when the dataset has no test split).", show_default=False),
    tta: str = typer.Option("none", "--tta", help="Test-time augmentation: none | flip (the image and its mirror) | translate (+ the mirrored pairs shifted 1 pixel up-left and down-right) | grid (+ all eight 1-pixel shifts, 18 views)."),
    tta_share: float = typer.Option(1.0, "--tta-share", help="With --tta: give the views only to this share of the images, those whose plain prediction is least confident (1 = all; the run's `tta_share` is not applied)."),
    which: str = typer.Option("best", help="Checkpoint of a run folder: best | last."),
    batch_size: int = typer.Option(256, help="Images per forward pass."),
    device: str = DEVICE_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print all numbers as JSON."),
    allow_class_mismatch: bool = typer.Option(False, "--allow-class-mismatch", help="Evaluate on --data whose class names differ from the run's (labels compared by position)."),
) -> None:
    """Accuracy, top-k accuracy, loss, per-class precision/recall/F1 and the confusion matrix."""
    from cnnlab.eval import evaluate
    from cnnlab.eval.tta import check_tta, check_tta_share

    result = evaluate(run, data=data, split=split, tta=check_tta(tta), tta_share=check_tta_share(tta_share), which=which,
                      batch_size=batch_size, device=_device(device), allow_class_mismatch=allow_class_mismatch)
    if as_json:
        _print_json(result.to_dict())
        return
    m = result.metrics
    console = Console()
    note = f" ({result.split_note})" if result.split_note else ""
    views = f" on the {tta_share:.0%} least confident" if tta_share < 1 else ""
    console.print(f"{result.dataset} / {result.split}{f' (TTA {tta}{views})' if tta != 'none' else ''}{note}: {m.num_samples} images, {result.checkpoint}")
    if tta == "none" and data is None:
        _hint_the_runs_own_views(Path(result.checkpoint))
    head = Table()
    head.add_column("metric")
    head.add_column("value", justify="right")
    head.add_row("accuracy", f"{m.accuracy:.2%}")
    for k, v in m.topk.items():
        if 1 < k < len(m.classes):
            head.add_row(f"top-{k} accuracy", f"{v:.2%}")
    head.add_row("loss", f"{m.loss:.4f}")
    for name, v in m.macro.items():
        head.add_row(f"macro {name}", f"{v:.2%}")
    console.print(head)
    per_class = Table("class", *(Column(h, justify="right") for h in ("precision", "recall", "F1", "support")), title="per class")
    for row in m.per_class():
        per_class.add_row(row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(per_class)
    if len(m.classes) <= CONFUSION_PRINT_MAX:
        cm = Table("true \\ pred", *(Column(c, justify="right") for c in m.classes), title="confusion matrix")
        for name, counts in zip(m.classes, m.confusion):
            cm.add_row(name, *map(str, counts))
        console.print(cm)


def predict_command(
    run: Path = typer.Argument(..., help="A run folder, a checkpoint .pt or an exported .onnx file."),
    images: List[Path] = typer.Argument(..., help="Image files or folders (searched recursively)."),
    topk: Optional[int] = typer.Option(None, "--topk", "-k", help="How many classes to list per image (1 to the class count; default 5 or all).", show_default=False),
    device: str = DEVICE_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV: path, rank, class, probability."),
    invert: bool = typer.Option(False, "--invert", help="Swap light and dark first (a dark object on white, for a model trained on light-on-dark images)."),
) -> None:
    """Top-k classes with probabilities for each image (any size, gray or color)."""
    from cnnlab.eval import predict

    result = predict(run, images, topk=topk, device=_device(device), invert_images=invert)
    for path, reason in result.skipped:
        typer.secho(f"skipped {path}: {reason}", err=True, fg=typer.colors.YELLOW)
    for p in result.predictions:
        if p.note:
            hint = "" if invert else "; try --invert"
            typer.secho(f"note: {p.path}: {p.note}{hint}", err=True, fg=typer.colors.YELLOW)
    if not result.predictions and result.skipped:
        raise DataError("none of the given files is a readable image (PNG, JPEG, BMP, WebP, ...)")
    if as_json:
        _print_json(result.to_dict())
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["path", "rank", "class", "prob"])
        for p in result.predictions:
            writer.writerows([p.path, rank, c, f"{prob:.6f}"] for rank, (c, prob) in enumerate(p.topk, 1))
    else:
        table = Table("image", "prediction", "prob", "next most likely")
        for p in result.predictions:
            (best, prob), rest = p.topk[0], p.topk[1:]
            table.add_row(p.path, best, f"{prob:.1%}", ", ".join(f"{c} {q:.1%}" for c, q in rest))
        Console().print(table)


def report_command(
    run: Path = typer.Argument(..., help="A run folder."),
    device: str = DEVICE_OPT,
) -> None:
    """(Re)build RUN/report.html and RUN/figures/*.png: evaluates the best checkpoint on the test split."""
    from cnnlab.eval import write_report
    from cnnlab.runs import resolve_run

    path = write_report(resolve_run(run).require_run("cnnlab report").path, device=_device(device))
    typer.echo(f"wrote {path}")


def compare_command(
    runs: List[Path] = typer.Argument(..., help="Run folders (CNN or feature runs)."),
    out: Optional[Path] = typer.Option(None, help="Also write OUT/compare.html and OUT/compare_curves.png."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Several runs side by side: a results table and (with --out) their curves on one plot."""
    from cnnlab.eval import compare_runs, write_comparison

    comparison = compare_runs(runs)
    if as_json:
        _print_json(comparison.to_dict())
    else:
        print_table(comparison.header(), comparison.formatted_rows())
    if out is not None:
        typer.echo(f"wrote {write_comparison(runs, out)}", err=as_json)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("predict")(predict_command)
    app.command("report")(report_command)
    app.command("compare")(compare_command)
