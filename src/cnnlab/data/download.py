"""Finding a dataset's files, downloading the missing ones, and the error when neither works.

Downloads use torchvision's `download_url` into a private temporary folder next to the
destination; the file is renamed into place only after its MD5 matches the checksum torchvision
lists, so an interrupted or wrong download never leaves a half-written file where it would be found.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cnnlab.data import locate
from cnnlab.data.formats import RawFile, raw_files
from cnnlab.data.specs import DatasetSpec
from cnnlab.errors import DataError

TIMEOUT_S = 60.0  # per network operation; urllib waits forever otherwise


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    if old is None:
        socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def fetch(url: str, dest: Path, md5: str) -> Path:
    """Download `url` to `dest` atomically: temp file, MD5 check, then rename. DataError on any failure."""
    from torchvision.datasets.utils import calculate_md5, download_url

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest.parent))
    try:
        tmp = tmp_dir / dest.name
        try:
            with _socket_timeout(TIMEOUT_S):
                download_url(url, str(tmp_dir), dest.name, md5=None)  # we check the MD5 ourselves, below
        except Exception as err:
            raise DataError(f"download of {url} failed: {err}") from err
        got = calculate_md5(str(tmp))
        if got != md5:
            raise DataError(
                f"download of {url} failed its checksum: MD5 {got}, expected {md5}. The file was discarded; "
                "the server sent something else (a proxy or error page?). Try again later or put the official "
                f"file at {dest} yourself."
            )
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return dest


def _download_one(f: RawFile, folder: Path) -> tuple[Path | None, list[str]]:
    errors = []
    for url in f.urls:
        try:
            return fetch(url, folder / f.name, f.md5), errors
        except DataError as err:
            errors.append(str(err))
    return None, errors


def not_found_error(spec: DatasetSpec, files: list[RawFile], roots: list[locate.SearchRoot],
                    failures: list[str]) -> DataError:
    """The error that names the dataset, every place looked and the exact files to put where."""
    target = locate.download_dir(spec, roots)
    wanted = "\n".join(f"  {f.name}  (MD5 {f.md5}; from {f.urls[0]})" for f in files)
    why = "\n".join(f"  {msg}" for msg in failures) if failures else "  (download=False: not attempted)"
    return DataError(
        f"dataset {spec.name!r} was not found and could not be downloaded.\n"
        f"Looked in, in this order:\n{locate.describe_search(spec, roots)}\n"
        f"Download:\n{why}\n"
        f"Fix: put these files in {target}/ (or in any folder above, or pass --data-dir / set ${locate.ENV_VAR}):\n"
        f"{wanted}\n"
        f"or run `cnnlab data download {spec.name}` on a machine with internet access and copy the folder over."
    )


def ensure_files(spec: DatasetSpec, data_dir: str | os.PathLike | None, *, download: bool = True) -> dict[str, Path]:
    """Paths of every official file of `spec`: found in the look-up order, else downloaded, else DataError."""
    files = raw_files(spec)
    roots = locate.search_roots(data_dir)
    found = locate.find(spec, files, roots)
    if found:
        return found
    if not download:
        raise not_found_error(spec, files, roots, [])
    folder = locate.download_dir(spec, roots)
    # Keep files that are already there (a previous partial set), fetch only what is missing.
    result: dict[str, Path] = {}
    failures: list[str] = []
    for f in files:
        path = locate.find_in(folder, [f])
        if path:
            result.update(path)
            continue
        got, errors = _download_one(f, folder)
        if got is None:
            failures += errors
        else:
            result[f.name] = got
    if failures:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # leave no trace of a failed first download
        raise not_found_error(spec, files, roots, failures)
    return result
