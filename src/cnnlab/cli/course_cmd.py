"""`cnnlab course-table`: train the course's networks (one recipe per row of the book's table) and tabulate them."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def course_table_command(
    ctx: typer.Context,
    seeds: List[int] = typer.Option([0, 1], "--seeds", help="Seeds to train each row with: --seeds 0 1."),
    out: Path = typer.Option(Path("results/course"), "--out", "-o", help="Folder of runs.csv, course.md, course.png and the run folders."),
    recipe: Optional[List[str]] = typer.Option(None, "--recipe", "-r", help="Only this row's recipe (repeatable); default: every row."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Override every recipe's epochs (a quick smoke test, not the table)."),
    table_only: bool = typer.Option(False, "--table-only", help="Only write the table and chart of the runs in OUT/runs.csv; train nothing."),
) -> None:
    """Train each course recipe for each seed, then write OUT/course.md (ours vs the book) and OUT/course.png.

    Runs already recorded in OUT/runs.csv are kept: an interrupted table continues where it stopped.
    """
    from cnnlab.bench.course import run_course_table
    from cnnlab.errors import ConfigError

    extra = list(ctx.args)  # click takes one value per option: the seeds after the first arrive here
    if not all(a.isdigit() for a in extra):
        raise ConfigError(f"unexpected argument(s) {' '.join(extra)}: --seeds takes whole numbers, e.g. --seeds 0 1")
    seeds = [*seeds, *map(int, extra)]
    train_args = ["--epochs", str(epochs)] if epochs is not None else []
    table = run_course_table(out, seeds=seeds, recipes=recipe or (), train_args=train_args,
                             say=lambda line: typer.echo(line, err=True), train=not table_only)
    typer.echo(table.read_text())
    typer.echo(f"table: {table}\nchart: {table.with_suffix('.png')}")


def register(app: typer.Typer) -> None:
    app.command("course-table", context_settings={"allow_extra_args": True})(course_table_command)
