"""`cnnlab data list|info|download` through the real entry point (errors exit 2 without a traceback)."""
from __future__ import annotations

import pytest

from cnnlab.cli import main
from test_data_formats import serve_files_from, write_idx_dataset


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_data_list_shows_every_dataset_and_where_files_are(isolated, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one table row per line
    write_idx_dataset(isolated / "d" / "kmnist")
    code, out, _ = run(capsys, "data", "list", "--data-dir", str(isolated / "d"))
    assert code == 0
    for name in ("fashion-mnist", "mnist", "kmnist", "cifar10", "cifar100", "svhn", "digits", "folder:PATH"):
        assert name in out
    assert "missing" in out and "bundled" in out
    kmnist_row = next(line for line in out.splitlines() if " kmnist " in line)
    assert str(isolated / "d" / "kmnist") in kmnist_row


def test_data_info(isolated, capsys):
    code, out, _ = run(capsys, "data", "info", "fashion-mnist")
    assert code == 0
    assert "Ankle boot" in out and "train-images-idx3-ubyte.gz" in out and "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in out
    assert "$CNNLAB_DATA: (not set)" in out


def test_data_download_offline_is_a_clean_error(isolated, capsys, monkeypatch):
    serve_files_from(monkeypatch, "mnist", "http://127.0.0.1:9/")  # discard port: refused
    code, out, err = run(capsys, "data", "download", "mnist", "--data-dir", str(isolated / "d"))
    assert code == 2 and "Traceback" not in err
    assert "'mnist' was not found" in err and "train-labels-idx1-ubyte.gz" in err


def test_data_download_digits_needs_nothing(capsys):
    code, out, _ = run(capsys, "data", "download", "digits")
    assert code == 0 and "nothing to download" in out


def test_unknown_dataset(capsys):
    code, _, err = run(capsys, "data", "info", "imagenet")
    assert code == 2 and "unknown dataset 'imagenet'" in err
