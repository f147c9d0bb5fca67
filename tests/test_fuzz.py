"""Property-based fuzzing (hypothesis) of the three parsers of untrusted files: image decoding (the
folder loader, `predict` and the explorer's upload check), the IDX dataset reader and checkpoint
loading (.pt and .safetensors). Inputs are random bytes and mutations of valid files (bit flips,
truncations, spliced garbage). Property: only the documented exception types, and each example
finishes (hypothesis' per-example deadline is the hang detector).

The unmarked tests run a few dozen examples each; the `slow` ones run hundreds (`-m slow`).
"""
from __future__ import annotations

import gzip
import io
import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, UnidentifiedImageError

from cnnlab.app.uploads import UploadRejected, check_image
from cnnlab.data import load_dataset, locate
from cnnlab.data.folder import decode_image
from cnnlab.errors import CheckpointError, DataError
from cnnlab.eval.predict import load_image
from cnnlab.training import read_checkpoint
from cnnlab.runs import save_checkpoint, save_safetensors

QUICK = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=400, deadline=20_000, suppress_health_check=list(HealthCheck))

# what each parser may raise for bad bytes (their docstrings); anything else is a bug
IMAGE_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError, DataError)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


_rng = np.random.default_rng(0)
_pixels = _rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
SEED_IMAGES = [
    _encode(Image.fromarray(_pixels), "PNG"),
    _encode(Image.fromarray(_pixels), "JPEG", quality=80),
    _encode(Image.fromarray(_pixels[..., 0]), "GIF"),
    _encode(Image.fromarray(_pixels), "BMP"),
    _encode(Image.fromarray(_pixels), "WEBP"),
    _encode(Image.fromarray((_pixels[..., 0].astype(np.uint16) * 257)), "PNG"),   # 16-bit
    _encode(Image.fromarray(_pixels).convert("CMYK"), "JPEG"),
    _encode(Image.fromarray(_pixels).convert("P"), "PNG", transparency=0),
]


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A valid file with a few random edits: flipped bytes, a cut, an inserted run of garbage."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(max_size=64))
    return bytes(data)


def any_bytes(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(seeds), st.binary(max_size=512))


# --- image decoding ------------------------------------------------------------------------------

def check_image_bytes(folder: Path, data: bytes) -> None:
    path = folder / "x.img"
    path.write_bytes(data)
    for decode in (lambda: decode_image(str(path), (8, 8), 3), lambda: load_image(path, channels=1, size=(8, 8))):
        try:
            out = decode()
        except IMAGE_ERRORS:
            continue
        assert out.dtype == torch.uint8 and tuple(out.shape[-2:]) == (8, 8)
    try:
        check_image(data)
    except UploadRejected as err:
        assert 400 <= err.status_code < 500


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@QUICK
@given(data=any_bytes(SEED_IMAGES))
def test_fuzz_image_decoding_quick(scratch, data):
    check_image_bytes(scratch, data)


@pytest.mark.slow
@SLOW
@given(data=any_bytes(SEED_IMAGES))
def test_fuzz_image_decoding(scratch, data):
    check_image_bytes(scratch, data)


# --- the IDX reader (through load_dataset, as users reach it) ------------------------------------

def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.tobytes()


_images = _rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
_labels = _rng.integers(0, 10, 6, dtype=np.uint8)
GOOD_IDX = {"train-images-idx3-ubyte": _idx(_images), "train-labels-idx1-ubyte": _idx(_labels),
            "t10k-images-idx3-ubyte": _idx(_images[:3]), "t10k-labels-idx1-ubyte": _idx(_labels[:3])}
_counter = itertools.count()


