"""`cnnlab viz ...` and the explorer on a real (tiny) training run: fastnet_small on sklearn's digits."""
from __future__ import annotations

import pytest
import typer
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from cnnlab.app.server import create_app
from cnnlab.cli import viz_cmd
from cnnlab.errors import ConfigError

from viz_support import digit_png

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import cnnlab

    folder = tmp_path_factory.mktemp("runs") / "digits-run"
    cnnlab.train("fastnet_small", "digits", epochs=1, batch_size=128, run_dir=str(folder), quiet=True, report=False)
    return folder


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("images") / "one.png"
    path.write_bytes(digit_png())
    return path


def invoke(*args: str):
    app = typer.Typer(pretty_exceptions_enable=False)
    viz_cmd.register(app)
    return CliRunner().invoke(app, list(args))


def test_viz_filters_activations_and_cam_write_pngs(run, image, tmp_path):
    outputs = {
        "filters": invoke("viz", "filters", str(run), "--out", str(tmp_path / "f.png")),
        "activations": invoke("viz", "activations", str(run), str(image), "--out", str(tmp_path / "a.png")),
        "cam": invoke("viz", "cam", str(run), str(image), "--class", "7", "--out", str(tmp_path / "c.png")),
    }
    for name, result in outputs.items():
        assert result.exit_code == 0, (name, result.output, result.exception)
    assert "explaining 7" in outputs["cam"].output
    for name in ("f", "a", "c"):
        with Image.open(tmp_path / f"{name}.png") as img:
            assert img.format == "PNG"


def test_unknown_layer_lists_the_conv_layers(run):
    result = invoke("viz", "filters", str(run), "--layer", "nope")
    assert isinstance(result.exception, ConfigError)
    assert "stem.0" in str(result.exception)


def test_non_image_file_is_a_clear_error(run, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    result = invoke("viz", "cam", str(run), str(bad))
    assert "is not an image" in str(result.exception)


def test_explorer_serves_a_real_run(run):
    client = TestClient(create_app(run.parent))
    runs = client.get("/api/runs").json()["runs"]
    assert [r["id"] for r in runs] == ["digits-run"] and runs[0]["model"] == "fastnet_small"
    body = client.post("/api/runs/digits-run/analyze", files={"image": ("one.png", digit_png(), "image/png")}).json()
    assert len(body["top"]) == 5 and abs(sum(t["prob"] for t in body["top"])) <= 1.0 + 1e-6
    assert len(body["activations"]) == len(client.get("/api/runs/digits-run").json()["conv_layers"])
