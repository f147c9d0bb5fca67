"""`cnnlab models`: the zoo as a table, filtered by a shell glob."""
from __future__ import annotations

from typer.testing import CliRunner

from cnnlab.cli import _register_all, app
from cnnlab.models import list_models


def run(*args: str):
    _register_all()
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_models_lists_every_registered_model_with_its_family():
    result = run("models")
    assert result.exit_code == 0, result.output
    for name in list_models():
        if not name.startswith("_"):
            assert name in result.output
    assert "│ resnet18 " in result.output and "│ resnet " in result.output


def test_models_pattern_filters_by_glob():
    result = run("models", "densenet*")
    assert result.exit_code == 0
    assert "densenet121" in result.output and "resnet18" not in result.output
