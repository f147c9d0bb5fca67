"""`cnnlab eval | predict | report | compare` on run folders that need no training."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval_support import run_cli, write_fake_run


@pytest.mark.parametrize("command", ["eval", "predict", "report"])
def test_missing_run_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture, command: str) -> None:
    args = [command, tmp_path / "nope"] + ([tmp_path] if command == "predict" else [])
    code, out, err = run_cli(args, capsys)
    assert code == 2 and "no run or checkpoint" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_run_without_checkpoint_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture, command: str) -> None:
    run = write_fake_run(tmp_path / "run")
    code, _, err = run_cli([command, run] + ([tmp_path] if command == "predict" else []), capsys)
    assert code == 2 and "has no checkpoint" in err


def test_an_unknown_tta_level_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(["eval", tmp_path / "nope", "--tta", "mirror"], capsys)
    assert code == 2 and "choose one of: none, flip, translate, grid" in err and "Traceback" not in err


def test_feature_run_cannot_be_evaluated(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = write_fake_run(tmp_path / "feat", kind="features", epochs=0)
    code, _, err = run_cli(["eval", run], capsys)
    assert code == 2 and "feature run" in err


def test_report_of_a_run_without_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = write_fake_run(tmp_path / "run")
    code, out, _ = run_cli(["report", run], capsys)
    assert code == 0 and "report.html" in out
    assert (run / "figures" / "learning_curves.png").exists()


def test_compare_json_and_html(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = write_fake_run(tmp_path / "a")
    f = write_fake_run(tmp_path / "f", kind="features", epochs=0, model="hog+svm")
    code, out, _ = run_cli(["compare", a, f, "--json", "--out", tmp_path / "cmp"], capsys)
    assert code == 0
    rows = json.loads(out)["runs"]
    assert [r["kind"] for r in rows] == ["cnn", "features"] and rows[1]["model"] == "hog+svm"
    assert (tmp_path / "cmp" / "compare.html").exists()
    code, out, _ = run_cli(["compare", a, f], capsys)
    assert code == 0 and "hog+svm" in out and "81.25%" in out
