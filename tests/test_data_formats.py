"""Named datasets read from small files written here in the real formats, the look-up order, the real
Fashion-MNIST files when installed. Other test_data* files import the writers; the `isolated` fixture is in conftest.py."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets as tvd

from cnnlab.data import dataset_info, list_datasets, load_dataset
from cnnlab.data import locate
from cnnlab.data.formats import raw_files, torchvision_raw_files
from cnnlab.data.specs import SPECS
from cnnlab.errors import ConfigError, DataError

SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def serve_files_from(monkeypatch, name: str, base_url: str, md5s: dict[str, str] | None = None) -> None:
    """Point a dataset's official files (specs.py) at base_url + file name, with the MD5s given (others kept)."""
    spec = SPECS[name]
    files = tuple(dataclasses.replace(f, urls=(base_url + f.name,), md5=(md5s or {}).get(f.name, f.md5))
                  for f in spec.raw_files)
    monkeypatch.setitem(SPECS, name, dataclasses.replace(spec, raw_files=files))


# ---- writers of the official formats
def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX: magic (0, 0, type 0x08 = ubyte, ndim), big-endian int32 dims, then the data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


def write_idx_dataset(folder: Path, n_train: int = 30, n_test: int = 12, seed: int = 0,
                      compress: bool = True) -> dict[str, np.ndarray]:
    """The four MNIST-style files (.gz unless compress=False); returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
        else:
            (folder / name).write_bytes(_idx_bytes(arr))
    return arrays


def _cifar_layout(cls: type) -> tuple[str, list[str], list[str], str, str, str]:
    """(base folder, train files, test files, meta file, label key, label-names key) of a CIFAR class."""
    return (cls.base_folder, [f for f, _ in cls.train_list], [f for f, _ in cls.test_list], cls.meta["filename"],
            "labels" if cls is tvd.CIFAR10 else "fine_labels", cls.meta["key"])


def write_cifar_archive(folder: Path, cls: type, monkeypatch, n_per_file: int = 8,
                        num_classes: int = 10) -> dict[str, np.ndarray]:
    """A CIFAR python-pickle .tar.gz; the torchvision class's checksums are set to the files written."""
    base, train_files, test_files, meta_file, label_key, names_key = _cifar_layout(cls)
    rng = np.random.default_rng(1)
    md5s, blobs, parts = {}, {}, {"train": [], "test": []}
    for split, files in (("train", train_files), ("test", test_files)):
        for f in files:
            data = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
            labels = rng.integers(0, num_classes, n_per_file).tolist()
            blobs[f] = pickle.dumps({"data": data, label_key: labels})
            parts[split].append((data, labels))
    names = [f"class{i}" for i in range(num_classes)]
    blobs[meta_file] = pickle.dumps({names_key: names})
    archive = folder / cls.filename
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for f, blob in blobs.items():
            info = tarfile.TarInfo(f"{base}/{f}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
            md5s[f] = hashlib.md5(blob).hexdigest()
    monkeypatch.setattr(cls, "train_list", [[f, md5s[f]] for f in train_files])
    monkeypatch.setattr(cls, "test_list", [[f, md5s[f]] for f in test_files])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5s[meta_file]})
    monkeypatch.setattr(cls, "tgz_md5", md5(archive))

    def stack(split: str) -> tuple[np.ndarray, np.ndarray]:
        data = np.concatenate([d for d, _ in parts[split]]).reshape(-1, 3, 32, 32)
        return data, np.concatenate([np.asarray(lbl) for _, lbl in parts[split]])

    (xtr, ytr), (xte, yte) = stack("train"), stack("test")
    return {"train_x": xtr, "train_y": ytr, "test_x": xte, "test_y": yte, "names": np.asarray(names)}


def write_svhn(folder: Path, monkeypatch, n_train: int = 20, n_test: int = 10) -> dict[str, np.ndarray]:
    """SVHN .mat files (X: 32x32x3xN, y: Nx1 with 10 for digit 0) via scipy; checksums patched to match."""
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    folder.mkdir(parents=True, exist_ok=True)
    out, split_list = {}, {k: list(v) for k, v in tvd.SVHN.split_list.items()}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1)).astype(np.uint8)  # 1..10, 10 meaning digit 0
        path = folder / split_list[split][1]
        savemat(path, {"X": x, "y": y})
        split_list[split][2] = md5(path)
        out[f"{split}_x"], out[f"{split}_y"] = x, y[:, 0] % 10
    monkeypatch.setattr(tvd.SVHN, "split_list", split_list)
    return out


