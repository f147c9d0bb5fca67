"""`cnnlab train`: train a model and write a run folder (flags override --config and --recipe)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnlab.cli.config_options import with_config_options

_OPT = dict(show_default=False)


@with_config_options()
def train_command(
    model: Optional[str] = typer.Argument(None, help="Model name (see `cnnlab models`); default from the recipe/config."),
    recipe: Optional[str] = typer.Option(None, "--recipe", "-r", help="A named recipe, e.g. demo (see --list-recipes).", **_OPT),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML file of settings (e.g. RUN/config.yaml).", **_OPT),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue a stopped run from its folder.", **_OPT),
    list_recipes: bool = typer.Option(False, "--list-recipes", help="List the named recipes and exit."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved settings and where each came "
                                     "from (model default, recipe, config file, flag) and exit without training."),
    check: bool = typer.Option(False, "--check", help="Run the sanity checks (initial loss, overfit a tiny batch, "
                               "eval mode) on this configuration and exit without training."),
    settings: dict[str, Any] = {},
) -> None:
    """Train MODEL on --data and write a run folder (config, metrics, checkpoints, results, report).

    Settings, later wins: defaults < the model's defaults < --recipe < --config < flags (see
    --show-config). Ctrl-C or SIGTERM saves a checkpoint at the next step and exits; continue with
    --resume RUN. The setting flags are TrainConfig's fields (`cnnlab.training.config`).
    """
    from cnnlab.training import list_recipes as recipes
    from cnnlab.training import train

    if list_recipes:
        typer.echo("\n".join(recipes()))
        return
    if show_config:
        from cnnlab.training import describe_settings, resolve_settings

        typer.echo(describe_settings(resolve_settings(model, config=config, recipe=recipe, overrides=settings)))
        return
    if check:
        _run_checks(model, config, recipe, settings)
        return
    result = train(model, config=config, recipe=recipe, resume=resume, **settings)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _run_checks(model: str | None, config: Path | None, recipe: str | None, settings: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from cnnlab.training import resolve_config
    from cnnlab.training.sanity import check_config

    results = check_config(resolve_config(model, config=config, recipe=recipe, overrides=settings))
    table = Table("check", "result", "detail")
    for r in results:
        table.add_row(r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]", r.detail)
    Console().print(table)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
