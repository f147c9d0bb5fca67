"""A disk cache of computed features, one file per dataset, images and extractor settings.

The key hashes the extractor's settings and the exact images and labels of every split (a
SHA-256 of their bytes), so a changed split, limit, seed, image size or setting can never
load stale features. Files are ``.npz`` archives written atomically (temporary file, then
rename), so an interrupted run leaves no half-written entry. The default folder is
``<per-user cache>/features`` (``~/.cache/cnnlab/features`` on Linux).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cnnlab.files import cache_root

CACHE_VERSION = 1  # bump when an extractor's output changes for the same settings


def default_cache_dir() -> Path:
    return cache_root() / "features"


def fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 of the shapes, dtypes and bytes of ``arrays``."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def cache_key(label: str, settings: Mapping[str, Any], data_fingerprint: str) -> str:
    """A file-name-safe key: readable label (dataset, method) + a hash of settings and data."""
    payload = json.dumps({"v": CACHE_VERSION, "settings": settings, "data": data_fingerprint}, sort_keys=True)
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label)
    return f"{safe}-{hashlib.sha256(payload.encode()).hexdigest()[:20]}"


class FeatureCache:
    """Arrays stored by key under ``root`` (created on first save)."""

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays saved under ``key``, or None when absent or unreadable (then recomputed)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (OSError, ValueError):  # truncated or foreign file: treat as a miss
            return None

    def save(self, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, self.path(key))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return self.path(key)
