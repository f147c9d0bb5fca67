"""`folder:PATH` datasets: an ImageFolder layout decoded by Pillow and streamed through a DataLoader.

Layout: `PATH/<class>/<image>` (seeded, stratified held-out splits become val and test), or
`PATH/train/<class>/...` with optional `PATH/val/` and `PATH/test/` (class folders named as in
train/), or `PATH.csv` of filename,label rows (see `label_csv`). Files are listed with
torchvision's `make_dataset`; files without an image extension are ignored with one warning.

Decoding rules (`decode_image`): Pillow opens the file; an image of more than
`PIL.Image.MAX_IMAGE_PIXELS` pixels (89,478,485 by default, about 9459x9459) is refused before
its pixels are decoded (a decompression bomb guard; raise the Pillow value to allow larger ones).
JPEGs are decoded at a reduced scale when much larger than the target (Pillow's draft mode).
The image is converted to gray ("L") or RGB (alpha dropped, palettes expanded, CMYK converted;
16/32-bit integer images keep their top 8 bits of the 0..65535 range, as torchvision's PNG
decoder does, instead of Pillow's clipping at 255) and resized
bilinearly to (H, W). A file that cannot be decoded is skipped with a warning naming it, and the
loader warns with the number skipped at the end of the epoch: never a crash halfway through.
"""
from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import IO, Any, Iterator

import numpy as np
import torch

from cnnlab.data.label_csv import is_label_csv, read_label_csv
from cnnlab.errors import ConfigError, DataError

SPLIT_DIRS = ("train", "val", "test")
HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")  # Pillow modes of 16/32-bit integer images
STATS_SAMPLE = 1000  # images decoded to estimate mean/std of a folder's training split


class DataWarning(UserWarning):
    """A recoverable data problem: an unreadable image skipped, files ignored."""


def open_image(path: str | Path | IO[bytes]) -> Any:
    """Pillow's lazy open (header only), refusing images above PIL.Image.MAX_IMAGE_PIXELS.

    Pillow alone only warns between 1x and 2x the limit; we refuse from 1x, before any pixel is decoded.
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
    except Image.DecompressionBombError as err:
        raise DataError(f"image exceeds the limit of {limit} pixels (PIL.Image.MAX_IMAGE_PIXELS): {err}") from err
    if limit and img.width * img.height > limit:
        img.close()
        raise DataError(f"{img.width}x{img.height} pixels exceeds the limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS)")
    return img


def to_mode(img: Any, mode: str) -> Any:
    """A Pillow image as gray "L" or "RGB", by the rules in this module's docstring."""
    from PIL import Image

    if img.mode in HIGH_DEPTH_MODES:  # Pillow's own conversion clips: a 16-bit image would be all white
        top8 = np.right_shift(np.asarray(img).astype(np.int64).clip(0, 65535), 8).astype(np.uint8)
        img = Image.fromarray(top8, "L")
    elif img.mode == "P":  # palette transparency must go through RGBA, or Pillow warns
        img = img.convert("RGBA")
    return img.convert(mode)


def decode_image(path: str, size: tuple[int, int], channels: int) -> torch.Tensor:
    """One image file -> uint8 (channels, H, W). Raises on any unreadable or oversized file."""
    from PIL import Image

    h, w = size
    with open_image(path) as img:
        mode = "L" if channels == 1 else "RGB"
        img.draft(mode, (w, h))
        img = to_mode(img, mode)
        if img.size != (w, h):
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        arr = np.asarray(img, dtype=np.uint8)
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def probe_image(path: str) -> tuple[tuple[int, int], int]:
    """(H, W) and natural channel count (1 gray, 3 colour) of an image, from its header."""
    with open_image(path) as img:
        bands = [b for b in img.getbands() if b != "A"]
        return (img.height, img.width), (1 if bands in (["L"], ["1"], ["I"], ["F"]) else 3)


class ImageFolderSplit(torch.utils.data.Dataset):
    """A streaming split of an image folder: item i is (uint8 image (C, H, W) or None, label, path).

    `None` marks an unreadable file; the loader drops it and warns. `samples` are (path, label).
    """

    def __init__(self, samples: list[tuple[str, int]], classes: list[str], image_size: tuple[int, int],
                 channels: int, root: str) -> None:
        self.samples = samples
        self.classes = classes
        self.resize_to = image_size
        self.channels_to = channels
        self.root = root

    @property
    def image_size(self) -> tuple[int, int]:
        return self.resize_to

    @property
    def channels(self) -> int:
        return self.channels_to

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str, str]:
        path, label = self.samples[index]
        try:
            return decode_image(path, self.resize_to, self.channels_to), label, path, ""
        except Exception as err:  # any decoder failure: the loader skips this file
            return None, label, path, f"{type(err).__name__}: {err}"

    def subset(self, indices: list[int]) -> "ImageFolderSplit":
        return ImageFolderSplit([self.samples[i] for i in indices], self.classes, self.resize_to,
                                self.channels_to, self.root)


