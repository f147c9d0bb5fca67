"""folder:PATH datasets: layouts, decoding against Pillow, corrupt and oversized files skipped with warnings."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import DataWarning, ImageFolderSplit, dataset_info, load_dataset, make_loader
from cnnlab.data.folder import decode_image
from cnnlab.errors import DataError


def _image(mode: str, size=(20, 16), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "P":
        return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).quantize(16)
    bands = len(mode)
    arr = rng.integers(0, 256, (size[1], size[0], bands) if bands > 1 else (size[1], size[0]), dtype=np.uint8)
    return Image.fromarray(arr, mode)


def make_folder(root, classes=("cat", "dog"), per_class=6, corrupt=True, modes=("RGB", "L", "RGBA", "P")):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            _image(modes[i % len(modes)], seed=10 * c + i).save(root / name / f"{i}.png")
    if corrupt:
        (root / classes[0] / "broken.png").write_bytes(b"not a png at all")
        (root / classes[0] / "notes.txt").write_text("ignored, not an image name")
    return root


def _all(loader):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(loader)
    return batches, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def test_folder_with_a_corrupt_file_skips_it_and_counts(tmp_path):
    root = make_folder(tmp_path / "pets")
    with pytest.warns(DataWarning, match="notes.txt"):
        bundle = load_dataset(f"folder:{root}", val_fraction=0, image_size=24, channels=3)
    assert bundle.classes == ["cat", "dog"] and bundle.in_channels == 3 and bundle.image_size == (24, 24)
    assert isinstance(bundle.train, ImageFolderSplit) and len(bundle.train) == 13 and bundle.val is None
    loader = make_loader(bundle.train, batch_size=4, shuffle=True, mean=bundle.mean, std=bundle.std)
    batches, messages = _all(loader)
    assert sum(len(y) for _, y in batches) == 12
    assert all(x.shape[1:] == (3, 24, 24) for x, _ in batches)
    assert any("broken.png" in m for m in messages)
    assert any("skipped 1 unreadable image file(s)" in m for m in messages)
    assert len(loader.source.skipped) == 1


def test_workers_stream_the_same_batches(tmp_path):
    root = make_folder(tmp_path / "pets", corrupt=False)
    bundle = load_dataset(f"folder:{root}", val_fraction=0.25, seed=1, image_size=16, channels=1)
    kw = dict(batch_size=3, shuffle=True, mean=bundle.mean, std=bundle.std, seed=5)
    serial = list(make_loader(bundle.train, **kw))
    parallel = list(make_loader(bundle.train, num_workers=2, **kw))
    assert len(serial) == len(parallel) == 2  # 12 images - 3 validation - 3 test = 6 = 2 batches
    assert all(torch.equal(a, b) and torch.equal(ya, yb) for (a, ya), (b, yb) in zip(serial, parallel))


def test_train_val_test_layout(tmp_path):
    root = tmp_path / "data"
    make_folder(root / "train", corrupt=False)
    make_folder(root / "val", per_class=2, corrupt=False)
    make_folder(root / "test", classes=("dog",), per_class=3, corrupt=False)
    bundle = load_dataset(f"folder:{root}")
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (12, 4, 3)
    assert set(bundle.test.targets) == {1}  # "dog" keeps its train/ index
    assert bundle.image_size == (16, 20) and bundle.in_channels == 3  # from the first image: 20x16 RGB
    info = dataset_info(f"folder:{root}")
    assert info.classes == ["cat", "dog"] and info.num_train == 12 and info.num_test == 3


def test_a_flat_folder_gets_seeded_disjoint_stratified_val_and_test_splits(tmp_path):
    root = make_folder(tmp_path / "pets", classes=("cat", "dog", "owl"), per_class=10, corrupt=False)
    a = load_dataset(f"folder:{root}", val_fraction=0.2, seed=2)
    b = load_dataset(f"folder:{root}", val_fraction=0.2, seed=2)
    c = load_dataset(f"folder:{root}", val_fraction=0.2, seed=3)
    assert a.val.samples == b.val.samples and a.test.samples == b.test.samples
    assert a.val.samples != c.val.samples
    assert (len(a.train), len(a.val), len(a.test)) == (18, 6, 6)
    paths = [{p for p, _ in split.samples} for split in (a.train, a.val, a.test)]
    assert not (paths[0] & paths[1] or paths[0] & paths[2] or paths[1] & paths[2])
    assert sorted(a.val.targets) == sorted(a.test.targets) == [0, 0, 1, 1, 2, 2]  # every class its share
    assert a.notes == [f"folder:{root} has no val/ or test/ folder: held out 6 validation and 6 test images of 30 "
                       "(20% each, stratified by class, seed 2)"]


def test_a_train_only_folder_with_test_holds_out_validation_only(tmp_path):
    make_folder(tmp_path / "data" / "train", per_class=10, corrupt=False)
    make_folder(tmp_path / "data" / "test", per_class=2, corrupt=False)
    bundle = load_dataset(f"folder:{tmp_path / 'data'}", val_fraction=0.2)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (16, 4, 4)
    assert "held out 4 validation images of 20 (20%, stratified" in bundle.notes[0]


def test_too_few_images_per_class_to_stratify_still_splits_and_says_so(tmp_path):
    root = make_folder(tmp_path / "pets", classes=("a", "b", "c", "d"), per_class=2, corrupt=False)
    bundle = load_dataset(f"folder:{root}", val_fraction=0.2)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (4, 2, 2)  # 2 held out each: fewer than 4 classes
    assert "at random: too few images per class to stratify" in bundle.notes[0]


@pytest.mark.parametrize("mode,channels,ref_mode", [("RGBA", 3, "RGB"), ("RGB", 1, "L"), ("L", 3, "RGB"),
                                                    ("P", 3, "RGB"), ("P", 1, "L")])
def test_decode_matches_pillow_conversion(tmp_path, mode, channels, ref_mode):
    img = _image(mode)
    img.save(tmp_path / "x.png")
    ref = img.convert("RGBA").convert(ref_mode) if mode == "P" else img.convert(ref_mode)
    ref = np.asarray(ref.resize((10, 12), Image.Resampling.BILINEAR))
    out = decode_image(str(tmp_path / "x.png"), (12, 10), channels)
    assert out.shape == (channels, 12, 10) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), ref[None] if channels == 1 else ref.transpose(2, 0, 1))


def test_decompression_bomb_guard(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "pets", corrupt=False)
    Image.new("L", (200, 200)).save(root / "cat" / "huge.png")
    bundle = load_dataset(f"folder:{root}", val_fraction=0, image_size=8, channels=1)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150 * 150)  # 200x200 is 1.8x: Pillow would only warn
    with pytest.raises(DataError, match="exceeds the limit"):
        decode_image(str(root / "cat" / "huge.png"), (8, 8), 1)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100)  # 4x: Pillow's own DecompressionBombError
    with pytest.raises(DataError, match="exceeds the limit"):
        decode_image(str(root / "cat" / "huge.png"), (8, 8), 1)
    batches, messages = _all(make_loader(bundle.train, batch_size=64, shuffle=False, mean=(0.5,), std=(0.5,)))
    assert sum(len(y) for _, y in batches) == 12
    assert any("huge.png" in m and "exceeds" in m for m in messages)


def test_bad_folders_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}")
    (tmp_path / "only_val" / "val" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no train/"):
        load_dataset(f"folder:{tmp_path / 'only_val'}")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_folder_resume_mid_epoch_sees_the_same_augmented_batches(tmp_path):
    from cnnlab.data import AugmentConfig

    root = make_folder(tmp_path / "pets")
    with pytest.warns(DataWarning):
        bundle = load_dataset(f"folder:{root}", val_fraction=0, image_size=12, channels=1)
    loader = make_loader(bundle.train, batch_size=1, shuffle=True, mean=bundle.mean, std=bundle.std, seed=3,
                         augment=AugmentConfig(crop_padding=2, hflip=True, erasing=0.5))
    loader.set_epoch(1)
    full, _ = _all(loader)  # 13 planned batches, the corrupt file's batch left out
    assert len(full) == 12 and len(loader) == 13
    loader.set_epoch(1, start_batch=6)
    tail, _ = _all(loader)
    assert len(tail) in (6, 7)
    expected = full[len(full) - len(tail):]
    assert all(torch.equal(a, b) and torch.equal(ya, yb) for (a, ya), (b, yb) in zip(tail, expected))


# --- folder:FILE.csv: filename,label rows beside the images (Kaggle's layout) --------------------------

def _kaggle(root, labels: dict[str, str], header: bool = True, folder: str = "train"):
    (root / folder).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(labels):
        _image("L", seed=i).save(root / folder / f"{name}.png")
    lines = (["id,label"] if header else []) + [f"{name},{label}" for name, label in labels.items()]
    (root / f"{folder}.csv").write_text("\n".join(lines) + "\n")
    return root / f"{folder}.csv"


def test_a_label_csv_names_images_by_id_in_the_folder_named_after_it(tmp_path):
    labels = {f"img{i}": str(label) for i, label in enumerate([10, 2, 2, 10, 2, 10, 2, 10, 10, 2])}
    csv_file = _kaggle(tmp_path, labels)
    with open(csv_file, "a") as f:
        f.write("gone,2\n")
    with pytest.warns(UserWarning, match=r"1 file\(s\) listed in .*train.csv were not found and are left out: gone"):
        bundle = load_dataset(f"folder:{csv_file}", val_fraction=0.2, seed=1)
    assert bundle.classes == ["2", "10"]  # integer labels sort as numbers
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (6, 2, 2)
    every = {p: y for split in (bundle.train, bundle.val, bundle.test) for p, y in split.samples}
    assert {Path(p).stem: bundle.classes[y] for p, y in every.items()} == labels
    assert bundle.notes[0].startswith(f"folder:{csv_file}: held out 2 validation and 2 test images of 10")


def test_a_headerless_label_csv_beside_its_images(tmp_path):
    for i, name in enumerate(("a.png", "b.png", "c.png")):  # names with extensions, in the CSV's own folder
        _image("L", seed=i).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("a.png,cat\nb.png,dog\nc.png,cat\n")
    bundle = load_dataset(f"folder:{tmp_path / 'labels.csv'}", val_fraction=0)
    assert bundle.classes == ["cat", "dog"] and sorted(bundle.train.targets) == [0, 0, 1]  # the first row is data


def test_a_label_csv_that_names_no_existing_file_is_a_data_error(tmp_path):
    (tmp_path / "labels.csv").write_text("id,label\nnope,cat\n")
    with pytest.raises(DataError, match="none of the 2 files listed"):
        load_dataset(f"folder:{tmp_path / 'labels.csv'}")
    (tmp_path / "one.csv").write_text("just-a-name\n")
    with pytest.raises(DataError, match="each row needs filename,label"):
        load_dataset(f"folder:{tmp_path / 'one.csv'}")


def test_run_names_use_the_datasets_base_name():
    from cnnlab.training.run import data_label

    assert data_label("folder:/root/.cache/hidden-mnist/") == "hidden-mnist"
    assert data_label("folder:/data/dogs/labels.csv") == "dogs"
    assert data_label("digits") == "digits"
