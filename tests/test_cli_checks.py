"""Wrong or mismatched input gets a clear error or warning, never a silent result; small CLI conveniences
(--version, conv --kernel, compare at 80 columns); a predicted image of inverted polarity gets a note."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

import cnnlab
from cnnlab.cli import show_warning
from cnnlab.eval import predict
from cnnlab.eval.predict import polarity_note
from eval_support import run_cli, write_fake_run

TINY = dict(data="digits", batch_size=64, threads=1, report=False, quiet=True)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return cnnlab.train("fastnet_small", epochs=1, lr=0.05, out=str(out), name="digits", **TINY).run_dir


def write_class_folder(root, classes, size=8, value=40):
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((size, size), value, np.uint8)).save(root / name / "0.png")
    return root


# --- warnings ---------------------------------------------------------------------------------------

def test_warnings_print_as_one_cnnlab_line_without_source_code(tmp_path, capsys):
    root = write_class_folder(tmp_path / "pets", ["cat", "dog"])
    (root / "cat" / "notes.txt").write_text("not an image")
    code, out, err = run_cli(["data", "info", f"folder:{root}"], capsys)
    assert code == 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"warning: ignored 1 file(s) without an image extension in {root}: {root / 'cat' / 'notes.txt'}"]
    assert "Warning" not in err and "scan_folder" not in err


def test_the_warning_printer_is_restored_after_the_command(capsys):
    before = warnings.showwarning
    run_cli(["--version"], capsys)
    assert warnings.showwarning is before and before is not show_warning


def test_a_multi_line_warning_becomes_one_line(capsys):
    show_warning(UserWarning("first\n  second"), UserWarning, "x.py", 1)
    assert capsys.readouterr().err == "warning: first second\n"


# --- mismatched input -------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["worst", "Best", ""])
def test_an_unknown_which_is_an_error(digits_run, capsys, which):
    code, out, err = run_cli(["eval", digits_run, "--which", which], capsys)
    assert code == 2 and "choose --which best or last" in err and not out


def test_which_last_evaluates_last(digits_run, capsys):
    code, out, err = run_cli(["eval", digits_run, "--which", "last"], capsys)
    assert code == 0 and "checkpoints/last.pt" in out


def test_data_with_other_class_names_is_refused_unless_allowed(digits_run, tmp_path, capsys):
    letters = write_class_folder(tmp_path / "letters", list("abcdefghij"))
    code, out, err = run_cli(["eval", digits_run, "--data", f"folder:{letters}", "--split", "train"], capsys)
    assert code == 2 and "has the classes a, b, c, d, ..." in err and "trained on 0, 1, 2, 3, ..." in err
    assert "--allow-class-mismatch" in err and "Traceback" not in err
    code, out, err = run_cli(["eval", digits_run, "--data", f"folder:{letters}", "--split", "train",
                              "--allow-class-mismatch"], capsys)
    assert code == 0 and err.startswith("warning: dataset") and "per-class rows use the run's names" in err


def test_data_with_the_runs_class_names_is_evaluated_without_a_warning(digits_run, tmp_path, capsys):
    digits = write_class_folder(tmp_path / "digits", [str(d) for d in range(10)])
    code, out, err = run_cli(["eval", digits_run, "--data", f"folder:{digits}", "--split", "train"], capsys)
    assert code == 0 and "warning" not in err and "10 images" in out


@pytest.mark.parametrize("k", ["0", "-1", "11"])
def test_topk_outside_one_to_the_class_count_is_an_error(digits_run, tmp_path, capsys, k):
    write_class_folder(tmp_path / "img", ["x"])
    code, out, err = run_cli(["predict", digits_run, tmp_path / "img" / "x" / "0.png", "-k", k], capsys)
    assert code == 2 and f"-k {k}: the model has 10 classes; list 1 to 10" in err and "Traceback" not in err


def test_topk_defaults_to_five_or_every_class(digits_run, tmp_path):
    write_class_folder(tmp_path / "img", ["x"])
    image = tmp_path / "img" / "x" / "0.png"
    assert len(predict(digits_run, [image]).predictions[0].topk) == 5
    assert len(predict(digits_run, [image], topk=10).predictions[0].topk) == 10


def test_a_pattern_matching_no_model_says_how_patterns_work(capsys):
    code, out, err = run_cli(["models", "resnet"], capsys)
    assert code == 2 and "no model matches 'resnet'" in err and "shell glob" in err and "try '*resnet*' or 'resnet*'" in err
    code, out, err = run_cli(["models", "no-such-net"], capsys)
    assert code == 2 and "run `cnnlab models` for every name" in err
    code, out, _ = run_cli(["models", "resnet*"], capsys)
    assert code == 0 and "resnet18" in out


# --- small conveniences -----------------------------------------------------------------------------

def test_version(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out == f"cnnlab {cnnlab.__version__}\n"


def test_conv_takes_kernel_as_an_alias_of_filter(capsys):
    outputs = [run_cli(["conv", "-i", "28", flag, "5", "--json"], capsys) for flag in ("--filter", "--kernel", "-f")]
    assert all(code == 0 for code, _, _ in outputs)
    assert len({out for _, out, _ in outputs}) == 1 and json.loads(outputs[0][1])  # the same answer


def test_compare_at_80_columns_keeps_every_value_whole(tmp_path, monkeypatch, capsys):
    runs = [write_fake_run(tmp_path / f"a-long-run-name-{i}-20261207-003156", model="lenet5_relu") for i in range(2)]
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(["compare", *runs], capsys)
    assert code == 0 and "…" not in out and max(map(len, out.splitlines())) <= 80
    for run in runs:
        assert run.name in out
    assert out.count("model: lenet5_relu") == 2 and out.count("test accuracy: 81.25%") == 2
    monkeypatch.setenv("COLUMNS", "200")
    code, wide, _ = run_cli(["compare", *runs], capsys)
    assert "┃ run" in wide and "lenet5_relu" in wide  # a table when it fits


# --- polarity -----------------------------------------------------------------------------------------

def _object_image(path, background: int, ink: int):
    pixels = np.full((28, 28), background, np.uint8)
    pixels[8:20, 10:18] = ink
    Image.fromarray(pixels).save(path)
    return path


def test_a_dark_on_light_image_gets_a_polarity_note_and_invert_fixes_it(digits_run, tmp_path, capsys):
    dark_on_white = _object_image(tmp_path / "photo.png", 240, 20)
    light_on_black = _object_image(tmp_path / "scan.png", 255 - 240, 255 - 20)
    code, out, err = run_cli(["predict", digits_run, dark_on_white, light_on_black], capsys)
    assert code == 0
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "photo.png" in notes[0] and "looks dark on light" in notes[0] and "try --invert" in notes[0]
    inverted = predict(digits_run, [dark_on_white], invert_images=True).predictions[0]
    plain = predict(digits_run, [light_on_black]).predictions[0]
    assert inverted.note is None  # 255 - photo == scan here: the same prediction
    assert [c for c, _ in inverted.topk] == [c for c, _ in plain.topk]
    assert [p for _, p in inverted.topk] == pytest.approx([p for _, p in plain.topk])


@pytest.mark.parametrize("image_mean,train_mean,noted", [
    (0.85, 0.29, True),    # a photo on white, Fashion-MNIST-like training data
    (0.20, 0.85, True),    # the other way round
    (0.45, 0.29, False),   # a bit lighter, same side
    (0.85, 0.48, False),   # training data without a clear polarity (CIFAR-like)
])
def test_polarity_rule(image_mean, train_mean, noted):
    import torch

    pixels = torch.full((1, 8, 8), round(image_mean * 255), dtype=torch.uint8)
    assert (polarity_note(pixels, [train_mean]) is not None) == noted
