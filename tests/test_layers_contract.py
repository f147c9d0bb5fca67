"""The package's layers (docs/design.md, "Layers"), as pyproject.toml's import-linter contracts state
them: no module imports a layer above its own, and no package's modules import each other in a circle
(function-level imports count too)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(capsys):
    pytest.importorskip("importlinter", reason="pip install import-linter")
    from importlinter import configuration
    from importlinter.application import use_cases

    configuration.configure()  # what the lint-imports command sets up first
    kept = use_cases.lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    assert kept, capsys.readouterr().out  # the report names each import that breaks a contract


def test_the_design_document_shows_the_contracts_layers():
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    design = (ROOT / "docs" / "design.md").read_text().replace("\\|", "|")  # table cells escape the bar
    for layer in layers:
        assert f"`{layer}`" in design, f"docs/design.md does not show the layer {layer}"
