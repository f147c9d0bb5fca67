"""Reading the official dataset files: torchvision decodes them once, cnnlab keeps the decoded arrays.

torchvision's dataset classes own the formats (IDX, CIFAR pickles, SVHN .mat) and the file names,
checksums and mirrors. The file lists are copied into `specs.py` (a test checks them against the
classes), so finding files needs no torchvision. The first load of a set of files (1) builds the
folder layout the class expects, in our cache, from wherever the files were found: IDX .gz files
are decompressed (torchvision reads raw IDX), CIFAR archives are extracted, SVHN .mat files are
symlinked; (2) reads both splits through the class; (3) saves the decoded arrays in that staging
folder (`CACHE_NAME`). Later loads read that one file and never import torchvision (1-2 s of a
start-up). Staging and the cache are written atomically: a half-built layout or a half-written
file is never used, and an unreadable cache file only means reading through torchvision again.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from cnnlab.data.specs import DatasetSpec, RawFile  # RawFile is also imported from here by locate/download/load
from cnnlab.errors import DataError

CACHE_NAME = "cnnlab-arrays.pt"  # in the staging folder, beside the layout torchvision reads
CACHE_VERSION = 1  # bump when what is cached (or how it is decoded) changes: older files are then re-read


@dataclass
class Arrays:
    """A split as read from the files: uint8 images (N, C, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


def torchvision_class(spec: DatasetSpec) -> type:
    import torchvision.datasets

    return getattr(torchvision.datasets, spec.torchvision_class)


# ---- the files each format needs, as the torchvision class lists them: the source of the copies in
# specs.py, checked by the tests (kept here, not run on the load path, because reading them imports torchvision)
def _idx_files(cls: Any) -> list[RawFile]:
    return [RawFile(name, md5, tuple(m + name for m in cls.mirrors)) for name, md5 in cls.resources]


def _cifar_files(cls: Any) -> list[RawFile]:
    return [RawFile(cls.filename, cls.tgz_md5, (cls.url,))]


def _svhn_files(cls: Any) -> list[RawFile]:
    return [RawFile(cls.split_list[s][1], cls.split_list[s][2], (cls.split_list[s][0],)) for s in ("train", "test")]


# ---- building the layout the torchvision class expects under `root`
def _link(src: Path, dst: Path) -> None:
    """Symlink dst -> src; a copy where symlinks are not allowed (some Windows set-ups)."""
    try:
        dst.symlink_to(src.resolve())
    except OSError:
        shutil.copy2(src, dst)


def _stage_idx(cls: Any, found: dict[str, Path], root: Path) -> None:
    from torchvision.datasets.utils import extract_archive

    raw = root / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    for path in found.values():
        if path.name.endswith(".gz"):
            extract_archive(str(path), str(raw))  # torchvision reads the decompressed IDX file
        else:
            _link(path, raw / path.name)


def _stage_cifar(cls: Any, found: dict[str, Path], root: Path) -> None:
    from cnnlab.data.archive import safe_extract

    # Even an archive whose MD5 passed is checked member by member: the user may supply their own files.
    safe_extract(found[cls.filename], root)


def _stage_links(cls: Any, found: dict[str, Path], root: Path) -> None:
    root.mkdir(parents=True)
    for name, path in found.items():
        _link(path, root / name)


# ---- reading one split through the torchvision class
def _read_idx(cls: Any, root: Path, train: bool) -> tuple[Arrays, list[str]]:
    ds = cls(str(root), train=train, download=False)
    return Arrays(ds.data.unsqueeze(1).contiguous(), ds.targets.long()), list(ds.classes)


def _read_cifar(cls: Any, root: Path, train: bool) -> tuple[Arrays, list[str]]:
    ds = cls(str(root), train=train, download=False)
    images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # NHWC -> NCHW
    return Arrays(images, torch.as_tensor(ds.targets, dtype=torch.int64)), list(ds.classes)


def _read_svhn(cls: Any, root: Path, train: bool) -> tuple[Arrays, list[str]]:
    ds = cls(str(root), split="train" if train else "test", download=False)
    images = torch.from_numpy(np.ascontiguousarray(ds.data))  # already (N, 3, 32, 32)
    return Arrays(images, torch.as_tensor(ds.labels, dtype=torch.int64)), [str(d) for d in range(10)]


@dataclass(frozen=True)
class Format:
    raw_files: Callable[[Any], list[RawFile]]
    stage: Callable[[Any, dict[str, Path], Path], None]
    read: Callable[[Any, Path, bool], tuple[Arrays, list[str]]]


FORMATS: dict[str, Format] = {
    "idx": Format(_idx_files, _stage_idx, _read_idx),
    "cifar": Format(_cifar_files, _stage_cifar, _read_cifar),
    "svhn": Format(_svhn_files, _stage_links, _read_svhn),
}


def raw_files(spec: DatasetSpec) -> list[RawFile]:
    """The official files of a dataset (empty for datasets that ship with a library); no torchvision import."""
    return list(spec.raw_files)


def torchvision_raw_files(spec: DatasetSpec) -> list[RawFile]:
    """The official files as the torchvision class lists them (imports torchvision): what `raw_files` must equal."""
    fmt = FORMATS.get(spec.format)
    return fmt.raw_files(torchvision_class(spec)) if fmt and spec.torchvision_class else []


def _staging_key(found: dict[str, Path]) -> str:
    """Identity of the found files: a new download or a replaced file gets a fresh layout."""
    h = hashlib.sha1()
    for name in sorted(found):
        st = found[name].stat()
        h.update(f"{found[name].resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def stage(spec: DatasetSpec, found: dict[str, Path], staging_root: Path) -> Path:
    """Build (once) the torchvision layout for the found files; return the root to pass to the class.

    An existing layout is returned before anything imports torchvision: the cached arrays in it are all
    a later load reads.
    """
    final = staging_root / f"{spec.name}-{_staging_key(found)}"
    if final.is_dir():
        return final
    staging_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=staging_root))
    try:
        FORMATS[spec.format].stage(torchvision_class(spec), found, tmp / "root")
        try:
            os.replace(tmp / "root", final)
        except OSError:
            if not final.is_dir():  # another process finished first otherwise
                raise
    except Exception as err:
        raise DataError(
            f"could not unpack the {spec.name} files ({', '.join(str(p) for p in found.values())}): {err}. "
            "The files may be truncated or corrupt: delete them and download again (`cnnlab data download "
            f"{spec.name}`)."
        ) from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def check_arrays(arrays: Arrays, num_classes: int) -> None:
    """Raise ValueError unless images are uint8 (N, C, H, W) and labels N int64 class indices in range.

    Real checks, not asserts: torchvision's IDX reader only asserts, which ``python -O`` removes.
    """
    images, labels = arrays.images, arrays.labels
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.dtype != torch.int64 or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {labels.dtype} labels of shape {tuple(labels.shape)}")
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
        raise ValueError(f"labels range {int(labels.min())}..{int(labels.max())}, outside 0..{num_classes - 1}")


