"""`cnnlab viz ...`: pictures of what a trained network learned."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

viz_app = typer.Typer(help="Pictures of what a network learned: filters, activation maps, Grad-CAM, templates.", no_args_is_help=True)

RUN_ARG = typer.Argument(..., help="A run folder written by `cnnlab train`, or a checkpoint .pt file.")
IMAGE_ARG = typer.Argument(..., help="An image file (PNG, JPEG, ...); it is resized and normalized as for `cnnlab predict`.")
DEVICE_OPT = typer.Option("cpu", "--device", help="Where to run the model: cpu, cuda, cuda:1, mps.")


def _load(run: Path, device: str) -> Any:
    from cnnlab.runs import load_model

    return load_model(run, device=device)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


def _done(path: Path) -> None:
    typer.echo(f"wrote {path}")


@viz_app.command("filters")
def filters_command(
    run: Path = RUN_ARG,
    layer: Optional[str] = typer.Option(None, "--layer", "-l", help="Conv layer name (default: the first conv layer)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: filters-LAYER.png here)."),
    max_filters: int = typer.Option(64, "--max-filters", min=1, help="Draw at most this many filters."),
    device: str = DEVICE_OPT,
) -> None:
    """Draw the learned filters of a conv layer as an image grid (the first layer in color for RGB models)."""
    from cnnlab.viz.filters import filter_grid, filters_figure
    from cnnlab.viz.grid import save_figure

    grid = filter_grid(_load(run, device).model, layer, max_filters=max_filters)
    _done(save_figure(filters_figure(grid), out or Path(f"filters-{_slug(grid.layer)}.png")))


@viz_app.command("activations")
def activations_command(
    run: Path = RUN_ARG,
    image: Path = IMAGE_ARG,
    layer: Optional[List[str]] = typer.Option(None, "--layer", "-l", help="Conv layer name; repeat for several (default: all)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: activations-IMAGE.png here)."),
    max_channels: int = typer.Option(64, "--max-channels", min=1, help="Draw at most this many maps per layer."),
    device: str = DEVICE_OPT,
) -> None:
    """Draw the activation maps an image produces at each conv layer (or the chosen ones), one grid per layer."""
    from cnnlab.viz.activations import activations_figure, capture_activations
    from cnnlab.viz.grid import save_figure
    from cnnlab.viz.inputs import prepare_image

    loaded = _load(run, device)
    acts = capture_activations(loaded.model, prepare_image(image, loaded.meta, device=device).x, layer or None)
    fig = activations_figure(acts, max_channels=max_channels, title=f"activation maps of {image.name}")
    _done(save_figure(fig, out or Path(f"activations-{_slug(image.stem)}.png")))


@viz_app.command("cam")
def cam_command(
    run: Path = RUN_ARG,
    image: Path = IMAGE_ARG,
    target: Optional[str] = typer.Option(None, "--class", "-c", help="Class to explain, by index or name (default: the predicted class)."),
    layer: Optional[str] = typer.Option(None, "--layer", "-l", help="Grad-CAM's conv layer (default: the last one to run)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: cam-IMAGE.png here)."),
    device: str = DEVICE_OPT,
) -> None:
    """Grad-CAM and gradient-saliency heat maps over an image, for the top class or a chosen one."""
    from cnnlab.viz.cam import explain, explanation_figure, resolve_class
    from cnnlab.viz.grid import save_figure
    from cnnlab.viz.inputs import prepare_image

    loaded = _load(run, device)
    classes = [str(c) for c in loaded.meta["classes"]]
    img = prepare_image(image, loaded.meta, device=device)
    result = explain(loaded.model, img.x, target=None if target is None else resolve_class(target, classes), layer=layer)
    top = int(result.probs.argmax())
    typer.echo(
        f"predicted {classes[top]} (p={result.probs[top]:.3f}); explaining {classes[result.target]} "
        f"(p={result.probs[result.target]:.3f}) with Grad-CAM at {result.layer}"
    )
    _done(save_figure(explanation_figure(img.display(), result, classes), out or Path(f"cam-{_slug(image.stem)}.png")))


@viz_app.command("templates")
def templates_command(
    run: Path = typer.Argument(..., help="A `cnnlab features pixels` run, or a `cnnlab train` run (or .pt) of the `linear` model."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: RUN/figures/templates.png, or templates.png here)."),
    which: str = typer.Option("best", help="Checkpoint of a training run: best | last."),
    ncols: int = typer.Option(5, "--cols", min=1, help="Templates per row."),
) -> None:
    """One template image per class from a linear classifier's weights on raw pixels."""
    from cnnlab.viz.grid import save_figure
    from cnnlab.viz.templates import templates_figure, templates_from_run

    templates = templates_from_run(run, which=which)
    default = run / "figures" / "templates.png" if run.is_dir() else Path("templates.png")
    _done(save_figure(templates_figure(templates, ncols=ncols), out or default))


def register(app: typer.Typer) -> None:
    app.add_typer(viz_app, name="viz")
