"""`cnnlab runs`: the run folders in a folder, with model, data, state, epochs and accuracy."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cnnlab.cli.output import print_table

HEADER = ["run", "model", "data", "state", "epochs", "best val", "final"]


def _percent(value: float | None) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else ""


def _epochs(done: float | None, planned: float | None) -> str:
    if done is None and planned is None:
        return ""
    return f"{'?' if done is None else f'{done:.3g}'}/{'?' if planned is None else f'{planned:g}'}"


def runs_command(
    folder: Path = typer.Argument(Path("runs"), help="A folder of run folders (train's --out), or one run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the runs in FOLDER (and one level of sub-folders), oldest first: model, data, state
    (completed, running, interrupted, no checkpoint), epochs done of planned, best validation and final accuracy."""
    from cnnlab.errors import ConfigError
    from cnnlab.runs import find_runs, run_state

    if not folder.is_dir():
        raise ConfigError(f"no folder {folder}: pass the folder that holds run folders (`cnnlab train --out`, default runs)")
    states = [run_state(path) for path in find_runs(folder)]
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in states], indent=2))
        return
    if not states:
        typer.echo(f"no runs in {folder}: `cnnlab train MODEL --data DATA --out {folder}` writes one")
        return
    rows = [[s.path.relative_to(folder).as_posix() if s.path != folder else s.path.name, s.model, s.dataset, s.state,
             _epochs(s.epochs_done, s.epochs), _percent(s.best_val_acc),
             f"{_percent(s.eval_acc)} {s.eval_split}" if s.eval_acc is not None else ""] for s in states]
    print_table(HEADER, rows)


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_command)
