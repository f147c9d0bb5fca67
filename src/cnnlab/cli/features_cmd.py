"""`cnnlab features METHOD --data DATASET`: hand-crafted features + a linear classifier, as a run."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

CONFUSION_PRINT_MAX = 15  # more classes: see RUN/confusion.csv

_HOG, _HIST, _BOVW, _CLF, _DATA = "HoG", "Color histogram", "Bag of visual words", "Classifier", "Data and cache"


def features_command(
    method: str = typer.Argument(..., help="Extractor: pixels, color-hist, hog, bovw, or several joined by '+' (hog+color-hist)."),
    data: str = typer.Option(..., "--data", "-d", help="Dataset name (see `cnnlab data list`)."),
    classifier: str = typer.Option("svm", "--classifier", "-c", help="svm | logreg | perceptron | rbf-svm (approximate kernel SVM) | kernel-svm (exact kernel SVM, slow).", rich_help_panel=_CLF),
    hflip: bool = typer.Option(False, "--hflip/--no-hflip", help="Also train on left-right mirrored images; test on the summed scores of image + mirror.", rich_help_panel=_DATA),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Use at most N images of each split (quick runs).", rich_help_panel=_DATA),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder to write (default: runs/features-DATASET-METHOD-CLASSIFIER-TIME)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Resize images to SIZE x SIZE first.", rich_help_panel=_DATA),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Where the dataset files are.", rich_help_panel=_DATA),
    val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of the training set held out for validation.", rich_help_panel=_DATA),
    seed: int = typer.Option(0, "--seed", help="Seed of the validation split, the BoVW codebook and the perceptron's order.", rich_help_panel=_DATA),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Feature cache folder (default: the per-user cache).", rich_help_panel=_DATA),
    no_cache: bool = typer.Option(False, "--no-cache", help="Always recompute features; store nothing.", rich_help_panel=_DATA),
    batch_size: int = typer.Option(2000, "--batch-size", min=1, help="Images per extractor batch.", rich_help_panel=_DATA),
    hog_cell: int = typer.Option(8, "--hog-cell", min=1, help="Pixels per HoG cell side.", rich_help_panel=_HOG),
    hog_bins: int = typer.Option(9, "--hog-bins", min=1, help="Orientation bins (0..180 degrees).", rich_help_panel=_HOG),
    hog_block: int = typer.Option(2, "--hog-block", min=1, help="Cells per block side (L2-Hys normalised).", rich_help_panel=_HOG),
    hog_sqrt: bool = typer.Option(False, "--hog-sqrt/--no-hog-sqrt", help="Gamma compression: gradients of sqrt(image).", rich_help_panel=_HOG),
    hist_bins: int = typer.Option(16, "--hist-bins", min=1, max=256, help="Bins per channel.", rich_help_panel=_HIST),
    bovw_words: int = typer.Option(128, "--bovw-words", min=2, help="Codebook size (k-means clusters).", rich_help_panel=_BOVW),
    bovw_patch: int = typer.Option(5, "--bovw-patch", min=1, help="Patch side in pixels.", rich_help_panel=_BOVW),
    bovw_stride: int = typer.Option(2, "--bovw-stride", min=1, help="Step of the dense patch grid.", rich_help_panel=_BOVW),
    bovw_samples: int = typer.Option(20_000, "--bovw-samples", min=2, help="Random training patches for the codebook.", rich_help_panel=_BOVW),
    c: float = typer.Option(1.0, "--C", help="svm, logreg, rbf-svm: inverse regularisation strength.", rich_help_panel=_CLF),
    max_iter: int = typer.Option(1000, "--max-iter", min=1, help="svm, logreg, rbf-svm: solver iterations.", rich_help_panel=_CLF),
    epochs: int = typer.Option(10, "--epochs", min=1, help="perceptron: passes over the training set.", rich_help_panel=_CLF),
    lr: float = typer.Option(1.0, "--lr", help="perceptron: learning rate a in w <- w + a(d - y)x.", rich_help_panel=_CLF),
    kernel_components: int = typer.Option(3000, "--kernel-components", min=1, help="rbf-svm: training samples of the Nystroem kernel map.", rich_help_panel=_CLF),
    pca: int = typer.Option(0, "--pca", min=0, help="Project the standardised features on their first N principal components first (0 = off); speeds up kernel-svm.", rich_help_panel=_CLF),
    virtual_sv: int = typer.Option(0, "--virtual-sv", min=0, help="kernel-svm: refit on the support vectors plus 4 (or 8) copies of each shifted by 1 pixel (virtual support vectors); 0 = off.", rich_help_panel=_CLF),
    tta_shifts: int = typer.Option(0, "--tta-shifts", min=0, help="Also score each val/test image (and its mirror) shifted by 1 pixel 4 (or 8) ways, summing the scores; 0 = off. Pairs with --virtual-sv.", rich_help_panel=_DATA),
    gamma: Optional[float] = typer.Option(None, "--gamma", help="rbf-svm, kernel-svm: RBF width; default 1/(D * feature variance).", rich_help_panel=_CLF),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Classify with hand-crafted features (pixels, color histograms, HoG, bag of visual words) and a classifier.

    Prints test accuracy, fit time, feature dimension and the confusion matrix, and writes a run
    folder (kind "features") that `cnnlab compare` lists next to CNN runs.
    """
    from cnnlab.features import ClassifierOptions, FeatureOptions, FeatureRunConfig, run_features
    from cnnlab.features.run import default_run_dir

    config = FeatureRunConfig(
        method=method, dataset=data, classifier=classifier, limit=limit, hflip=hflip, virtual_sv=virtual_sv, tta_shifts=tta_shifts,
        data_dir=str(data_dir) if data_dir else None, val_fraction=val_fraction, seed=seed, image_size=image_size,
        cache_dir=str(cache_dir) if cache_dir else None, use_cache=not no_cache, batch_size=batch_size,
        features=FeatureOptions(hog_cell=hog_cell, hog_bins=hog_bins, hog_block=hog_block, hog_sqrt=hog_sqrt, hist_bins=hist_bins,
                                bovw_words=bovw_words, bovw_patch=bovw_patch, bovw_stride=bovw_stride,
                                bovw_samples=bovw_samples, seed=seed),
        classifier_options=ClassifierOptions(C=c, max_iter=max_iter, epochs=epochs, lr=lr,
                                             kernel_components=kernel_components, gamma=gamma, pca=pca, seed=seed),
    )
    result = run_features(config, out or default_run_dir(config), show_progress=not quiet)
    _print_result(result)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _print_result(result) -> None:
    console = Console()
    r, meta = result.results, result.meta
    table = Table(title=f"{meta['model']} on {meta['dataset']}", show_header=False)
    for label, value in (
        ("test accuracy", _percent(r["test_acc"])),
        ("val accuracy", _percent(r["val_acc"])),
        ("train accuracy", _percent(r["train_acc"])),
        ("feature dimension", str(r["feature_dim"])),
        ("images train / val / test", f"{r['n_train']} / {r['n_val']} / {r['n_test']}"),
        ("fit time", f"{r['fit_time_s']:.2f} s"),
        ("feature time", "cached" if r["features_cached"] else f"{r['extract_time_s']:.2f} s"),
    ):
        table.add_row(label, value)
    virtual = r.get("virtual_sv")
    if virtual:
        table.add_row("virtual support vectors", f"{virtual['support_vectors']} support vectors + {virtual['copies']} "
                      f"shifts each: refitted on {virtual['second_fit_samples']} samples")
    console.print(table)
    if not r["converged"]:
        console.print(f"[yellow]note: the {meta['classifier']} solver stopped at --max-iter before converging[/]")
    classes = [str(name) for name in meta["classes"]]
    if len(classes) <= CONFUSION_PRINT_MAX and r["n_test"]:
        confusion = Table(title="test confusion matrix (rows: true class, columns: predicted)")
        confusion.add_column("true \\ predicted")
        for i in range(len(classes)):
            confusion.add_column(str(i), justify="right")
        for i, (name, row) in enumerate(zip(classes, result.confusion)):
            confusion.add_row(name if name == str(i) else f"{i} {name}", *(f"[bold]{n}[/]" if j == i else str(n) for j, n in enumerate(row)))
        console.print(confusion)
    if result.run_dir is not None:
        console.print(f"wrote {result.run_dir}")


def register(app: typer.Typer) -> None:
    app.command("features")(features_command)
