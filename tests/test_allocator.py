"""The allocator setting the `cnnlab` program makes at start: glibc keeps freed memory, unless the user chose."""
from __future__ import annotations

import platform

import pytest

from cnnlab.allocator import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_keeps_freed_memory():
    assert keep_freed_memory() is True


@pytest.mark.parametrize("name, value", [("MALLOC_TRIM_THRESHOLD_", "131072"), ("LD_PRELOAD", "/usr/lib/libjemalloc.so.2"),
                                         ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")])
def test_a_choice_of_the_user_wins(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    assert keep_freed_memory() is False
