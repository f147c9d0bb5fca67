"""Run folders: a folder of runs stands for its one run (or its latest, with a note) wherever a run is
expected; `cnnlab runs` lists runs with their state; the explorer marks unfinished runs."""
from __future__ import annotations

import json
import os

import pytest

import cnnlab
from cnnlab.errors import CheckpointError
from cnnlab.runs import find_runs, pick_run, run_state
from eval_support import run_cli, write_fake_run
from viz_support import tiny_loader, write_run

TINY = dict(data="digits", batch_size=64, threads=1, report=False, quiet=True, lr=0.05)


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """`--out PARENT` with one finished run in it."""
    out = tmp_path_factory.mktemp("out")
    cnnlab.train("fastnet_small", epochs=1, out=str(out), **TINY)
    return out


def _age(run, seconds_ago: float):
    """Date a run's start (meta.json) ``seconds_ago``."""
    stamp = (run / "meta.json").stat().st_mtime - seconds_ago
    os.utime(run / "meta.json", (stamp, stamp))
    return run


def test_a_folder_holding_one_run_is_accepted_by_eval_report_predict_and_resume(parent, tmp_path, capsys):
    (run,) = [p for p in parent.iterdir() if p.is_dir()]
    code, out, err = run_cli(["eval", parent], capsys)
    assert code == 0 and str(run / "checkpoints" / "best.pt") in out and "note:" not in err
    code, out, err = run_cli(["report", parent], capsys)
    assert code == 0 and out.strip() == f"wrote {run / 'report.html'}"
    image = write_fake_run(tmp_path / "unused")  # any folder; predict only needs an image file
    from PIL import Image

    Image.new("L", (8, 8), 30).save(image / "x.png")
    code, out, err = run_cli(["predict", parent, image / "x.png", "--json"], capsys)
    assert code == 0 and json.loads(out)["predictions"][0]["path"].endswith("x.png")
    assert cnnlab.train(resume=parent, quiet=True, report=False).run_dir == run  # finished: re-evaluated only


def test_a_folder_of_several_runs_uses_the_latest_and_says_so(tmp_path, capsys):
    old = _age(write_fake_run(tmp_path / "runs" / "b-old"), 60)
    new = write_fake_run(tmp_path / "runs" / "a-new")
    assert find_runs(tmp_path / "runs") == [old, new]  # by start time, not by name
    assert pick_run(tmp_path / "runs") == new
    assert f"holds 2 runs; using the latest, {new}" in capsys.readouterr().err


def test_a_folder_without_runs_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no run folders"):
        pick_run(tmp_path / "empty")


def test_run_states(tmp_path):
    completed = write_fake_run(tmp_path / "done", epochs=4)
    interrupted = write_fake_run(tmp_path / "stopped", epochs=2)
    (interrupted / "results.json").unlink()
    (interrupted / "checkpoints").mkdir()
    (interrupted / "checkpoints" / "last.pt").write_bytes(b"x")
    (interrupted / "steps.csv").write_text("step,epoch,train_loss,lr\n25,2.5,0.3,0.1\n")
    (interrupted / "config.yaml").write_text("epochs: 10\n")
    never = write_fake_run(tmp_path / "never", epochs=0)
    (never / "results.json").unlink()
    done = run_state(completed)
    assert (done.state, done.epochs_done, done.best_val_acc, done.eval_acc) == ("completed", None, 0.85, 0.8125)
    stopped = run_state(interrupted)
    assert (stopped.state, stopped.epochs_done, stopped.epochs) == ("interrupted", 2.5, 10)
    assert stopped.best_val_acc == pytest.approx(0.65) and stopped.eval_acc is None  # best of metrics.csv
    assert run_state(never).state == "no checkpoint"


def test_runs_lists_model_data_state_epochs_and_accuracy(parent, tmp_path, capsys):
    code, out, _ = run_cli(["runs", parent], capsys)
    (line,) = [l for l in out.splitlines() if "fastnet_small" in l]
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    (run,) = [p for p in parent.iterdir() if p.is_dir()]
    results = json.loads((run / "results.json").read_text())
    assert cells == [run.name, "fastnet_small", "digits", "completed", "1/1", f"{results['best_val_acc']:.2%}",
                     f"{results['test_acc']:.2%} test"]
    code, out, _ = run_cli(["runs", parent, "--json"], capsys)
    assert json.loads(out)[0]["state"] == "completed"


def test_runs_of_an_empty_or_missing_folder(tmp_path, capsys):
    (tmp_path / "none").mkdir()
    code, out, _ = run_cli(["runs", tmp_path / "none"], capsys)
    assert code == 0 and out.startswith("no runs in")
    code, _, err = run_cli(["runs", tmp_path / "missing"], capsys)
    assert code == 2 and "no folder" in err


def test_the_explorer_marks_interrupted_runs(tmp_path):
    from fastapi.testclient import TestClient

    from cnnlab.app.server import create_app

    write_run(tmp_path / "runs" / "finished")
    (write_run(tmp_path / "runs" / "stopped") / "results.json").unlink()
    client = TestClient(create_app(tmp_path / "runs", loader=tiny_loader))
    states = {r["id"]: r["state"] for r in client.get("/api/runs").json()["runs"]}
    assert states == {"finished": "completed", "stopped": "interrupted"}
    assert client.get("/api/runs/stopped").json()["state"] == "interrupted"  # shown: test_app_browser.py


def test_the_explorer_notes_an_image_of_inverted_polarity(tmp_path):
    import io

    from fastapi.testclient import TestClient
    from PIL import Image

    from cnnlab.app.server import create_app

    write_run(tmp_path / "runs" / "r")  # trained on images of mean 0.3: light on dark
    client = TestClient(create_app(tmp_path / "runs", loader=tiny_loader))
    buffer = io.BytesIO()
    Image.new("L", (20, 20), 235).save(buffer, format="PNG")
    answer = client.post("/api/runs/r/analyze", files={"image": ("x.png", buffer.getvalue(), "image/png")}).json()
    assert "looks dark on light" in answer["polarity_note"]
    inverted = client.post("/api/runs/r/analyze", files={"image": ("x.png", buffer.getvalue(), "image/png")},
                           data={"invert": "true"}).json()
    assert inverted["polarity_note"] is None


def test_export_and_load_model_take_a_folder_of_runs_too(parent, tmp_path):
    from cnnlab.export import export_run
    from cnnlab.training import load_model

    (run,) = [p for p in parent.iterdir() if p.is_dir()]
    assert load_model(parent).path == run / "checkpoints" / "best.pt"
    assert export_run(parent, format="safetensors").path == run / "export" / "fastnet_small.safetensors"
