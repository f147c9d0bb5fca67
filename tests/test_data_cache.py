"""The decoded-array cache: the first load reads the official files through torchvision and saves the
arrays in the staging folder; later loads read that file (no torchvision import), a damaged one is
re-read, and replaced files get a fresh folder. The `isolated` fixture is in conftest.py."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from cnnlab.data import formats, load_dataset
from test_data_formats import write_cifar_archive, write_idx_dataset, write_svhn

# Loads mnist from argv[1] in a fresh interpreter; reports what it read and whether torchvision was imported.
_LOAD_SCRIPT = """
import hashlib, json, sys
from cnnlab.data import load_dataset
bundle = load_dataset("mnist", data_dir=sys.argv[1], val_fraction=0, download=False)
print(json.dumps({"torchvision": "torchvision" in sys.modules, "classes": bundle.classes,
                  "train_images": hashlib.md5(bundle.train.images.numpy().tobytes()).hexdigest(),
                  "test_labels": bundle.test.labels.tolist()}))
"""


def _cache_files(cache_home: Path) -> list[Path]:
    return sorted((cache_home / "cnnlab" / "staged").glob(f"*/{formats.CACHE_NAME}"))


def _no_torchvision_reads(monkeypatch) -> None:
    """Make any read through torchvision fail: a load that still works read the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("read through torchvision, not the cache")

    monkeypatch.setattr(formats, "read_split", refuse)


def _load_in_fresh_process(data_dir: Path, cache_home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CNNLAB_DATA"}
    env.update(XDG_CACHE_HOME=str(cache_home), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _LOAD_SCRIPT, str(data_dir)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_second_load_in_a_fresh_process_does_not_import_torchvision(tmp_path):
    arrays = write_idx_dataset(tmp_path / "data" / "mnist")
    first = _load_in_fresh_process(tmp_path / "data", tmp_path / "cache")
    assert first["torchvision"]  # the first load decodes the files through torchvision...
    assert len(_cache_files(tmp_path / "cache")) == 1  # ...and keeps the arrays
    second = _load_in_fresh_process(tmp_path / "data", tmp_path / "cache")
    assert not second["torchvision"]
    assert second == {**first, "torchvision": False}
    written = arrays["train-images-idx3-ubyte"][:, None]
    assert second["train_images"] == hashlib.md5(written.tobytes()).hexdigest()
    assert second["test_labels"] == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert second["classes"] == list(tvd.MNIST.classes)


def _write_idx(folder: Path, monkeypatch) -> dict[str, np.ndarray]:
    return write_idx_dataset(folder / "kmnist")


def _write_cifar100(folder: Path, monkeypatch) -> dict[str, np.ndarray]:
    return write_cifar_archive(folder, tvd.CIFAR100, monkeypatch, num_classes=100)


def _write_svhn(folder: Path, monkeypatch) -> dict[str, np.ndarray]:
    return write_svhn(folder / "svhn", monkeypatch)


@pytest.mark.parametrize("name,write", [("kmnist", _write_idx), ("cifar100", _write_cifar100), ("svhn", _write_svhn)])
def test_second_load_reads_the_cache_for_every_format(isolated, monkeypatch, name, write):
    write(isolated / "data", monkeypatch)
    first = load_dataset(name, data_dir=isolated / "data", val_fraction=0)
    _no_torchvision_reads(monkeypatch)
    second = load_dataset(name, data_dir=isolated / "data", val_fraction=0)
    assert second.classes == first.classes and len(second.classes) == second.num_classes
    for a, b in ((first.train, second.train), (first.test, second.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
        assert b.images.dtype == torch.uint8 and b.labels.dtype == torch.int64


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a torch file")


def _truncated(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def _labels_out_of_range(path: Path) -> None:
    blob = torch.load(path, weights_only=True)
    blob["train_labels"] = blob["train_labels"] + 100
    torch.save(blob, path)


def _old_version(path: Path) -> None:
    blob = torch.load(path, weights_only=True)
    torch.save({**blob, "version": formats.CACHE_VERSION + 1}, path)


def _not_a_dict(path: Path) -> None:
    torch.save([1, 2, 3], path)


@pytest.mark.parametrize("damage", [_garbage, _truncated, _labels_out_of_range, _old_version, _not_a_dict])
def test_a_damaged_cache_is_read_again_through_torchvision_and_rewritten(isolated, damage):
    arrays = write_idx_dataset(isolated / "data" / "mnist")
    load_dataset("mnist", data_dir=isolated / "data", val_fraction=0)
    (cache,) = _cache_files(isolated / "xdg-cache")
    damage(cache)
    bundle = load_dataset("mnist", data_dir=isolated / "data", val_fraction=0)
    assert torch.equal(bundle.train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert torch.equal(bundle.train.labels, torch.from_numpy(arrays["train-labels-idx1-ubyte"]).long())
    assert torch.equal(bundle.test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert formats._read_cache(cache) is not None  # rewritten: the next load reads it again
    assert [p.name for p in cache.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_replaced_files_are_not_served_from_the_old_cache(isolated):
    write_idx_dataset(isolated / "data" / "mnist", n_train=30, seed=0)
    load_dataset("mnist", data_dir=isolated / "data", val_fraction=0)
    new = write_idx_dataset(isolated / "data" / "mnist", n_train=40, seed=1)
    bundle = load_dataset("mnist", data_dir=isolated / "data", val_fraction=0)
    assert torch.equal(bundle.train.labels, torch.from_numpy(new["train-labels-idx1-ubyte"]).long())
    assert len(_cache_files(isolated / "xdg-cache")) == 2  # one staging folder per set of files


def test_a_cache_that_cannot_be_written_does_not_fail_the_load(isolated, monkeypatch):
    arrays = write_idx_dataset(isolated / "data" / "mnist")

    def disk_full(*args, **kwargs):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", disk_full)
    bundle = load_dataset("mnist", data_dir=isolated / "data", val_fraction=0)
    assert torch.equal(bundle.test.labels, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    (staged,) = (isolated / "xdg-cache" / "cnnlab" / "staged").iterdir()
    assert not [p for p in staged.iterdir() if p.is_file()]  # neither a cache nor a temp file left behind
