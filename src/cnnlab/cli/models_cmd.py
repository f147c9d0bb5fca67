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
    from cnnlab.errors import ConfigError
    from cnnlab.models import list_models, model_info

    names = list_models(pattern)
    if not names:
        containing, starting = list_models(f"*{pattern}*"), list_models(f"{pattern}*")
        hint = "; run `cnnlab models` for every name"
        if containing:
            hint = f"; {len(containing)} names contain it: try '*{pattern}*'" + (f" or '{pattern}*'" if starting else "")
        raise ConfigError(f"no model matches {pattern!r}: a pattern is a shell glob matched against the whole name "
                          f"('resnet*' starts with resnet, '*net*' contains net){hint}")
    table = Table("model", "family", "description")
    for name in names:
        entry = model_info(name)
        table.add_row(name, entry.family, entry.doc)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(list_models_command)