def check_idx_bytes(folder: Path, name: str, data: bytes, compress: bool) -> None:
    """Replace one of the four MNIST files by ``data``; load_dataset must load or raise DataError."""
    root = folder / f"idx{next(_counter)}"
    root.mkdir()
    for n, blob in {**GOOD_IDX, name: data}.items():
        if compress:
            (root / f"{n}.gz").write_bytes(gzip.compress(blob) if n != name else blob)
        else:
            (root / n).write_bytes(blob)
    try:
        bundle = load_dataset("mnist", data_dir=str(root), download=False, val_fraction=0)
    except DataError:
        return
    assert len(bundle.train.labels) == len(bundle.train.images)
    assert int(bundle.train.labels.max()) < 10


@pytest.fixture(scope="module")
def idx_env(tmp_path_factory):
    folder = tmp_path_factory.mktemp("idx")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(locate.ENV_VAR, raising=False)
        mp.setenv("XDG_CACHE_HOME", str(folder / "cache"))
        mp.setattr(locate, "SYSTEM_ROOTS", ())
        yield folder


idx_cases = st.tuples(st.sampled_from(sorted(GOOD_IDX)), st.booleans()).flatmap(
    lambda nc: st.tuples(st.just(nc[0]), any_bytes([GOOD_IDX[nc[0]]] if not nc[1] else [gzip.compress(GOOD_IDX[nc[0]])]),
                         st.just(nc[1])))


@QUICK
@given(case=idx_cases)
def test_fuzz_idx_reader_quick(idx_env, case):
    check_idx_bytes(idx_env, *case)


@pytest.mark.slow
@SLOW
@given(case=idx_cases)
def test_fuzz_idx_reader(idx_env, case):
    check_idx_bytes(idx_env, *case)


# --- checkpoint loading --------------------------------------------------------------------------

def _checkpoint_seeds() -> list[bytes]:
    buf = io.BytesIO()
    torch.save({"format_version": 1, "model": {"w": torch.arange(6.0).view(2, 3)}, "step": 3,
                "meta": {"model": "linear"}}, buf)
    return [buf.getvalue()]


def _safetensors_seed(folder: Path) -> bytes:
    path = save_safetensors({"w": torch.arange(6.0).view(2, 3), "b": torch.zeros(2)}, {"model": "linear"},
                            folder / "seed.safetensors")
    return path.read_bytes()


PT_SEEDS = _checkpoint_seeds()


def check_checkpoint_bytes(folder: Path, data: bytes, suffix: str) -> None:
    path = folder / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        state = read_checkpoint(path)
    except CheckpointError as err:
        assert str(path) in str(err)
        return
    assert isinstance(state, dict)


@pytest.fixture(scope="module")
def st_seed(scratch) -> list[bytes]:
    return [_safetensors_seed(scratch)]


@QUICK
@given(data=any_bytes(PT_SEEDS))
def test_fuzz_checkpoint_loading_quick(scratch, data):
    check_checkpoint_bytes(scratch, data, ".pt")


@QUICK
@given(data=st.data())
def test_fuzz_safetensors_loading_quick(scratch, st_seed, data):
    check_checkpoint_bytes(scratch, data.draw(any_bytes(st_seed)), ".safetensors")


@pytest.mark.slow
@SLOW
@given(data=any_bytes(PT_SEEDS))
def test_fuzz_checkpoint_loading(scratch, data):
    check_checkpoint_bytes(scratch, data, ".pt")


@pytest.mark.slow
@SLOW
@given(data=st.data())
def test_fuzz_safetensors_loading(scratch, st_seed, data):
    check_checkpoint_bytes(scratch, data.draw(any_bytes(st_seed)), ".safetensors")


def test_a_saved_checkpoint_survives_the_fuzz_harness(scratch):
    """The harness itself accepts a valid file (so 'only errors' is not what the fuzz tests see)."""
    path = save_checkpoint({"model": {"w": torch.ones(2)}, "step": 1}, scratch / "ok.pt")
    check_checkpoint_bytes(scratch, path.read_bytes(), ".pt")
    assert read_checkpoint(scratch / "fuzz.pt")["step"] == 1
    check_image_bytes(scratch, SEED_IMAGES[0])
    assert load_image(scratch / "x.img", channels=3, size=(8, 8)).shape == (3, 8, 8)
