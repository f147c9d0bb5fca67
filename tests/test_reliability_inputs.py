"""Untrusted input, injected for real: crafted images, malformed IDX files, hostile archives and
checkpoints, weights of another shape. Each case checks the exact outcome: a documented conversion
or a cnnlab error naming the problem, never a crash, an out-of-memory or code run from a file."""
from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import cnnlab
from cnnlab.data import load_dataset, make_loader
from cnnlab.data.archive import safe_extract
from cnnlab.data.folder import decode_image
from cnnlab.errors import CheckpointError, DataError
from cnnlab.eval.predict import load_image, predict
from cnnlab.training import load_model, read_checkpoint
from cnnlab.runs import load_weights

SRC = Path(cnnlab.__file__).parent
TESTS = Path(__file__).parent


# --- crafted image files -------------------------------------------------------------------------

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header promises width x height gray pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)  # never decoded: the header alone must be refused
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


RNG = np.random.default_rng(0)
GRAY = Image.fromarray(RNG.integers(0, 256, (20, 16), dtype=np.uint8), "L")
COLOR = Image.fromarray(RNG.integers(0, 256, (20, 16, 3), dtype=np.uint8), "RGB")
DEEP = (RNG.integers(0, 65536, (20, 16))).astype(np.uint16)      # a 16-bit gray image
CMYK = Image.fromarray(RNG.integers(0, 256, (20, 16, 4), dtype=np.uint8), "CMYK")


def _ref(img: Image.Image, size: int = 8) -> np.ndarray:
    """An already converted Pillow image at the model's size, resized by torchvision (antialiased
    bilinear, shorter side then centre crop: for these inputs a plain resize), as (H, W) or (H, W, C)."""
    from torchvision.transforms.v2 import functional as TF

    x = TF.center_crop(TF.resize(TF.pil_to_tensor(img), [size], antialias=True), [size, size])
    return x.permute(1, 2, 0).squeeze(-1).numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


# name -> (file bytes, expected: a reference gray 8x8 array for "converted", or a regex of the reason)
BAD_IMAGES = {
    "bomb-header-only.png": (bomb_png(30_000, 30_000), r"exceeds the limit"),    # 9e8 px: > 2x Pillow's limit
    "bomb-1.2x.png": (bomb_png(10_000, 10_000), r"exceeds the limit"),           # 1e8 px: Pillow would only warn
    "truncated.png": (_encode(GRAY, "PNG")[:60], r"truncated|broken|chunk|read"),
    "truncated.jpg": (_encode(COLOR, "JPEG")[:300], r"truncated|broken|read"),
    "text-named.png": (b"this is not an image\n" * 10, r"not a readable image"),
    "empty.png": (b"", r"not a readable image"),
    "html-named.jpg": (b"<html><body>404</body></html>", r"not a readable image"),
    "png-named.jpg": (_encode(GRAY, "PNG"), "converted"),                        # decoded by content
    "one-pixel.png": (_encode(Image.new("L", (1, 1), 77), "PNG"), "converted"),
    "deep16.png": (_encode(Image.fromarray(DEEP), "PNG"), "converted"),
    "cmyk.jpg": (_encode(CMYK, "JPEG"), "converted"),
}


def _expected_gray(name: str) -> np.ndarray:
    """The documented conversion of each convertible file to the 8x8 gray input of a digits model."""
    if name == "deep16.png":  # the top 8 bits of the 16-bit values (torchvision's PNG rule), not Pillow's clip
        return _ref(Image.fromarray((DEEP >> 8).astype(np.uint8), "L"))
    with Image.open(io.BytesIO(BAD_IMAGES[name][0])) as img:
        return _ref(img.convert("L"))


def _write_images(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, _) in BAD_IMAGES.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in BAD_IMAGES}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    """A real 1-epoch run (linear model on 8x8 digits): a trained model for predict and checkpoint tests."""
    out = tmp_path_factory.mktemp("runs")
    return cnnlab.train("linear", "digits", epochs=1, batch_size=64, lr=0.05, threads=1, report=False, quiet=True,
                        run_dir=str(out / "digits")).run_dir


