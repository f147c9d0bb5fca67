"""README.md's results table is generated from results/recipes.csv (benchmarks/results_table.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def results_table():
    spec = importlib.util.spec_from_file_location("results_table", ROOT / "benchmarks" / "results_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_table_matches_the_csv(results_table) -> None:
    assert results_table.main(["--check"]) == 0, "run: python benchmarks/results_table.py"


def row(results_table, **fields: str) -> dict[str, str]:
    base = dict(recipe="r", seed="0", test_acc="0.9", wall_time_s="10", train_flops="", cpu_model="cpu A",
                cpu_flags="", precision="fp32", torch="2.14.1", date="2026-12-01", command="cnnlab train --recipe r --seed 0")
    assert set(base) == set(results_table.COLUMNS)
    return {**base, **fields}


def test_groups_per_recipe_cpu_and_precision(results_table) -> None:
    rows = [row(results_table, seed="0", test_acc="0.90", wall_time_s="10"),
            row(results_table, seed="1", test_acc="0.92", wall_time_s="30", command="cnnlab train --recipe r --seed 1"),
            row(results_table, seed="2", test_acc="0.94", wall_time_s="20", train_flops="3e12"),
            row(results_table, cpu_model="cpu B", wall_time_s="75", date="2026-12-02")]
    lines = results_table.render_table(rows).splitlines()[2:]
    assert len(lines) == 2
    a, b = (line.split(" | ") for line in lines)
    assert a[1:5] == ["92.00% (90.00%)", "20.0 s", "3 (0, 1, 2)", "3.0 T"]
    assert a[-1] == "`cnnlab train --recipe r --seed 0` |"        # runs that differ only by seed: one command
    assert b[1:6] == ["90.00% (90.00%)", "1 min 15 s", "1 (0)", "-", "cpu B"]


def test_the_readme_is_rewritten_between_the_markers_only(results_table) -> None:
    text = f"intro\n{results_table.START}\nold table\n{results_table.END}\nafter\n"
    assert results_table.updated_readme(text, "T") == f"intro\n{results_table.START}\nT\n{results_table.END}\nafter\n"
    with pytest.raises(ValueError, match="results:start"):
        results_table.updated_readme("no markers", "T")


def fake_run(tmp_path: Path) -> Path:
    import json

    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "results.json").write_text(json.dumps({"test_acc": 0.91234, "wall_time_s": 12.5, "precision": "bf16"}))
    (tmp_path / "env.json").write_text(json.dumps({"torch": "2.14.1+cpu", "started": "2026-12-03T01:02:03+0000",
                                                   "command": ["cnnlab", "train", "--recipe", "fashion-mnist-90", "--seed", "1"]}))
    (tmp_path / "config.yaml").write_text("seed: 1\n")
    return tmp_path


def test_a_run_folder_becomes_a_row(results_table, tmp_path) -> None:
    r = results_table.run_row(fake_run(tmp_path), 18.2, None)
    assert set(r) == set(results_table.COLUMNS)
    assert (r["recipe"], r["seed"], r["test_acc"], r["wall_time_s"], r["torch"], r["date"]) == \
        ("fashion-mnist-90", "1", "0.9123", "18.20", "2.14.1", "2026-12-03")
    assert r["command"] == "cnnlab train --recipe fashion-mnist-90 --seed 1"


def test_add_appends_the_row_and_rewrites_the_readme(results_table, tmp_path, monkeypatch) -> None:
    csv_path, readme = tmp_path / "recipes.csv", tmp_path / "README.md"
    csv_path.write_text((ROOT / "results" / "recipes.csv").read_text())
    readme.write_text(f"x\n{results_table.START}\n{results_table.END}\n")
    monkeypatch.setattr(results_table, "CSV_PATH", csv_path)
    monkeypatch.setattr(results_table, "README", readme)
    assert results_table.main([]) == 0
    lines_before = readme.read_text().count("`fashion-mnist-90`")
    assert results_table.main(["add", str(fake_run(tmp_path / "run")), "--wall-time", "21.3"]) == 0
    assert results_table.read_rows(csv_path)[-1]["wall_time_s"] == "21.30"
    assert results_table.main(["--check"]) == 0
    assert readme.read_text().count("`fashion-mnist-90`") == lines_before + 1   # its own line: another CPU


def test_the_row_names_the_cpu_the_run_recorded(results_table, tmp_path) -> None:
    import json

    run = fake_run(tmp_path)
    env = json.loads((run / "env.json").read_text())
    env.update(cpu={"model": "AMD EPYC 7B13", "flags": ["avx2", "fma"]}, cpu_count=2)
    (run / "env.json").write_text(json.dumps(env))
    (run / "results.json").write_text(json.dumps({"test_acc": 0.9, "wall_time_s": 30.0, "precision": "fp32",
                                                  "train_flops": 1.6e12}))
    row = results_table.run_row(run, None, None)
    assert (row["cpu_model"], row["cpu_flags"], row["train_flops"]) == ("AMD EPYC 7B13, 2 vCPUs", "avx2", "1600000000000")
