"""Where dataset files are looked for, in order, and where downloads go.

Order: the `data_dir` argument (`--data-dir`), `$CNNLAB_DATA`, the per-user cache
(`platformdirs.user_cache_dir("cnnlab")/datasets`), then system locations (Debian's
`dataset-fashion-mnist` package installs `/usr/share/datasets/fashion-mnist/`).
Under each of these roots a dataset NAME is looked for in `ROOT/NAME/`, `ROOT/`, and torchvision's
own layouts `ROOT/<TorchvisionClass>/raw/` and `ROOT/<TorchvisionClass>/`, so an existing
torchvision download folder works as it is. A file `X.gz` may also be present decompressed as `X`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.formats import RawFile
from cnnlab.data.specs import DatasetSpec
from cnnlab.files import cache_root

ENV_VAR = "CNNLAB_DATA"
SYSTEM_ROOTS: tuple[str, ...] = ("/usr/share/datasets", "/usr/local/share/datasets")


@dataclass(frozen=True)
class SearchRoot:
    """A place data is looked for: a label for messages ("--data-dir", "$CNNLAB_DATA", ...) and a path."""

    label: str
    path: Path | None  # None: not given / not set


def user_data_root() -> Path:
    return cache_root() / "datasets"


def staging_root() -> Path:
    """Where torchvision layouts are built from found files (decompressed IDX, extracted archives)."""
    return cache_root() / "staged"


def search_roots(data_dir: str | os.PathLike | None) -> list[SearchRoot]:
    env = os.environ.get(ENV_VAR) or None
    roots = [
        SearchRoot("--data-dir", Path(data_dir).expanduser() if data_dir else None),
        SearchRoot(f"${ENV_VAR}", Path(env).expanduser() if env else None),
        SearchRoot("user cache", user_data_root()),
    ]
    roots += [SearchRoot("system", Path(p)) for p in SYSTEM_ROOTS]
    return roots


def candidate_dirs(spec: DatasetSpec, root: Path) -> list[Path]:
    dirs = [root / spec.name, root]
    if spec.torchvision_class:
        dirs += [root / spec.torchvision_class / "raw", root / spec.torchvision_class]
    return dirs


def _present(folder: Path, f: RawFile) -> Path | None:
    for name in (f.name, f.name.removesuffix(".gz")):
        if (folder / name).is_file():
            return folder / name
    return None


def find_in(folder: Path, files: list[RawFile]) -> dict[str, Path] | None:
    """All files in one folder -> {official name: path found}; None when any is missing."""
    found = {f.name: _present(folder, f) for f in files}
    return found if all(found.values()) else None  # type: ignore[return-value]


def find(spec: DatasetSpec, files: list[RawFile], roots: list[SearchRoot]) -> dict[str, Path] | None:
    """The first folder, in look-up order, that holds every file of the dataset."""
    for root in roots:
        if root.path is None:
            continue
        for folder in candidate_dirs(spec, root.path):
            found = find_in(folder, files)
            if found:
                return found
    return None


def download_dir(spec: DatasetSpec, roots: list[SearchRoot]) -> Path:
    """Downloads go to the first given root among --data-dir, $CNNLAB_DATA, the user cache."""
    first = next(r.path for r in roots if r.path is not None)
    return first / spec.name


def describe_search(spec: DatasetSpec, roots: list[SearchRoot]) -> str:
    """Every place looked, one root per line, for error messages and `cnnlab data info`."""
    lines = []
    for root in roots:
        if root.path is None:
            lines.append(f"  {root.label}: " + ("(not given)" if root.label.startswith("--") else "(not set)"))
        else:
            lines.append(f"  {root.label}: " + ", ".join(str(d) for d in candidate_dirs(spec, root.path)))
    return "\n".join(lines)
