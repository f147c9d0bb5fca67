"""Parsing image sizes written on the command line: ``3x224x224``, ``32x32``, ``32``."""
from __future__ import annotations

from cnnlab.errors import ConfigError

__all__ = ["parse_size"]

_FORMS = {1: ("N", "32"), 2: ("HxW", "32x32"), 3: ("CxHxW", "3x32x32")}


def parse_size(text: str, *, lengths: tuple[int, ...] = (3,), what: str = "size") -> tuple[int, ...]:
    """``"3x224x224"`` -> ``(3, 224, 224)``; ``lengths`` lists the accepted numbers of values (1 to 3).

    Raises ConfigError naming the expected form when ``text`` is not such a size.
    """
    parts = text.strip().lower().replace("×", "x").replace(",", "x").split("x")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) not in lengths or any(v < 1 for v in values):
        expected = " or ".join(_FORMS[n][0] for n in lengths)
        examples = ", ".join(_FORMS[n][1] for n in lengths)
        raise ConfigError(f"{what} {text!r} is not {expected} with positive integers (e.g. {examples})")
    return values
