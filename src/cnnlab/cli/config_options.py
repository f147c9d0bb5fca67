"""Command-line options generated from TrainConfig's fields: a setting is declared once, in the config.

`with_config_options(names)` gives a command one option per TrainConfig field that has a help text
(`cnnlab.training.config.setting`), or per field in ``names``, next to its own parameters; the
settings the user gave arrive together as the command's ``settings`` dict (fields left out are not
in it, so a recipe or config file keeps them).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from typing import Any, Callable, Iterable, Optional, TypeVar

import typer

from cnnlab.training.config import TrainConfig

Command = TypeVar("Command", bound=Callable[..., Any])


def config_fields(names: Iterable[str] | None = None) -> list[dataclasses.Field]:
    """The TrainConfig fields that are options (those with a help text), in declaration order."""
    fields = [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("help")]
    if names is None:
        return fields
    wanted = set(names)
    unknown = wanted - {f.name for f in fields}
    if unknown:
        raise ValueError(f"TrainConfig has no command-line setting {', '.join(sorted(unknown))}")
    return [f for f in fields if f.name in wanted]


@functools.cache
def _config_hints() -> dict[str, Any]:
    """TrainConfig's field types, its string annotations evaluated once (not once per option: the
    CLI's start-up spent ~0.15 CPU s evaluating them for every field)."""
    return typing.get_type_hints(TrainConfig)


def _cli_type(f: dataclasses.Field) -> type:
    """The option's value type: ``cli_type``, or the field's type without None."""
    if f.metadata.get("cli_type"):
        return f.metadata["cli_type"]
    hint = _config_hints()[f.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        (hint,) = [t for t in typing.get_args(hint) if t is not type(None)]
    return hint


def _flags(f: dataclasses.Field, kind: type) -> tuple[str, ...]:
    if f.metadata.get("flags"):
        return tuple(f.metadata["flags"])
    flag = "--" + f.name.replace("_", "-")
    return (f"{flag}/--no-{flag[2:]}",) if kind is bool else (flag,)


def option_parameter(f: dataclasses.Field) -> inspect.Parameter:
    """One field as a keyword parameter whose default is its typer option (None: not given)."""
    kind = _cli_type(f)
    option = typer.Option(None, *_flags(f, kind), help=f.metadata["help"], show_default=False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Optional[kind])


def with_config_options(names: Iterable[str] | None = None) -> Callable[[Command], Command]:
    """Give a command TrainConfig's options (all, or ``names``) after its own parameters; the given
    ones reach it as ``settings``: {field name: value}. Whole epochs stay integers (1.0 -> 1)."""
    fields = config_fields(names)

    def decorate(command: Command) -> Command:
        hints = typing.get_type_hints(command)
        own = [p.replace(annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
               for p in inspect.signature(command).parameters.values() if p.name != "settings"]
        generated = [option_parameter(f) for f in fields]

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            settings = {f.name: values.pop(f.name) for f in fields}
            given = {k: v for k, v in settings.items() if v is not None}
            if isinstance(given.get("epochs"), float) and given["epochs"].is_integer():
                given["epochs"] = int(given["epochs"])  # whole epochs stay integers in config.yaml and results.json
            return command(**values, settings=given)

        run.__signature__ = inspect.Signature([*own, *generated], return_annotation=None)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in [*own, *generated]}
        return run  # type: ignore[return-value]

    return decorate