# ---- the formats
@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "kmnist"])
@pytest.mark.parametrize("compress", [True, False])
def test_idx_datasets_read_the_written_files(isolated, name, compress):
    arrays = write_idx_dataset(isolated / "data" / name, compress=compress)
    bundle = load_dataset(name, data_dir=isolated / "data", val_fraction=0)
    assert bundle.val is None
    assert torch.equal(bundle.train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert torch.equal(bundle.train.labels, torch.from_numpy(arrays["train-labels-idx1-ubyte"]).long())
    assert torch.equal(bundle.test.images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert bundle.classes == list(getattr(tvd, {"fashion-mnist": "FashionMNIST", "mnist": "MNIST",
                                                "kmnist": "KMNIST"}[name]).classes)
    assert (bundle.in_channels, bundle.image_size, bundle.num_classes) == (1, (28, 28), 10)


@pytest.mark.parametrize("cls,name,num_classes", [(tvd.CIFAR10, "cifar10", 10), (tvd.CIFAR100, "cifar100", 100)])
def test_cifar_archives(isolated, monkeypatch, cls, name, num_classes):
    ref = write_cifar_archive(isolated / "data", cls, monkeypatch, num_classes=num_classes)
    bundle = load_dataset(name, data_dir=isolated / "data", val_fraction=0)
    assert torch.equal(bundle.train.images, torch.from_numpy(ref["train_x"]))
    assert torch.equal(bundle.train.labels, torch.from_numpy(ref["train_y"]).long())
    assert torch.equal(bundle.test.images, torch.from_numpy(ref["test_x"]))
    assert bundle.classes == list(ref["names"]) and bundle.num_classes == num_classes
    assert bundle.in_channels == 3 and bundle.image_size == (32, 32)


def test_svhn_mat_files(isolated, monkeypatch):
    ref = write_svhn(isolated / "data" / "svhn", monkeypatch)
    bundle = load_dataset("svhn", data_dir=isolated / "data", val_fraction=0)
    assert torch.equal(bundle.train.images, torch.from_numpy(ref["train_x"]).permute(3, 2, 0, 1))
    assert torch.equal(bundle.train.labels, torch.from_numpy(ref["train_y"]).long())
    assert torch.equal(bundle.test.labels, torch.from_numpy(ref["test_y"]).long())
    assert bundle.train.labels.min() >= 0 and bundle.train.labels.max() <= 9


def test_corrupt_cifar_member_is_a_data_error(isolated, monkeypatch):
    write_cifar_archive(isolated / "data", tvd.CIFAR10, monkeypatch)
    monkeypatch.setattr(tvd.CIFAR10, "test_list", [["test_batch", "0" * 32]])  # checksum mismatch inside
    with pytest.raises(DataError, match="cifar10.*could not be read"):
        load_dataset("cifar10", data_dir=isolated / "data")


def test_truncated_gzip_is_a_data_error(isolated):
    folder = isolated / "data" / "mnist"
    write_idx_dataset(folder)
    blob = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="mnist"):
        load_dataset("mnist", data_dir=isolated / "data")


def test_digits_match_scikit_learn(isolated):
    from sklearn.datasets import load_digits

    bundle = load_dataset("digits", val_fraction=0)
    ref = load_digits()
    assert len(bundle.train) + len(bundle.test) == len(ref.target)
    assert bundle.image_size == (8, 8) and bundle.in_channels == 1
    # every image is a rescaled scikit-learn image with the same label
    table = {np.rint(img * 255 / 16).astype(np.uint8).tobytes(): int(t) for img, t in zip(ref.images, ref.target)}
    for img, label in zip(bundle.test.images[:, 0].numpy(), bundle.test.labels.tolist()):
        assert table[img.tobytes()] == label


def test_val_holdout_is_seeded_disjoint_and_stats_come_from_train(isolated):
    write_idx_dataset(isolated / "data" / "mnist", n_train=50)
    a = load_dataset("mnist", data_dir=isolated / "data", val_fraction=0.2, seed=3)
    b = load_dataset("mnist", data_dir=isolated / "data", val_fraction=0.2, seed=3)
    c = load_dataset("mnist", data_dir=isolated / "data", val_fraction=0.2, seed=4)
    assert (len(a.train), len(a.val)) == (40, 10)
    assert torch.equal(a.val.images, b.val.images) and not torch.equal(a.val.images, c.val.images)
    rows = {img.numpy().tobytes() for img in a.train.images}
    assert not rows & {img.numpy().tobytes() for img in a.val.images}
    pixels = a.train.images.double().numpy() / 255
    np.testing.assert_allclose(a.mean, [pixels.mean()], rtol=1e-9)
    np.testing.assert_allclose(a.std, [pixels.std()], rtol=1e-9)


def test_image_size_and_channels_are_recorded_for_the_loader(isolated):
    write_idx_dataset(isolated / "data" / "mnist")
    bundle = load_dataset("mnist", data_dir=isolated / "data", image_size=32, channels=3)
    assert bundle.image_size == (32, 32) and bundle.in_channels == 3
    assert bundle.train.images.shape[1:] == (1, 28, 28)  # stored natively, converted per batch
    assert len(bundle.mean) == 3 and bundle.mean[0] == bundle.mean[2]


def test_lookup_order_data_dir_then_env_then_cache(isolated, monkeypatch):
    import platformdirs

    cache = Path(platformdirs.user_cache_dir("cnnlab")) / "datasets" / "mnist"
    from_cache = write_idx_dataset(cache, seed=1)
    from_env = write_idx_dataset(isolated / "env" / "mnist", seed=2)
    from_arg = write_idx_dataset(isolated / "arg", seed=3)  # files directly in --data-dir also count

    def first_labels(**kw):
        return load_dataset("mnist", val_fraction=0, **kw).train.labels.numpy()

    assert np.array_equal(first_labels(), from_cache["train-labels-idx1-ubyte"])
    monkeypatch.setenv(locate.ENV_VAR, str(isolated / "env"))
    assert np.array_equal(first_labels(), from_env["train-labels-idx1-ubyte"])
    assert np.array_equal(first_labels(data_dir=isolated / "arg"), from_arg["train-labels-idx1-ubyte"])


def test_torchvision_download_folder_is_found(isolated):
    arrays = write_idx_dataset(isolated / "tv" / "KMNIST" / "raw", compress=False)
    bundle = load_dataset("kmnist", data_dir=isolated / "tv", val_fraction=0)
    assert torch.equal(bundle.test.labels, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())


def test_missing_without_download_names_places_and_files(isolated, monkeypatch):
    monkeypatch.setenv(locate.ENV_VAR, str(isolated / "env"))
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", data_dir=isolated / "arg", download=False)
    msg = str(err.value)
    assert "'cifar10'" in msg and "cifar-10-python.tar.gz" in msg and tvd.CIFAR10.tgz_md5 in msg
    for place in (isolated / "arg" / "cifar10", isolated / "env" / "cifar10", "xdg-cache"):
        assert str(place) in msg
    assert f"Fix: put these files in {isolated / 'arg' / 'cifar10'}/" in msg


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="fashion-mnist"):
        load_dataset("imagenet-1k")
    with pytest.raises(ConfigError):
        load_dataset("digits", val_fraction=1.0)