def read_split(spec: DatasetSpec, root: Path, found: dict[str, Path], *, train: bool) -> tuple[Arrays, list[str]]:
    """Read one split through torchvision; a parse or checksum failure becomes a DataError naming the files."""
    try:
        arrays, classes = FORMATS[spec.format].read(torchvision_class(spec), root, train)
        check_arrays(arrays, len(classes))
        return arrays, classes
    except Exception as err:
        files = ", ".join(str(p) for p in found.values())
        raise DataError(
            f"the {spec.name} files could not be read ({files}): {err}. They are not the official files or are "
            f"corrupt: delete them and download again (`cnnlab data download {spec.name}`), or put the official "
            f"files there."
        ) from err


def read_dataset(spec: DatasetSpec, root: Path, found: dict[str, Path]) -> tuple[Arrays, Arrays, list[str]]:
    """(train, test, class names) of the staged files in `root`: from the cache file when it is sound, else
    through torchvision (same checks and errors as `read_split`), which then writes the cache."""
    cached = _read_cache(root / CACHE_NAME)
    if cached is not None:
        return cached
    train, classes = read_split(spec, root, found, train=True)
    test, _ = read_split(spec, root, found, train=False)
    _write_cache(root / CACHE_NAME, train, test, classes)
    return train, test, classes


def _read_cache(path: Path) -> tuple[Arrays, Arrays, list[str]] | None:
    """The cached arrays, or None when the file is missing, of another version, unreadable or inconsistent."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain types only
        if blob["version"] != CACHE_VERSION:
            return None
        classes = blob["classes"]
        if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
            return None
        train = Arrays(blob["train_images"], blob["train_labels"])
        test = Arrays(blob["test_images"], blob["test_labels"])
        check_arrays(train, len(classes))
        check_arrays(test, len(classes))
        return train, test, classes
    except Exception:  # noqa: BLE001 - any damage (truncation, garbage, a foreign file) only costs a re-read
        return None


def _write_cache(path: Path, train: Arrays, test: Arrays, classes: list[str]) -> None:
    """Save the decoded arrays atomically: a reader sees the old file, the new or none."""
    from cnnlab.files import atomic_write

    blob = {"version": CACHE_VERSION, "classes": list(classes), "train_images": train.images,
            "train_labels": train.labels, "test_images": test.images, "test_labels": test.labels}
    try:
        atomic_write(path, lambda f: torch.save(blob, f))  # removes its temp file on any failure
    except (OSError, RuntimeError):  # torch.save reports a full disk as RuntimeError
        # The arrays were read fine: a cache that cannot be written (read-only or full disk) only costs
        # the next load a read through torchvision, so it must not fail this one.
        pass


def read_sklearn_digits() -> tuple[Arrays, Arrays]:
    """scikit-learn's 8x8 digits (values 0..16, rescaled to 0..255); a fixed stratified 20% test split.

    The test split uses random_state=0 whatever the run's seed, so test figures stay comparable.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(images, digits.target, test_size=0.2, random_state=0,
                                              stratify=digits.target)
    return (Arrays(torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()),
            Arrays(torch.from_numpy(x_te), torch.from_numpy(y_te).long()))
