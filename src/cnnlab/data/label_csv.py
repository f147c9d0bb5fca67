"""`folder:FILE.csv`: a CSV of image file names and labels beside a folder of images (Kaggle's layout).

Each row is ``filename,label`` (further columns are ignored); a first row whose file cannot be found
is taken for a header. A name is looked up relative to the CSV's folder, then in the folder named
after the CSV (``train.csv`` -> ``train/``) and in ``images/``; a name without an extension (a Kaggle
id) gets the first image extension that exists. Classes are the labels sorted (numerically when
they are all integers). Rows whose file is missing are skipped with one warning.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

from cnnlab.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_label_csv(path: str | Path) -> bool:
    return Path(path).expanduser().suffix.lower() == ".csv"


def _image_dirs(csv_path: Path) -> list[Path]:
    here = csv_path.parent
    return [d for d in (here, here / csv_path.stem, here / "images") if d.is_dir()]


def _find(name: str, dirs: list[Path]) -> Path | None:
    for folder in dirs:
        candidate = folder / name
        if candidate.is_file():
            return candidate
        if not candidate.suffix:
            for ext in IMAGE_EXTENSIONS:
                if candidate.with_suffix(ext).is_file():
                    return candidate.with_suffix(ext)
    return None


def _sorted_labels(labels: set[str]) -> list[str]:
    if all(label.lstrip("-").isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def read_label_csv(path: str | Path) -> tuple[list[str], list[tuple[str, int]]]:
    """(classes, samples as (image path, class index)) of a label CSV; DataError when no row is usable."""
    csv_path = Path(path).expanduser()
    if not csv_path.is_file():
        raise DataError(f"label file {csv_path} does not exist; folder:FILE.csv needs a CSV of filename,label rows")
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    dirs = _image_dirs(csv_path)
    found: list[tuple[Path, str]] = []
    missing: list[str] = []
    for i, row in enumerate(rows):
        if len(row) < 2:
            raise DataError(f"{csv_path} line {i + 1} has {len(row)} column(s); each row needs filename,label")
        name, label = row[0].strip(), row[1].strip()
        image = _find(name, dirs)
        if image is not None:
            found.append((image, label))
        elif i > 0:  # a first row that names no file is the header
            missing.append(name)
    if not found:
        where = ", ".join(str(d) for d in dirs)
        raise DataError(f"none of the {len(rows)} files listed in {csv_path} was found in {where}: put the images "
                        "beside the CSV, in a folder named after it, or in images/")
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warnings.warn(f"{len(missing)} file(s) listed in {csv_path} were not found and are left out: {shown}",
                      stacklevel=2)
    classes = _sorted_labels({label for _, label in found})
    index = {c: i for i, c in enumerate(classes)}
    return classes, [(str(image), index[label]) for image, label in found]
