"""`cnnlab viz ...`: pictures of what a trained network learned."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

viz_app = typer.Typer(help="Pictures of what a network learned: filters, activation maps, Grad-CAM, templates, class and feature visualisations, fooling images.", no_args_is_help=True)

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


CLASS_OPT = typer.Option(..., "--class", "-c", help="Class by index or name.")
STEPS_HELP = "Gradient steps (each a forward and backward pass on one image)."
SEED_OPT = typer.Option(0, "--seed", help="Seed of the starting noise and the random jitter.")


def _space(loaded: Any) -> Any:
    from cnnlab.viz.input_opt import PixelSpace

    return PixelSpace.of(loaded.meta, device=next(loaded.model.parameters()).device)


def _picture(image: Any, path: Path, cmap: Optional[str] = "gray") -> Path:
    from cnnlab.viz.grid import png_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(image, cmap if image.ndim == 2 else None, min_side=224))
    return path


@viz_app.command("classvis")
def classvis_command(
    run: Path = RUN_ARG,
    target: str = CLASS_OPT,
    steps: int = typer.Option(200, "--steps", min=1, help=STEPS_HELP),
    l2: float = typer.Option(1e-2, "--l2", min=0.0, help="L2 penalty on the image (keeps it from growing without bound)."),
    seed: int = SEED_OPT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: classvis-CLASS.png here)."),
    device: str = DEVICE_OPT,
) -> None:
    """The input a class likes best: gradient ascent on its score from noise, with L2, blur and jitter (cs231n A3)."""
    from cnnlab.viz.cam import resolve_class
    from cnnlab.viz.neurons import class_visualisation

    loaded = _load(run, device)
    classes = [str(c) for c in loaded.meta["classes"]]
    index = resolve_class(target, classes)
    result = class_visualisation(loaded.model, _space(loaded), index, steps=steps, l2=l2, seed=seed)
    typer.echo(f"class score of {classes[index]}: {result.start:.3g} -> {result.end:.3g} after {steps} steps")
    _done(_picture(result.image, out or Path(f"classvis-{_slug(classes[index])}.png")))


@viz_app.command("featvis")
def featvis_command(
    run: Path = RUN_ARG,
    layer: str = typer.Option(..., "--layer", "-l", help="Layer (module path, e.g. a conv layer from `cnnlab viz filters`)."),
    channel: int = typer.Option(0, "--channel", "-k", min=0, help="Output channel of that layer."),
    steps: int = typer.Option(128, "--steps", min=1, help=STEPS_HELP),
    seed: int = SEED_OPT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: featvis-LAYER-CHANNEL.png here)."),
    device: str = DEVICE_OPT,
) -> None:
    """The input one channel responds to most, optimised under random jitter, scale and rotation."""
    from cnnlab.viz.neurons import feature_visualisation

    loaded = _load(run, device)
    result = feature_visualisation(loaded.model, _space(loaded), layer, channel, steps=steps, seed=seed)
    typer.echo(f"mean activation of {layer} channel {channel}: {result.start:.3g} -> {result.end:.3g} after {steps} steps")
    _done(_picture(result.image, out or Path(f"featvis-{_slug(layer)}-{channel}.png")))


@viz_app.command("fool")
def fool_command(
    run: Path = RUN_ARG,
    image: Path = IMAGE_ARG,
    target: str = CLASS_OPT,
    max_steps: int = typer.Option(500, "--max-steps", min=1, help="Give up after this many steps."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write: original, perturbation (magnified), fooling image (default: fool-IMAGE-CLASS.png here)."),
    device: str = DEVICE_OPT,
) -> None:
    """A fooling image: the smallest step-by-step change to IMAGE that makes the model answer --class."""
    import numpy as np

    from cnnlab.viz.cam import resolve_class
    from cnnlab.viz.grid import scale_tiles
    from cnnlab.viz.inputs import prepare_image
    from cnnlab.viz.neurons import fooling_image

    loaded = _load(run, device)
    classes = [str(c) for c in loaded.meta["classes"]]
    index = resolve_class(target, classes)
    x = prepare_image(image, loaded.meta, device=device).x
    result = fooling_image(loaded.model, _space(loaded), x, index, max_steps=max_steps)
    verdict = "fooled" if result.success else f"not fooled after {result.steps} steps"
    typer.echo(f"{classes[result.original_class]} -> {classes[result.fooled_class]} (p={result.target_prob:.3f} for "
               f"{classes[index]}), {verdict}; perturbation L2 {result.l2:.3g}, max {255 * result.linf:.1f}/255")
    gap = np.ones((result.original.shape[0], 2, *result.original.shape[2:]))
    delta = scale_tiles(result.delta[None], "symmetric")[0]
    strip = np.concatenate([result.original, gap, delta, gap, result.fooled], axis=1)
    _done(_picture(strip, out or Path(f"fool-{_slug(image.stem)}-{_slug(classes[index])}.png")))


def register(app: typer.Typer) -> None:
    app.add_typer(viz_app, name="viz")