def test_every_bad_image_is_skipped_with_its_reason_or_converted_through_predict(digits_run, tmp_path):
    files = _write_images(tmp_path / "imgs")
    result = predict(digits_run, [tmp_path / "imgs"], topk=3)  # a folder: every file in one call
    skipped = {Path(p).name: why for p, why in result.skipped}
    predicted = {Path(p.path).name for p in result.predictions}
    for name, (_, expected) in BAD_IMAGES.items():
        if expected == "converted":
            assert name in predicted, f"{name} should be converted, was skipped: {skipped.get(name)}"
            got = load_image(files[name], channels=1, size=(8, 8))
            np.testing.assert_array_equal(got[0].numpy(), _expected_gray(name), err_msg=name)
        else:
            assert name in skipped, f"{name} should be refused"
            assert re.search(expected, skipped[name], re.I), f"{name}: {skipped[name]}"
    assert len(predicted) + len(skipped) == len(BAD_IMAGES)


def test_cmyk_and_one_pixel_color_conversion_follows_pillow(tmp_path):
    files = _write_images(tmp_path)
    for name in ("cmyk.jpg", "one-pixel.png"):
        with Image.open(files[name]) as img:
            want = _ref(img.convert("RGB")).transpose(2, 0, 1)
        np.testing.assert_array_equal(load_image(files[name], channels=3, size=(8, 8)).numpy(), want, err_msg=name)
        assert decode_image(str(files[name]), (8, 8), 3).shape == (3, 8, 8)


def test_a_folder_dataset_full_of_bad_images_finishes_its_epoch(tmp_path):
    """Training on folder:PATH: every bad file is skipped mid-epoch with a warning, the epoch completes."""
    root = tmp_path / "pets"
    for cls in ("a", "b"):
        for i in range(4):  # good images first (the folder's size comes from the first readable one)
            (root / cls).mkdir(parents=True, exist_ok=True)
            GRAY.save(root / cls / f"0good{i}.png")
        _write_images(root / cls)
    result = cnnlab.train("linear", f"folder:{root}", epochs=1, batch_size=4, val_fraction=0, threads=1,
                          report=False, quiet=True, run_dir=str(tmp_path / "run"))
    assert result.status == "completed"
    converted = sum(e == "converted" for _, e in BAD_IMAGES.values())
    with pytest.warns(UserWarning, match=r"skipped 14 unreadable image file"):
        bundle = load_dataset(f"folder:{root}", val_fraction=0)
        loader = make_loader(bundle.train, batch_size=4, shuffle=False, mean=bundle.mean, std=bundle.std)
        seen = sum(len(y) for _, y in loader)
    assert seen == 2 * (4 + converted)  # the 7 refused files of each class are left out, nothing else


def test_decoded_size_is_bounded_by_the_target_not_the_file(tmp_path):
    """A large (but allowed) JPEG is decoded at reduced scale (draft mode) and resized: a small tensor."""
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (10, 200, 30)).save(path, quality=50)
    out = decode_image(str(path), (8, 8), 3)
    assert out.shape == (3, 8, 8)
    assert out[:, 4, 4].tolist() == pytest.approx([10, 200, 30], abs=6)


# --- IDX dataset files ---------------------------------------------------------------------------

