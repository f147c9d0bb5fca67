"""`cnnlab lr-find`: the learning-rate range test for a training configuration; writes a loss-vs-lr plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnlab.cli.config_options import with_config_options

_OPT = dict(show_default=False)


# the `cnnlab train` settings the sweep honours; the others come from --recipe/--config
SETTINGS = ("data", "optimizer", "batch_size", "image_size", "seed", "threads")


@with_config_options(SETTINGS)
def lr_find_command(
    model: Optional[str] = typer.Argument(None, help="Model name (see `cnnlab models`); default from the recipe/config."),
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="Take the other settings from a recipe.", **_OPT),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of settings (e.g. RUN/config.yaml).", **_OPT),
    start_lr: float = typer.Option(1e-6, "--start-lr", help="First learning rate of the sweep."),
    end_lr: float = typer.Option(10.0, "--end-lr", help="Last learning rate of the sweep (it stops earlier when the loss diverges)."),
    steps: int = typer.Option(100, "--steps", min=10, help="Training steps of the sweep."),
    out: Path = typer.Option(Path("lr_find.png"), "--out", "-o", help="Where to write the loss-vs-lr plot (PNG)."),
    settings: dict[str, Any] = {},
) -> None:
    """Sweep the learning rate exponentially over a few hundred steps on a copy of MODEL, plot the loss
    against it and print a suggested --lr (Leslie Smith's range test, as fastai's lr_find)."""
    from cnnlab.training.lr_find import lr_find

    result = lr_find(model, recipe=recipe, config=config, start_lr=start_lr, end_lr=end_lr, steps=steps,
                     report=False, quiet=True, **settings)
    path = result.plot(out)
    for note in result.notes:
        typer.echo(f"note: {note}")
    ended = "the loss diverged, so the sweep stopped" if result.stopped_early else "the sweep ended"
    typer.echo(f"{len(result.lrs)} steps from lr {result.lrs[0]:.3g} to {result.lrs[-1]:.3g} ({ended}); the loss "
               f"was lowest at {result.min_loss_lr:.3g} and fell fastest at {result.suggestion:.3g}")
    typer.echo(f"suggested: --lr {result.suggestion:.3g} (steepest descent; fastai's other rule, a tenth of the "
               f"minimum's rate, gives {result.min_loss_lr / 10:.3g}); plot: {path}")


def register(app: typer.Typer) -> None:
    app.command("lr-find")(lr_find_command)
