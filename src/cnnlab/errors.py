"""Errors cnnlab raises for bad input: each message names the problem and the fix.

The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations


class CnnlabError(Exception):
    """Base class: a user-facing error whose message says what went wrong and how to fix it."""


class ConfigError(CnnlabError, ValueError):
    """A setting, flag or argument that cannot work (wrong value, incompatible combination)."""


class ShapeError(CnnlabError, ValueError):
    """Sizes that do not fit: a convolution whose output is not an integer, weights of another shape."""


class DataError(CnnlabError):
    """A dataset that cannot be found, downloaded, verified or decoded."""


class CheckpointError(CnnlabError):
    """A checkpoint or weights file that is missing, corrupt, unsafe or of another model."""