IDX_SCRIPT = textwrap.dedent("""
    import os, struct, sys, tempfile
    from pathlib import Path
    import numpy as np
    assert not __debug__, "must run under python -O"  # the one assert here proves -O is active
    os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp()
    os.environ.pop("CNNLAB_DATA", None)
    from cnnlab.data import locate, load_dataset
    from cnnlab.errors import DataError
    locate.SYSTEM_ROOTS = ()

    def idx(arr, head=None, dims=None, cut=0, extra=b""):
        dims = arr.shape if dims is None else dims
        b = (head or bytes([0, 0, 8, arr.ndim])) + struct.pack(f">{len(dims)}i", *dims) + arr.tobytes() + extra
        return b[:len(b) - cut]

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    lab = rng.integers(0, 10, 30, dtype=np.uint8)
    CASES = {
        "bad magic": {"images": idx(img, head=b"\\x12\\x34\\x08\\x03")},
        "unknown type byte": {"images": idx(img, head=b"\\x00\\x00\\x07\\x03")},
        "zero dimensions": {"images": idx(img, head=b"\\x00\\x00\\x08\\x00", dims=())},
        "five dimensions": {"images": idx(img, head=b"\\x00\\x00\\x08\\x05", dims=(30, 28, 28, 1, 1))},
        "short payload": {"images": idx(img, cut=100)},
        "payload too long": {"images": idx(img, extra=b"xx")},
        "header cut": {"images": b"\\x00\\x00\\x08"},
        "zero bytes": {"images": b""},
        "dims of 2**31-1 images": {"images": idx(img, dims=(2**31 - 1, 28, 28))},
        "labels with image dims": {"labels": idx(img)},
        "images with label dims": {"images": idx(lab)},
        "fewer labels than images": {"labels": idx(lab[:20])},
        "label out of class range": {"labels": idx((lab + 200).astype(np.uint8))},
    }
    failures = []
    for name, case in CASES.items():
        folder = Path(tempfile.mkdtemp())
        files = {"train-images-idx3-ubyte": case.get("images", idx(img)),
                 "train-labels-idx1-ubyte": case.get("labels", idx(lab)),
                 "t10k-images-idx3-ubyte": idx(img[:10]), "t10k-labels-idx1-ubyte": idx(lab[:10])}
        for n, b in files.items():
            (folder / n).write_bytes(b)
        try:
            load_dataset("mnist", data_dir=str(folder), download=False)
            failures.append(f"{name}: loaded")
        except DataError as err:
            if "train-images-idx3-ubyte" not in str(err):
                failures.append(f"{name}: message names no file: {err}")
        except Exception as err:
            failures.append(f"{name}: {type(err).__name__}: {err}")
    print(f"{len(CASES)} cases, {len(failures)} failures")
    print("\\n".join(failures))
    sys.exit(1 if failures else 0)
""")
IDX_CASES = 13


