"""Your own image folders end to end: an ImageNet-style train/ + val/ layout without test/, and a
small flat folder of two classes. Both train, evaluate and report; what was chosen is said."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import cnnlab
from eval_support import run_cli

TINY = dict(epochs=2, lr=0.05, threads=1, quiet=True)


def write_images(folder, per_class: int, seed: int, classes=("dark", "light")) -> None:
    """16x16 gray images whose class shows in their brightness, so a tiny run learns them."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (16, 16)) + 150 * c
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name / f"{i}.png")


@pytest.fixture(scope="module")
def imagenet_run(tmp_path_factory):
    """A run on train/ + val/ (no test/): 2 classes of 12 training and 4 validation images."""
    root = tmp_path_factory.mktemp("layout") / "pets"
    write_images(root / "train", 12, seed=0)
    write_images(root / "val", 4, seed=1)
    out = tmp_path_factory.mktemp("runs")
    result = cnnlab.train("fastnet_small", data=f"folder:{root}", batch_size=8, out=str(out), report=True, **TINY)
    return result


def test_a_train_val_layout_evaluates_the_validation_split_and_says_so(imagenet_run, capsys):
    results = json.loads((imagenet_run.run_dir / "results.json").read_text())
    assert results["test_acc"] is None and results["eval_split"] == "val"
    assert results["eval_acc"] == pytest.approx(results["best_val_acc"])  # best.pt on the split that chose it
    html = (imagenet_run.run_dir / "report.html").read_text()
    assert "has no test split: the validation split was evaluated" in html.split("</title>")[0]
    code, out, err = run_cli(["eval", imagenet_run.run_dir], capsys)
    assert code == 0, err
    first = out.splitlines()[0]
    assert "/ val (" in first and "has no test split" in first and "8 images" in first


def test_a_train_val_layout_prints_the_validation_figure_at_the_end(tmp_path, capsys):
    root = tmp_path / "pets"
    write_images(root / "train", 6, seed=0)
    write_images(root / "val", 2, seed=1)
    cnnlab.train("fastnet_small", data=f"folder:{root}", batch_size=4, out=str(tmp_path / "runs"), report=False, **TINY)
    assert "(no test split)" in capsys.readouterr().out


def test_a_small_flat_folder_trains_evaluates_and_reports(tmp_path, capsys):
    root = tmp_path / "two-classes"
    write_images(root, 20, seed=3)
    result = cnnlab.train("fastnet_small", data=f"folder:{root}", out=str(tmp_path / "runs"), report=True, **TINY)
    out = capsys.readouterr().out
    assert "held out 4 validation and 4 test images of 40" in out
    assert "batch size 256 is more than the 32 training images per process" in out and "using 32" in out
    results = json.loads((result.run_dir / "results.json").read_text())
    assert result.status == "completed" and results["eval_split"] == "test" and results["test_acc"] is not None
    assert (result.run_dir / "report.html").is_file()
    assert result.run_dir.name.startswith("fastnet_small-two-classes-")  # the folder's base name, not its path
    code, out, err = run_cli(["eval", result.run_dir], capsys)
    assert code == 0 and "/ test: 4 images" in out


def test_an_explicit_batch_size_that_fits_is_kept(tmp_path, capsys):
    root = tmp_path / "pets"
    write_images(root, 20, seed=3)
    cnnlab.train("fastnet_small", data=f"folder:{root}", batch_size=16, out=str(tmp_path / "runs"), report=False, **TINY)
    assert "batch size" not in capsys.readouterr().out


def test_a_kaggle_label_csv_trains_and_evaluates(tmp_path, capsys):
    write_images(tmp_path / "kaggle" / "train", 10, seed=4)
    images = sorted((tmp_path / "kaggle" / "train").rglob("*.png"))
    rows = ["id,label"]
    for i, image in enumerate(images):  # flatten to Kaggle's train/<id>.png + train.csv
        image.rename(tmp_path / "kaggle" / "train" / f"{i}.png")
        rows.append(f"{i},{image.parent.name}")
    (tmp_path / "kaggle" / "train.csv").write_text("\n".join(rows) + "\n")
    result = cnnlab.train("fastnet_small", data=f"folder:{tmp_path / 'kaggle' / 'train.csv'}", batch_size=8,
                          out=str(tmp_path / "runs"), report=False, **TINY)
    assert result.status == "completed" and result.run_dir.name.startswith("fastnet_small-kaggle-")
    assert "held out 2 validation and 2 test images of 20" in capsys.readouterr().out
    code, out, err = run_cli(["eval", result.run_dir], capsys)
    assert code == 0 and "/ test: 2 images" in out


def test_a_run_without_validation_or_test_split_says_there_is_nothing_to_evaluate(tmp_path, capsys):
    write_images(tmp_path / "pets", 6, seed=5)
    result = cnnlab.train("fastnet_small", data=f"folder:{tmp_path / 'pets'}", batch_size=4, val_fraction=0,
                          out=str(tmp_path / "runs"), report=False, **TINY)
    assert (result.results["eval_split"], result.results["eval_acc"], result.results["test_acc"]) == (None, None, None)
    assert "no test split" in capsys.readouterr().out
