"""The `cnnlab` program's OpenMP wait setting: a short spin by default, the user's own setting wins."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

OPENMP_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def openmp_env_after_cli_import(**preset: str) -> dict[str, str | None]:
    """The OpenMP variables a fresh interpreter holds after `import cnnlab.cli`, starting from ``preset``."""
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_VARS} | preset
    code = f"import json, os, cnnlab.cli; print(json.dumps({{k: os.environ.get(k) for k in {OPENMP_VARS!r}}}))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_cli_sets_a_short_openmp_spin_when_the_user_set_none():
    assert openmp_env_after_cli_import() == {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": "10000", "KMP_BLOCKTIME": "1"}


@pytest.mark.parametrize("name, value", [("OMP_WAIT_POLICY", "PASSIVE"), ("GOMP_SPINCOUNT", "0"),
                                         ("KMP_BLOCKTIME", "0")])
def test_cli_keeps_the_users_openmp_setting(name, value):
    env = openmp_env_after_cli_import(**{name: value})
    assert env[name] == value
    assert [k for k in OPENMP_VARS if env[k] is not None] == [name]