def test_malformed_idx_files_raise_data_error_under_python_O(tmp_path):
    script = tmp_path / "idx_cases.py"
    script.write_text(IDX_SCRIPT)
    done = subprocess.run([sys.executable, "-O", str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{IDX_CASES} cases, 0 failures" in done.stdout


def test_no_bare_asserts_in_the_library():
    """`python -O` strips asserts: the library must check with real exceptions."""
    offenders = [f"{p.relative_to(SRC)}:{i}" for p in SRC.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if re.match(r"\s*assert\b", line)]
    assert offenders == []


# --- archives ------------------------------------------------------------------------------------

def _tar_with(path: Path, member: tarfile.TarInfo, payload: bytes = b"pwned") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("cifar-10-batches-py/readme.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if member.isfile():
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
        else:
            tar.addfile(member)
    return path


def _hostile_members(outside: Path) -> dict[str, tarfile.TarInfo]:
    def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
        m = tarfile.TarInfo(name)
        m.type, m.linkname = kind, link
        return m

    return {
        "dot-dot": info("cifar-10-batches-py/../../../../evil-dotdot.txt"),
        "absolute": info(str(outside / "evil-absolute.txt")),
        "symlink out": info("cifar-10-batches-py/link", tarfile.SYMTYPE, str(outside)),
        "symlink in": info("cifar-10-batches-py/inner", tarfile.SYMTYPE, "readme.txt"),
        "hardlink out": info("cifar-10-batches-py/hard", tarfile.LNKTYPE, str(outside / "target.txt")),
        "device": info("cifar-10-batches-py/dev", tarfile.CHRTYPE),
        "fifo": info("cifar-10-batches-py/fifo", tarfile.FIFOTYPE),
    }


ARCHIVE_CASES = list(_hostile_members(Path("/x")))


@pytest.mark.parametrize("case", ARCHIVE_CASES)
def test_hostile_tar_members_are_refused_and_nothing_is_written(tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target.txt").write_text("keep")
    dest = tmp_path / "a" / "b" / "c" / "dest"
    archive = _tar_with(tmp_path / "evil.tar.gz", _hostile_members(outside)[case])
    with pytest.raises(DataError, match="was refused: member") as err:
        safe_extract(archive, dest)
    assert "Nothing was extracted" in str(err.value)
    assert list(dest.rglob("*")) == []                       # not even the harmless member
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
    assert (outside / "target.txt").read_text() == "keep"
    assert not list(tmp_path.rglob("evil-*"))


@pytest.mark.parametrize("name", ["../evil-zip.txt", "/tmp/evil-zip-absolute.txt", "ok/../../evil-zip.txt"])
def test_hostile_zip_members_are_refused(tmp_path, name):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(name, "pwned")
    with pytest.raises(DataError, match="was refused"):
        safe_extract(archive, tmp_path / "dest")
    assert not list(tmp_path.rglob("evil-zip*")) and not Path("/tmp/evil-zip-absolute.txt").exists()


def test_cifar_archive_with_a_dot_dot_member_is_refused_by_load_dataset(tmp_path, monkeypatch):
    """End to end: the archive cnnlab extracts (CIFAR) goes through the safe extraction."""
    import torchvision.datasets as tvd

    from test_data_formats import md5

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("CNNLAB_DATA", raising=False)
    from cnnlab.data import locate

    monkeypatch.setattr(locate, "SYSTEM_ROOTS", ())
    folder = tmp_path / "files"
    folder.mkdir()
    archive = _tar_with(folder / tvd.CIFAR10.filename, _hostile_members(tmp_path)["dot-dot"])
    monkeypatch.setattr(tvd.CIFAR10, "tgz_md5", md5(archive))  # a checksum match does not make it trusted
    with pytest.raises(DataError, match="refused"):
        load_dataset("cifar10", data_dir=str(folder), download=False)
    assert not list(tmp_path.rglob("evil-*"))


# --- untrusted checkpoints -----------------------------------------------------------------------

class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_checkpoint(path: Path, marker: Path) -> Path:
    """A real torch zip checkpoint whose pickle calls os.system when unpickled without weights_only."""
    torch.save({"model": {"w": torch.zeros(1)}, "step": 1, "config": {}, "payload": _Exploit(marker)}, path)
    assert b"system" in zipfile.ZipFile(path).read(zipfile.ZipFile(path).namelist()[0].split("/")[0] + "/data.pkl")
    return path


def test_a_checkpoint_with_a_foreign_pickle_global_is_refused_and_never_run(digits_run, tmp_path):
    marker = tmp_path / "pwned"
    evil = _malicious_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(CheckpointError, match=r"evil\.pt was refused.*only loads weights_only"):
        read_checkpoint(evil)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(evil)
    # a run folder whose last.pt was replaced: resume, predict and evaluate all refuse it
    run = Path(shutil.copytree(digits_run, tmp_path / "run"))
    _malicious_checkpoint(run / "checkpoints" / "last.pt", marker)
    _malicious_checkpoint(run / "checkpoints" / "best.pt", marker)
    done = subprocess.run([sys.executable, "-m", "cnnlab", "train", "--resume", str(run)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "refused" in done.stdout + done.stderr and "Traceback" not in done.stderr
    with pytest.raises(CheckpointError, match="refused"):
        predict(run, [tmp_path])
    assert not marker.exists()


def test_no_unsafe_unpickling_anywhere_in_the_library():
    """Every torch.load says weights_only=True; nothing says weights_only=False or uses pickle.load."""
    calls = []
    for p in SRC.rglob("*.py"):
        text = p.read_text()
        assert "weights_only=False" not in text, p
        assert not re.search(r"\bpickle\.loads?\(|\bdill\b|\bjoblib\.load\(", text), p
        calls += [(p, m.group(0)) for m in re.finditer(r"torch\.load\([^)]*\)", text)]
    assert calls, "the grep found no torch.load at all"
    assert [c for c in calls if "weights_only=True" not in c[1]] == []


def _safetensors(header: bytes, body: bytes = b"", length: int | None = None) -> bytes:
    return struct.pack("<Q", len(header) if length is None else length) + header + body


SAFETENSORS_CASES = {
    "zero bytes": b"",
    "header length 2**60": _safetensors(b"{}", length=2**60),
    "header length past the end": _safetensors(b'{"a": 1}', length=1000),
    "header not JSON": _safetensors(b"\xff\xfe not json"),
    "offsets past the end": _safetensors(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', b"\0" * 8),
    "offsets reversed": _safetensors(b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', b"\0" * 8),
    "shape disagrees with offsets": _safetensors(b'{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', b"\0" * 8),
    "unknown dtype": _safetensors(b'{"w":{"dtype":"Q99","shape":[2],"data_offsets":[0,8]}}', b"\0" * 8),
    "meta not JSON": _safetensors(b'{"__metadata__":{"meta":"{not json"},"w":{"dtype":"F32","shape":[2],'
                                  b'"data_offsets":[0,8]}}', b"\0" * 8),
    "meta JSON not a mapping": _safetensors(b'{"__metadata__":{"meta":"[1, 2]"},"w":{"dtype":"F32","shape":[2],'
                                            b'"data_offsets":[0,8]}}', b"\0" * 8),
}


@pytest.mark.parametrize("case", list(SAFETENSORS_CASES))
def test_corrupt_safetensors_is_a_checkpoint_error_naming_the_file(tmp_path, case):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(SAFETENSORS_CASES[case])
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        read_checkpoint(path)


@pytest.mark.parametrize("change", [{"num_classes": 5}, {"in_channels": 3}])
def test_weights_of_another_class_or_channel_count_name_the_layer_and_both_shapes(digits_run, change):
    state = read_checkpoint(digits_run / "checkpoints" / "best.pt")
    meta = {**state["meta"], **change}
    model = cnnlab.create_model(meta["model"], num_classes=meta["num_classes"], in_channels=meta["in_channels"],
                                input_size=tuple(meta["input_size"]))
    name, tensor = next((k, v) for k, v in state["model"].items() if model.state_dict()[k].shape != v.shape)
    with pytest.raises(CheckpointError) as err:
        load_weights(model, state["model"], "best.pt")
    msg = str(err.value)
    assert repr(name) in msg and str(tuple(tensor.shape)) in msg and str(tuple(model.state_dict()[name].shape)) in msg


def test_torchvision_weights_of_another_class_count_need_an_explicit_new_head():
    import torchvision

    from cnnlab.models.convert import load_torchvision_weights

    weights = torchvision.models.resnet18(num_classes=7).state_dict()
    model = cnnlab.create_model("resnet18", num_classes=5, in_channels=3, input_size=(224, 224))
    with pytest.raises(CheckpointError, match=r"fc\.weight: \(7, 512\) vs \(5, 512\)"):
        load_torchvision_weights(model, weights)
    before = model.fc.weight.detach().clone()
    skipped = load_torchvision_weights(model, weights, skip_mismatched=True)  # "a new head", reported back
    assert skipped == ["fc.weight", "fc.bias"]
    assert torch.equal(model.fc.weight, before)
    assert torch.equal(model.conv1.weight, weights["conv1.weight"])


def test_a_run_checkpoint_into_another_class_count_needs_a_new_head_which_is_logged(digits_run):
    """`cnnlab train --weights RUN`: the class-count mismatch is an error naming the layer and both shapes
    with --keep-head (new_head=False); with a new head (the default) the replacement is logged."""
    from cnnlab.training.transfer import apply_pretrained, read_pretrained

    pretrained = read_pretrained(digits_run)
    model = cnnlab.create_model("linear", num_classes=5, in_channels=1, input_size=(8, 8))
    head = next(k for k, v in model.state_dict().items() if v.shape != pretrained.weights[k].shape)
    shapes = (str(tuple(pretrained.weights[head].shape)), str(tuple(model.state_dict()[head].shape)))
    with pytest.raises(CheckpointError) as err:
        apply_pretrained(model, pretrained, new_head=False, log=lambda m: None)
    assert repr(head) in str(err.value) and all(s in str(err.value) for s in shapes)
    logged: list[str] = []
    apply_pretrained(model, pretrained, new_head=True, log=logged.append)
    assert len(logged) == 1 and "new classifier layer" in logged[0] and "5 classes" in logged[0]
    assert shapes[0] in logged[0]  # the file's head shape is reported
