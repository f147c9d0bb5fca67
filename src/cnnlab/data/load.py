"""`load_dataset`, `dataset_info` and `download_dataset`: the entry points of `cnnlab.data`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import torch

from cnnlab.data import folder as folder_mod
from cnnlab.data import locate
from cnnlab.data.download import ensure_files
from cnnlab.data.formats import Arrays, RawFile, raw_files, read_dataset, read_sklearn_digits, stage
from cnnlab.data.holdout import held_out_count, stratified_holdout
from cnnlab.data.label_csv import is_label_csv
from cnnlab.data.loader import as_image_size
from cnnlab.data.memory import TensorSplit, holdout_indices, split_stats
from cnnlab.data.specs import FOLDER_PREFIX, DatasetSpec, get_spec, is_folder
from cnnlab.errors import ConfigError

Split = Union[TensorSplit, folder_mod.ImageFolderSplit]
PathLike = Union[str, os.PathLike, None]


@dataclass
class DatasetBundle:
    """A dataset ready for training: splits, class names, the shape batches will have, normalization.

    `image_size` (H, W) and `in_channels` are what `make_loader` yields from these splits;
    `mean`/`std` are per channel in 0..1 scale, computed on `train` (after the val hold-out).
    `val` is None when val_fraction=0 and there is no val/ folder; `test` is None when there is none.
    """

    name: str
    classes: list[str]
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    train: Split
    val: Split | None
    test: Split | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str = ""  # where the files were read from
    notes: list[str] = field(default_factory=list)  # one line each on choices made while loading (held-out splits)


@dataclass
class DatasetInfo:
    """What a dataset is and where its files are expected (for `cnnlab data info` and error messages)."""

    name: str
    title: str
    classes: list[str] | None
    num_classes: int
    channels: int
    image_size: tuple[int, int]
    num_train: int
    num_test: int
    files: list[RawFile] = field(default_factory=list)
    found: dict[str, Path] | None = None
    search: str = ""
    homepage: str = ""


def _read_files(spec: DatasetSpec, data_dir: PathLike, download: bool) -> tuple[Arrays, Arrays, list[str], str]:
    found = ensure_files(spec, data_dir, download=download)
    root = stage(spec, found, locate.staging_root())
    train, test, classes = read_dataset(spec, root, found)
    return train, test, classes, str(next(iter(found.values())).parent)


def _read_digits(spec: DatasetSpec, data_dir: PathLike, download: bool) -> tuple[Arrays, Arrays, list[str], str]:
    train, test = read_sklearn_digits()
    return train, test, list(spec.classes or ()), "scikit-learn (bundled)"


# format -> reader; everything with official files goes through torchvision once, then the array cache
_READERS: dict[str, Callable[[DatasetSpec, PathLike, bool], tuple[Arrays, Arrays, list[str], str]]] = {
    "sklearn-digits": _read_digits,
}


def load_dataset(name: str, *, data_dir: PathLike = None, download: bool = True, val_fraction: float = 0.1,
                 seed: int = 0, image_size: int | Sequence[int] | None = None,
                 channels: int | None = None) -> DatasetBundle:
    """Load a named dataset (see `list_datasets()`), `folder:PATH` or `folder:FILE.csv` (filename,label rows).

    Files are looked for in `data_dir`, `$CNNLAB_DATA`, the user cache and system folders, and
    downloaded (checksum-verified) when missing and `download` is true. `val_fraction` of the
    official training split is held out as `val` by a permutation seeded with `seed`.
    `image_size` (int or (H, W)) and `channels` (1 or 3) set the shape the loaders produce.
    """
    if is_folder(name):
        return _load_folder(name[len(FOLDER_PREFIX):], val_fraction=val_fraction, seed=seed,
                            image_size=image_size, channels=channels)
    spec = get_spec(name)
    size = as_image_size(image_size) if image_size is not None else None
    chans = folder_mod.check_channels(channels) if channels is not None else None
    train_raw, test_raw, classes, source = _READERS.get(spec.format, _read_files)(spec, data_dir, download)

    def split(arrays: Arrays, idx: torch.Tensor | None = None) -> TensorSplit:
        images, labels = (arrays.images, arrays.labels) if idx is None else (arrays.images[idx], arrays.labels[idx])
        return TensorSplit(images.contiguous(), labels.contiguous(), size, chans)

    train_idx, val_idx = holdout_indices(len(train_raw.labels), val_fraction, seed)
    train = split(train_raw, train_idx if len(val_idx) else None)
    val = split(train_raw, val_idx) if len(val_idx) else None
    mean, std = split_stats(train)
    return DatasetBundle(spec.name, classes, len(classes), train.channels, train.image_size, train, val,
                         split(test_raw), mean, std, source)


def _load_folder(path: str, *, val_fraction: float, seed: int, image_size: int | Sequence[int] | None,
                 channels: int | None) -> DatasetBundle:
    if not path:
        raise ConfigError("folder: needs a path, e.g. folder:/data/flowers")
    classes, samples = folder_mod.scan_folder(path)
    natural_size, natural_channels = folder_mod.infer_shape(samples["train"])  # type: ignore[arg-type]
    size = as_image_size(image_size) if image_size is not None else natural_size
    chans = folder_mod.check_channels(channels) if channels is not None else natural_channels

    def make(s: list[tuple[str, int]]) -> folder_mod.ImageFolderSplit:
        return folder_mod.ImageFolderSplit(s, classes, size, chans, path)

    train = make(samples["train"])  # type: ignore[arg-type]
    val = make(samples["val"]) if samples["val"] else None
    test = make(samples["test"]) if samples["test"] else None
    notes = []
    if val is None and val_fraction > 0:
        train, val, test, note = _hold_out(train, test, val_fraction, seed, name=path)
        notes.append(note)
    from cnnlab.data.memory import channel_stats

    mean, std = channel_stats(folder_mod.sample_for_stats(train, seed), chans)
    return DatasetBundle(FOLDER_PREFIX + path, classes, len(classes), chans, size, train, val, test, mean, std,
                         str(Path(path).expanduser().resolve()), notes)


def _hold_out(train: folder_mod.ImageFolderSplit, test: folder_mod.ImageFolderSplit | None, fraction: float,
              seed: int, name: str) -> tuple[folder_mod.ImageFolderSplit, folder_mod.ImageFolderSplit,
                                         folder_mod.ImageFolderSplit | None, str]:
    """Validation (and test, when the folder has no test/) held out of train, ``fraction`` of it each.
    ``name``: the folder or label CSV.

    Returns (train, val, test, the one-line note saying what was held out)."""
    total = len(train)
    count = held_out_count(total, fraction)
    held: dict[str, folder_mod.ImageFolderSplit] = {}
    stratified = True
    for split in ("validation", "test") if test is None else ("validation",):
        kept, out, by_class = stratified_holdout(train.targets, count, seed)
        held[split], train = train.subset(out), train.subset(kept)
        stratified = stratified and by_class
    missing = "" if is_label_csv(name) else " has no val/ or test/ folder" if test is None else " has no val/ folder"
    what = " and ".join(f"{count} {split}" for split in held)
    how = "stratified by class" if stratified else "at random: too few images per class to stratify"
    note = (f"{FOLDER_PREFIX}{name}{missing}: held out {what} images of {total} "
            f"({fraction:.0%}{' each' if len(held) > 1 else ''}, {how}, seed {seed})")
    return train, held["validation"], held.get("test", test), note


def dataset_info(name: str, *, data_dir: PathLike = None) -> DatasetInfo:
    """Classes, channels, size, split sizes, the files expected and where they were (or would be) found."""
    if is_folder(name):
        path = name[len(FOLDER_PREFIX):]
        classes, samples = folder_mod.scan_folder(path)
        size, chans = folder_mod.infer_shape(samples["train"])  # type: ignore[arg-type]
        title = f"{'label file' if is_label_csv(path) else 'image folder'} {path}"
        return DatasetInfo(name, title, classes, len(classes), chans, size,
                           len(samples["train"] or ()), len(samples["test"] or ()))
    spec = get_spec(name)
    files = raw_files(spec)
    roots = locate.search_roots(data_dir)
    classes = list(spec.classes) if spec.classes else _classes_from_torchvision(spec)
    return DatasetInfo(spec.name, spec.title, classes, spec.num_classes, spec.channels, spec.image_size,
                       spec.num_train, spec.num_test, files, locate.find(spec, files, roots) if files else None,
                       locate.describe_search(spec, roots) if files else "", spec.homepage)


def _classes_from_torchvision(spec: DatasetSpec) -> list[str] | None:
    from cnnlab.data.formats import torchvision_class

    names = getattr(torchvision_class(spec), "classes", None) if spec.torchvision_class else None
    return list(names) if isinstance(names, (list, tuple)) else None


def download_dataset(name: str, *, data_dir: PathLike = None) -> Path | None:
    """Make sure the official files are present (downloading the missing ones); their folder, or None
    for datasets that need no files (digits)."""
    if is_folder(name):
        raise ConfigError("folder: datasets are your own files; there is nothing to download")
    spec = get_spec(name)
    if not raw_files(spec):
        return None
    found = ensure_files(spec, data_dir, download=True)
    return next(iter(found.values())).parent
