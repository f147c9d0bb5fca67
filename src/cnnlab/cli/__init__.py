"""The `cnnlab` command line: one Typer app; each area registers its commands in its own module."""
from __future__ import annotations

import gc
import importlib
import os
import sys
import warnings

# Idle OpenMP threads spin briefly, then sleep. A training step runs hundreds of short parallel
# regions: threads that sleep at once (OMP_WAIT_POLICY=PASSIVE) wake too late for each, and
# libgomp's default 300,000-round spin starves a busy neighbour instead. Measured for the 16-32-64
# AirNet on 2 cores (docs/recipes.md): alone, 10,000 rounds train 1.3x faster than PASSIVE and as
# fast as the default; two trainings side by side run at 1,700 images/s each, against 1,000 with
# the default and 3,000 with PASSIVE. KMP_BLOCKTIME (ms) is the same knob in LLVM/Intel OpenMP.
# A policy the user set wins. Must be set before torch is imported, which no command module does
# at import time.
if not {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"} & os.environ.keys():
    os.environ.update(GOMP_SPINCOUNT="10000", KMP_BLOCKTIME="1")

import typer

from cnnlab.allocator import keep_freed_memory
from cnnlab.errors import CnnlabError

keep_freed_memory()  # a training step's tensors reuse mapped pages instead of faulting them in again

app = typer.Typer(
    name="cnnlab",
    help="A lab for convolutional neural networks: build, inspect, train, evaluate and explain CNNs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _print_version(asked: bool) -> None:
    if asked:
        from cnnlab import __version__

        typer.echo(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print cnnlab's version and exit."),
) -> None:
    """A lab for convolutional neural networks: build, inspect, train, evaluate and explain CNNs."""


# Each module defines `register(app: typer.Typer) -> None`.
COMMAND_MODULES = [
    "cnnlab.cli.models_cmd",
    "cnnlab.cli.data_cmd",
    "cnnlab.cli.inspect_cmd",
    "cnnlab.cli.eval_cmd",
    "cnnlab.cli.runs_cmd",
    "cnnlab.cli.viz_cmd",
    "cnnlab.cli.features_cmd",
    "cnnlab.cli.app_cmd",
    "cnnlab.cli.scratch_cmd",
    "cnnlab.cli.explain_cmd",
    "cnnlab.cli.train_cmd",
    "cnnlab.cli.lr_find_cmd",
    "cnnlab.cli.export_cmd",
    "cnnlab.cli.bench_cmd",
    "cnnlab.cli.course_cmd",
]


_registered = False


def _register_all() -> None:
    """Import each command module once (lazily, so `import cnnlab.cli` stays cheap)."""
    global _registered
    if _registered:
        return
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    _registered = True


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: object = None, line: str | None = None) -> None:
    """A Python warning as one line, ``warning: MESSAGE`` (Python's own format adds a line of source code)."""
    typer.secho(f"warning: {' '.join(str(message).split())}", err=True, fg=typer.colors.YELLOW)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors print one clear message and exit 2, never a traceback.

    Typer/click handle usage errors (unknown flag or command) themselves in standalone mode.
    """
    _register_all()
    try:
        with warnings.catch_warnings():  # restores Python's warning printer when an in-process caller returns
            warnings.showwarning = show_warning
            app(args=argv, prog_name="cnnlab")
    except CnnlabError as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    finally:
        if argv is None:  # the `cnnlab` program itself, which ends next (callers in-process pass argv)
            # spare the interpreter's exit its garbage collections over every object torch loaded:
            # about 0.7 s of a training run's exit (docs/recipes.md)
            gc.freeze()
