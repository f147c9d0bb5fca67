"""`cnnlab course-table`: every row and seed trained once, finished runs kept, the table and the chart written."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnnlab.bench import course
from cnnlab.errors import ConfigError
from cnnlab.models import create_model
from cnnlab.training import list_recipes, resolve_config
from cnnlab.training.config import load_yaml, recipe_path

ACCURACY = {"course-lenet": 0.85, "course-vgg": 0.91}  # the fake runs: LeNet beats the book, VGG does not


def fake_runner(calls: list[list[str]]):
    """Stands in for `cnnlab train --recipe R --seed S --run-dir D`: writes the files a finished run has."""
    def run(argv: list[str], log: Path) -> float:
        calls.append(argv)
        recipe, seed, run_dir = (argv[argv.index(flag) + 1] for flag in ("--recipe", "--seed", "--run-dir"))
        run = Path(run_dir)
        run.mkdir(parents=True)
        (run / "results.json").write_text(json.dumps(
            {"test_acc": ACCURACY[recipe] + int(seed) / 1000, "train_flops": 2.5e12, "precision": "fp32"}))
        (run / "env.json").write_text(json.dumps({"torch": "2.14.1+cpu", "started": "2026-12-07T03:00:00+0000",
                                                  "command": ["cnnlab", *argv],
                                                  "cpu": {"model": "AMD EPYC", "flags": ["avx2"]}, "cpu_count": 2}))
        (run / "config.yaml").write_text(f"seed: {seed}\n")
        log.write_text("done\n")
        return 61.0 + int(seed)
    return run


def test_every_row_and_seed_runs_once_and_the_table_compares_with_the_book(tmp_path) -> None:
    calls: list[list[str]] = []
    table = course.run_course_table(tmp_path, seeds=[0, 1], recipes=["course-vgg", "course-lenet"],
                                    runner=fake_runner(calls), say=lambda line: None)
    assert [(a[2], a[4]) for a in calls] == [("course-lenet", "0"), ("course-lenet", "1"),
                                            ("course-vgg", "0"), ("course-vgg", "1")]  # the book's order
    lines = table.read_text().splitlines()
    lenet = next(line for line in lines if "`course-lenet`" in line)
    vgg = next(line for line in lines if "`course-vgg`" in line)
    assert "| 0.779 | 0.8500 | 0.8510 | yes | 2.5 T | 1 min 01 s, 1 min 02 s" in lenet
    assert "| 0.920 | 0.9100 | 0.9110 | **no** |" in vgg
    assert "AMD EPYC, 2 vCPUs (avx2)" in table.read_text()
    png = tmp_path / "course.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(course.read_runs(tmp_path / "runs.csv")) == 4

    again: list[list[str]] = []  # a second call continues: the recorded runs are not trained again
    course.run_course_table(tmp_path, seeds=[0, 1, 2], recipes=["course-lenet"], runner=fake_runner(again),
                            say=lambda line: None)
    assert [(a[2], a[4]) for a in again] == [("course-lenet", "2")]

    course.run_course_table(tmp_path, seeds=[0, 1, 2, 3], runner=fake_runner(again), say=lambda line: None,
                            train=False)  # the table of what ran: every row listed, no run started
    assert len(again) == 1 and "| `course-densenet` | 0.885 | - | - | - | - | - |" in (tmp_path / "course.md").read_text()


def test_the_cells_follow_the_header_and_leave_unrun_rows_empty() -> None:
    runs = [{"recipe": "course-lenet", "seed": "1", "test_acc": "0.7500", "wall_time_s": "61.0", "train_flops": "",
             "cpu_model": "AMD EPYC, 2 vCPUs", "cpu_flags": "avx2", "precision": "fp32", "date": "2026-12-07",
             "load": "0.5"}]
    rows = course.pick_rows(["course-lenet", "course-vgg"])
    header, cells = course.table_header([0, 1]), course.table_cells(rows, runs, [0, 1])
    assert [dict(zip(header, c)) for c in cells] == [
        {"network": "LeNet", "recipe": "`course-lenet`", "book": "0.779", "ours, seed 0": "-", "ours, seed 1": "0.7500",
         "beats the book": "**no**", "train FLOPs": "-", "wall time per seed": "1 min 01 s"},
        {"network": "VGG", "recipe": "`course-vgg`", "book": "0.920", "ours, seed 0": "-", "ours, seed 1": "-",
         "beats the book": "-", "train FLOPs": "-", "wall time per seed": "-"}]
    assert course.table_footnote(runs).startswith("CPU: AMD EPYC, 2 vCPUs (avx2). Date: 2026-12-07. Precision: fp32.")


def test_train_args_reach_every_run(tmp_path) -> None:
    calls: list[list[str]] = []
    course.run_course_table(tmp_path, seeds=[3], recipes=["course-lenet"], train_args=["--epochs", "0.1"],
                            runner=fake_runner(calls), say=lambda line: None)
    assert calls[0][-2:] == ["--epochs", "0.1"]


def test_an_unknown_row_is_named() -> None:
    with pytest.raises(ConfigError, match="no course row course-lenett"):
        course.pick_rows(["course-lenett"])


def test_every_row_is_a_recipe_on_fashion_mnist_at_28_pixels() -> None:
    assert {row.recipe for row in course.COURSE_ROWS} <= set(list_recipes())
    for row in course.COURSE_ROWS:
        settings = load_yaml(recipe_path(row.recipe))
        cfg = resolve_config(recipe=row.recipe)
        assert {key: cfg.to_dict()[key] for key in settings} == settings, row.recipe  # none overridden
        assert (cfg.data, cfg.image_size) == ("fashion-mnist", None), row.recipe
        assert cfg.precision == ("fp32" if row.recipe == "d2l-lenet" else "auto"), row.recipe  # fp32 on AVX2 CPUs
        model = create_model(cfg.model, num_classes=10, in_channels=1, input_size=28, **cfg.model_kwargs)
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_the_command_takes_several_seeds_after_one_option(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cnnlab.cli import _register_all, app

    _register_all()
    calls: list[list[str]] = []
    monkeypatch.setattr(course, "run_subprocess", fake_runner(calls))
    result = CliRunner().invoke(app, ["course-table", "--seeds", "0", "1", "--out", str(tmp_path),
                                      "--recipe", "course-lenet"])
    assert result.exit_code == 0, result.output
    assert [a[4] for a in calls] == ["0", "1"]
    assert "| LeNet | `course-lenet` | 0.779 | 0.8500 | 0.8510 | yes |" in result.output


def test_a_run_the_hypervisor_slowed_is_marked_under_load(monkeypatch) -> None:
    run = {"recipe": "course-lenet", "seed": "0", "test_acc": "0.8500", "wall_time_s": "60.0", "train_flops": "",
           "cpu_model": "AMD EPYC, 2 vCPUs", "cpu_flags": "avx2", "precision": "fp32", "date": "2026-12-07",
           "load": "0.5"}
    monkeypatch.setattr(course.os, "cpu_count", lambda: 2)
    rows = course.pick_rows(["course-lenet"])
    assert course.table_cells(rows, [{**run, "steal": "0.010"}], [0])[0][-1] == "1 min 00 s"
    assert course.table_cells(rows, [{**run, "steal": "0.200"}], [0])[0][-1] == "1 min 00 s (under load)"
    assert course.steal_share(100.0, 130.0, 60.0) == pytest.approx(0.25)  # 30 s of 2 x 60 CPU-seconds
    assert course.steal_share(None, 130.0, 60.0) is None


def test_the_steal_counter_reads_proc_stat() -> None:
    from cnnlab.hardware import cpu_steal_seconds

    steal = cpu_steal_seconds()
    assert steal is None or steal >= 0.0