def collate_decoded(items: list[tuple[Any, int, str, str]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Stack the decoded images of a batch; unreadable ones are left out and reported as 'path (reason)'."""
    good = [(img, label) for img, label, _, _ in items if img is not None]
    failed = [f"{path} ({why})" for img, _, path, why in items if img is None]
    if not good:
        return torch.empty(0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), failed
    return torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good], dtype=torch.int64), failed


class _PlanSampler:
    """A batch sampler whose batches are set by the loader each epoch (so workers can persist)."""

    def __init__(self) -> None:
        self.plan: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)


class FolderSource:
    """Streams an ImageFolderSplit through a DataLoader with workers; skips and counts unreadable files."""

    def __init__(self, split: ImageFolderSplit, device: torch.device, num_workers: int) -> None:
        self.split = split
        self.image_size = split.image_size
        self.channels = split.channels
        self.device = device
        self.sampler = _PlanSampler()
        self.loader = torch.utils.data.DataLoader(
            split, batch_sampler=self.sampler, num_workers=num_workers, collate_fn=collate_decoded,
            pin_memory=device.type == "cuda", persistent_workers=num_workers > 0)
        self.skipped: list[str] = []  # unreadable files of the last epoch

    def __len__(self) -> int:
        return len(self.split)

    def batches(self, plan: list[torch.Tensor], epoch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        self.sampler.plan = [idx.tolist() for idx in plan]
        self.skipped = []
        for j, (images, labels, failed) in enumerate(self.loader):
            for item in failed:
                warnings.warn(f"skipped unreadable image file {item}", DataWarning, stacklevel=2)
            self.skipped += failed
            if len(labels):  # a batch of only unreadable files yields nothing
                yield j, images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
        if self.skipped:
            warnings.warn(f"epoch {epoch}: skipped {len(self.skipped)} unreadable image file(s) in "
                          f"{self.split.root}", DataWarning, stacklevel=2)


# ---- reading the folder layout
def _list_split(folder: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension, make_dataset

    ignored: list[str] = []

    def is_image(path: str) -> bool:
        ok = has_file_allowed_extension(path, IMG_EXTENSIONS)
        if not ok and not Path(path).name.startswith("."):
            ignored.append(path)
        return ok

    samples = make_dataset(str(folder), class_to_idx, is_valid_file=is_image, allow_empty=True)
    if ignored:
        shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
        warnings.warn(f"ignored {len(ignored)} file(s) without an image extension in {folder}: {shown}",
                      DataWarning, stacklevel=3)
    return samples


def _split_dirs(root: Path) -> dict[str, Path | None]:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; folder:PATH needs PATH/<class>/<images> "
                        "or PATH/train/<class>/<images>")
    if any((root / d).is_dir() for d in SPLIT_DIRS):
        if not (root / "train").is_dir():
            raise DataError(f"{root} has val/ or test/ but no train/ folder; add {root / 'train'}/<class>/<images>")
        return {d: (root / d if (root / d).is_dir() else None) for d in SPLIT_DIRS}
    return {"train": root, "val": None, "test": None}


def scan_folder(path: str | Path) -> tuple[list[str], dict[str, list[tuple[str, int]] | None]]:
    """Classes (from train/) and the samples of each split present; DataError on a malformed layout.

    A path to a .csv file reads a label CSV instead (`cnnlab.data.label_csv`): one train split."""
    from torchvision.datasets.folder import find_classes

    if is_label_csv(path):
        classes, samples = read_label_csv(path)
        return classes, {"train": samples, "val": None, "test": None}
    root = Path(path).expanduser()
    dirs = _split_dirs(root)
    try:
        classes, class_to_idx = find_classes(str(dirs["train"]))
    except FileNotFoundError as err:
        raise DataError(f"no class folders in {dirs['train']}: put each class's images in its own sub-folder") from err
    splits: dict[str, list[tuple[str, int]] | None] = {}
    for name, folder in dirs.items():
        if folder is None:
            splits[name] = None
            continue
        extra = sorted(set(find_classes(str(folder))[0]) - set(classes))
        if extra:
            raise DataError(f"{folder} has class folders that train/ lacks: {', '.join(extra)}")
        splits[name] = _list_split(folder, class_to_idx)
    if not splits["train"]:
        raise DataError(f"no images found under {dirs['train']} (extensions: jpg, png, bmp, gif, tif, webp, ...)")
    return classes, splits


def infer_shape(samples: list[tuple[str, int]]) -> tuple[tuple[int, int], int]:
    """Size and channels of the first readable training image: the defaults for a folder dataset."""
    for path, _ in samples:
        try:
            return probe_image(path)
        except Exception:
            continue
    raise DataError(f"none of the {len(samples)} training images could be read")


def sample_for_stats(split: ImageFolderSplit, seed: int) -> Iterator[torch.Tensor]:
    """Decoded uint8 images (1, C, H, W) of up to STATS_SAMPLE seeded training samples, unreadable ones skipped."""
    indices = list(range(len(split)))
    random.Random(seed).shuffle(indices)
    for i in indices[:STATS_SAMPLE]:
        img = split[i][0]
        if img is not None:
            yield img.unsqueeze(0)


def check_channels(channels: int) -> int:
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (gray) or 3 (RGB), got {channels}")
    return channels
