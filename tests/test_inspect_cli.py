"""`cnnlab summary` and `cnnlab conv` on the command line."""
from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cnnlab.cli import inspect_cmd, main
from cnnlab.models import create_model


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # keeps the commands as sub-commands
        """test app"""

    inspect_cmd.register(app)
    return app


runner = CliRunner()


def test_summary_json_matches_the_model(app):
    result = runner.invoke(app, ["summary", "linear", "--input", "1x28x28", "--classes", "10", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    model = create_model("linear", num_classes=10, in_channels=1, input_size=(28, 28))
    assert data["totals"]["params"] == sum(p.numel() for p in model.parameters()) == 28 * 28 * 10 + 10
    assert data["totals"]["macs"] == 28 * 28 * 10
    assert data["totals"]["output_shape"] == [10]
    assert data["rows"][0]["type"] == "Linear"


def test_summary_table_on_cpu(app):
    result = runner.invoke(app, ["summary", "linear", "-i", "3x32x32", "-n", "5", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "Linear" in result.output and "15,365" in result.output  # 3*32*32*5 + 5


@pytest.mark.parametrize("bad", ["1x28", "28", "axbxc", "1x0x28", "1x28x28x2"])
def test_summary_bad_input_is_a_usage_error(app, bad):
    result = runner.invoke(app, ["summary", "linear", "--input", bad])
    assert result.exit_code == 2
    assert "CxHxW" in result.output


def test_unknown_model_exits_2_with_a_hint(capsys):
    with pytest.raises(SystemExit) as info:
        main(["summary", "no_such_net", "--input", "3x32x32"])
    assert info.value.code == 2
    assert "cnnlab models" in capsys.readouterr().err


@pytest.mark.parametrize("stride, shape", [("1", "1x5x5"), ("2", "1x3x3")])
def test_conv_7x7(app, stride, shape):
    result = runner.invoke(app, ["conv", "--input", "7x7", "--filter", "3", "--stride", stride])
    assert result.exit_code == 0, result.output
    assert f"-> {shape}" in result.output


def test_conv_stride_that_does_not_fit_exits_2_with_a_suggestion(capsys):
    with pytest.raises(SystemExit) as info:
        main(["conv", "-i", "7", "-f", "3", "-s", "3"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "not an integer" in err and "padding 1 (output 3)" in err and "Traceback" not in err


def test_conv_floor_rounds_down_like_pytorch(app):
    result = runner.invoke(app, ["conv", "-i", "7", "-f", "3", "-s", "3", "--floor", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["output_shape"] == [1, 2, 2]


def test_conv_json_cifar_example(app):
    result = runner.invoke(app, ["conv", "-i", "3x32x32", "-f", "5", "-p", "2", "-k", "10", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["output_shape"] == [10, 32, 32] and data["params"] == 760
    assert data["macs"] == 5 * 5 * 3 * 10 * 32 * 32 and data["flops"] == 2 * data["macs"]


def test_conv_stack_pool_and_separable(app):
    stacked = runner.invoke(app, ["conv", "-i", "1x32x32", "-f", "3", "-p", "same", "-l", "4", "--json"])
    assert json.loads(stacked.output)["receptive_field"] == {"size": 9, "jump": 1}
    pooled = runner.invoke(app, ["conv", "-i", "64x56x56", "-f", "2", "--pool", "max"])
    assert pooled.exit_code == 0 and "64x28x28" in pooled.output and "params 0" in pooled.output
    separable = runner.invoke(app, ["conv", "-i", "32x16x16", "-f", "3", "-p", "1", "-k", "64", "--separable"])
    assert separable.exit_code == 0 and "depthwise" in separable.output


def test_conv_bad_options_exit_2(app):
    assert runner.invoke(app, ["conv", "-i", "7", "-f", "0"]).exit_code == 2
    assert runner.invoke(app, ["conv", "-i", "7", "-f", "3", "--pool", "median"]).exit_code == 2
    assert runner.invoke(app, ["conv", "-i", "7x7x7x7", "-f", "3"]).exit_code == 2
