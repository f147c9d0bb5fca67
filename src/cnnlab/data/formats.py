"""Reading the official dataset files through torchvision's dataset classes.

torchvision owns the formats (IDX, CIFAR pickles, SVHN .mat), the file names, checksums and
mirrors; we only (1) list the files a dataset needs, read from the torchvision class, and
(2) build the folder layout the class expects, in our cache, from wherever the files were found:
IDX .gz files are decompressed (torchvision reads raw IDX), CIFAR archives are extracted, SVHN
.mat files are symlinked. Staging is atomic: a half-built layout is never used.
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

from cnnlab.data.specs import DatasetSpec
from cnnlab.errors import DataError


@dataclass(frozen=True)
class RawFile:
    """One official file: its name, MD5 and the URLs it can be downloaded from (mirrors first to last)."""

    name: str
    md5: str
    urls: tuple[str, ...]


@dataclass
class Arrays:
    """A split as read from the files: uint8 images (N, C, H, W) and int64 labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


def torchvision_class(spec: DatasetSpec) -> type:
    import torchvision.datasets

    return getattr(torchvision.datasets, spec.torchvision_class)


# ---- the files each format needs (read from the torchvision class, so checksums have one source)
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
    """The official files of a dataset (empty for datasets that ship with a library)."""
    fmt = FORMATS.get(spec.format)
    return fmt.raw_files(torchvision_class(spec)) if fmt else []


def _staging_key(found: dict[str, Path]) -> str:
    """Identity of the found files: a new download or a replaced file gets a fresh layout."""
    h = hashlib.sha1()
    for name in sorted(found):
        st = found[name].stat()
        h.update(f"{found[name].resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def stage(spec: DatasetSpec, found: dict[str, Path], staging_root: Path) -> Path:
    """Build (once) the torchvision layout for the found files; return the root to pass to the class."""
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
    """Raise ValueError unless images are uint8 (N, C, H, W) and labels N class indices in range.

    Real checks, not asserts: torchvision's IDX reader only asserts, which ``python -O`` removes.
    """
    images, labels = arrays.images, arrays.labels
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{len(images)} images but labels of shape {tuple(labels.shape)}")
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