@pytest.mark.parametrize("name", [name for name, spec in SPECS.items() if spec.torchvision_class])
def test_official_file_lists_are_torchvisions(name):
    """specs.py copies the names, MD5s and mirrors so that finding files needs no torchvision: the copies
    must be exactly what the torchvision class lists."""
    assert raw_files(SPECS[name]) == torchvision_raw_files(SPECS[name]) != []


def test_dataset_info_without_files(isolated):
    assert list_datasets() == ["fashion-mnist", "mnist", "kmnist", "cifar10", "cifar100", "svhn", "digits"]
    info = dataset_info("fashion-mnist")
    assert info.classes == list(tvd.FashionMNIST.classes) and info.found is None
    assert [f.name for f in info.files] == [name for name, _ in tvd.FashionMNIST.resources]
    assert dataset_info("cifar100").classes is None and dataset_info("cifar100").num_classes == 100
    assert dataset_info("digits").files == []


@pytest.mark.skipif(not SYSTEM_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_system_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(locate.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bundle = load_dataset("fashion-mnist", val_fraction=0, download=False)
    assert bundle.source == str(SYSTEM_FASHION)
    assert (len(bundle.train), len(bundle.test), bundle.num_classes) == (60_000, 10_000, 10)
    assert bundle.train.images.shape == (60_000, 1, 28, 28)
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class
    assert torch.bincount(bundle.train.labels).tolist() == [6000] * 10
    assert torch.bincount(bundle.test.labels).tolist() == [1000] * 10
    assert 0.28 < bundle.mean[0] < 0.29 and 0.35 < bundle.std[0] < 0.36  # the published 0.2860 / 0.3530
