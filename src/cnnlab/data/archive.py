"""Extracting dataset archives without trusting their member names.

torchvision's ``extract_archive`` calls ``tarfile.extractall`` without a filter, which on Python
< 3.14 writes members named ``../x`` or ``/etc/x`` and follows links out of the destination.
`safe_extract` checks every member first and extracts nothing if one is refused: absolute
paths, ``..`` components, symlinks, hard links and device or FIFO members (a dataset archive
holds regular files and folders only). Tar members go through Python's ``filter="data"`` too.
"""
from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from cnnlab.errors import DataError


def _refuse(archive: Path, member: str, why: str) -> DataError:
    return DataError(f"archive {archive} was refused: member {member!r} {why}. Nothing was extracted; "
                     "a dataset archive holds plain files only: delete it and download the official file")


def _check_name(archive: Path, name: str) -> None:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
        raise _refuse(archive, name, "has an absolute path")
    if ".." in parts:
        raise _refuse(archive, name, "points outside the destination (..)")


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for m in members:
            _check_name(archive, m.name)
            if m.issym() or m.islnk():
                raise _refuse(archive, m.name, f"is a {'symbolic' if m.issym() else 'hard'} link to {m.linkname!r}")
            if not (m.isfile() or m.isdir()):
                raise _refuse(archive, m.name, "is a device, FIFO or other special file")
            try:
                tarfile.data_filter(m, str(dest))
            except tarfile.FilterError as err:
                raise _refuse(archive, m.name, f"is unsafe ({err})") from None
        tar.extractall(dest, members=members, filter="data")


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _check_name(archive, info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(archive, info.filename, "is a symbolic link")
        zf.extractall(dest)


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract a .tar(.gz/.bz2/.xz) or .zip archive into ``dest``; DataError (nothing written) if unsafe."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, dest)
    else:
        try:
            _extract_tar(archive, dest)
        except tarfile.TarError as err:
            raise DataError(f"archive {archive} is corrupt or not a tar/zip archive ({err})") from err
    return dest
