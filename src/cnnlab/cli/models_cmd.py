"""`cnnlab models`: list the architecture zoo."""
from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console
from rich.table import Table


def list_models_command(
    pattern: Optional[str] = typer.Argument(None, help="Shell glob to filter names, e.g. 'resnet*'."),
) -> None:
    """List the registered models with their family and a one-line description."""
    from cnnlab.models import list_models, model_info

    table = Table("model", "family", "description")
    for name in list_models(pattern):
        entry = model_info(name)
        table.add_row(name, entry.family, entry.doc)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(list_models_command)
