"""make_loader: determinism, mid-epoch resume, DDP shards, and each batch operation against a reference."""
from __future__ import annotations

import itertools

import pytest
import torch
from torchvision.transforms import v2

from cnnlab.data import AugmentConfig, TensorSplit, make_loader
from cnnlab.data.augment import ERASE_AREA, random_crop, random_crop_flip, random_erasing, random_hflip
from cnnlab.errors import ConfigError

AUG = AugmentConfig(crop_padding=2, hflip=True, erasing=0.5)


def _split(n: int = 103, c: int = 1, size: int = 12, seed: int = 0) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    return TensorSplit(images, torch.arange(n))  # label = index: batches show which images they hold


def _loader(split, **kw):
    args = dict(batch_size=16, shuffle=True, mean=(0.5,) * split.channels, std=(0.25,) * split.channels,
                augment=AUG, seed=7)
    return make_loader(split, **{**args, **kw})


def _epoch(loader, epoch, start_batch=0):
    loader.set_epoch(epoch, start_batch)
    return list(loader)


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


def test_batches_shapes_dtypes_and_len():
    split = _split()
    loader = _loader(split)
    batches = _epoch(loader, 0)
    assert len(loader) == len(batches) == 7
    x, y = batches[0]
    assert x.shape == (16, 1, 12, 12) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == list(range(103))
    assert len(_loader(split, drop_last=True)) == 6 == len(_epoch(_loader(split, drop_last=True), 0))


def test_same_seed_same_batches_other_seed_or_epoch_differs():
    split = _split()
    assert _same(_epoch(_loader(split), 3), _epoch(_loader(split), 3))
    assert not _same(_epoch(_loader(split), 3), _epoch(_loader(split), 4))
    assert not _same(_epoch(_loader(split), 3), _epoch(_loader(split, seed=8), 3))


def test_start_batch_equals_the_tail_of_a_full_epoch():
    split = _split()
    full = _epoch(_loader(split), 2)
    for b in (1, 4, 6):
        assert _same(_epoch(_loader(split), 2, start_batch=b), full[b:])


def test_no_shuffle_no_augment_is_the_normalized_data_in_order():
    split = _split(n=20, c=3)
    loader = make_loader(split, batch_size=8, shuffle=False, mean=(0.1, 0.2, 0.3), std=(0.5, 0.6, 0.7))
    x = torch.cat([x for x, _ in loader])
    ref = v2.Normalize((0.1, 0.2, 0.3), (0.5, 0.6, 0.7))(v2.ToDtype(torch.float32, scale=True)(split.images))
    torch.testing.assert_close(x, ref)


@pytest.mark.parametrize("n,world", [(100, 4), (103, 4), (10, 3), (5, 8)])
def test_shards_are_disjoint_cover_the_data_and_have_equal_length(n, world):
    split = _split(n=n)
    shards = []
    for rank in range(world):
        loader = _loader(split, batch_size=4, shard=(rank, world))
        ys = torch.cat([y for _, y in _epoch(loader, 1)]).tolist()
        assert len(ys) == loader.num_samples and len(_epoch(loader, 1)) == len(loader)
        shards.append(ys)
    assert len({len(s) for s in shards}) == 1
    everything = list(itertools.chain(*shards))
    assert set(everything) == set(range(n))
    if n % world == 0:
        assert len(everything) == n  # disjoint
    else:
        assert len(everything) - len(set(everything)) == len(shards[0]) * world - n  # only the wrap-around padding


def test_random_crop_is_a_window_of_the_zero_padded_image():
    x = _split(n=32, c=3).images
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(x)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[i], padded[i, :, dy:dy + 12, dx:dx + 12])]
        assert hits, f"image {i} is not a crop of its padded original"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets vary per image


def test_crop_then_flip_in_one_gather():
    x = _split(n=64, c=2).images
    out = random_crop_flip(x, 1, True, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    kinds = []
    for i in range(len(x)):
        windows = [padded[i, :, dy:dy + 12, dx:dx + 12] for dy in range(3) for dx in range(3)]
        plain = any(torch.equal(out[i], win) for win in windows)
        flipped = any(torch.equal(out[i], win.flip(-1)) for win in windows)
        assert plain or flipped
        kinds.append(flipped and not plain)
    assert 10 < sum(kinds) < 54


def test_hflip_mirrors_about_half_of_the_images():
    x = _split(n=400).images
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(f or torch.equal(o, i) for f, o, i in zip(flipped, out, x))
    assert 150 < sum(flipped) < 250


def _mirrored_per_image(split, loader, epoch):
    """{image index: True if the loader mirrored it in ``epoch``} (labels are the indices)."""
    normalized = lambda img: (img.float() / 255 - 0.5) / 0.25  # noqa: E731 - the loader's mean/std
    seen = {}
    for x, y in _epoch(loader, epoch):
        for image, index in zip(x, y.tolist()):
            original = normalized(split.images[index])
            mirrored = torch.allclose(image, original.flip(-1), atol=1e-5)
            assert mirrored or torch.allclose(image, original, atol=1e-5)
            seen[index] = mirrored
    return seen


def test_alternate_flip_mirrors_each_image_in_every_other_epoch():
    split = _split(n=200)
    loader = _loader(split, augment=AugmentConfig(hflip=True, alternate_flip=True))
    epochs = [_mirrored_per_image(split, loader, e) for e in range(4)]
    assert all(len(e) == 200 for e in epochs)
    assert 70 < sum(epochs[0].values()) < 130                      # a random half first
    for index in range(200):
        assert epochs[1][index] != epochs[0][index]                # then the other side
        assert epochs[2][index] == epochs[0][index] and epochs[3][index] == epochs[1][index]
    # resuming mid-epoch gives the same flips; with random flips some image repeats its side
    assert _same(_epoch(loader, 1, start_batch=3), _epoch(loader, 1)[3:])
    random = _loader(split, augment=AugmentConfig(hflip=True))
    first, second = (_mirrored_per_image(split, random, e) for e in (0, 1))
    assert any(first[i] == second[i] for i in range(200))


def test_random_erasing_zeroes_one_rectangle_in_the_area_range():
    x = torch.ones(300, 2, 32, 32)
    out = random_erasing(x.clone(), 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, 0], out[:, 1])  # same rectangle on every channel
    for img in out[:, 0]:
        rows, cols = (img == 0).nonzero(as_tuple=True)
        assert len(rows) > 0
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box == len(rows)  # a filled rectangle
        assert len(rows) <= ERASE_AREA[1] * 32 * 32 * 1.15
    assert torch.equal(random_erasing(x.clone(), 0.0, torch.Generator()), x)


def test_resize_and_channel_conversion_match_torchvision():
    split = _split(n=10, c=1, size=28)
    loader = make_loader(split, batch_size=10, shuffle=False, mean=(0.0,) * 3, std=(1.0,) * 3,
                         image_size=32, channels=3)
    x, _ = next(iter(loader))
    ref = v2.functional.resize(split.images.float(), [32, 32], antialias=True) / 255
    assert x.shape == (10, 3, 32, 32)
    for c in range(3):
        torch.testing.assert_close(x[:, c:c + 1], ref)
    rgb = _split(n=4, c=3)
    x, _ = next(iter(make_loader(rgb, batch_size=4, shuffle=False, mean=(0.0,), std=(1.0,), channels=1)))
    torch.testing.assert_close(x, v2.functional.rgb_to_grayscale(rgb.images.float()) / 255)


def test_split_resize_to_is_the_default_shape():
    base = _split(n=8, size=12)
    split = TensorSplit(base.images, base.labels, resize_to=(20, 16), channels_to=3)
    x, _ = next(iter(make_loader(split, batch_size=8, shuffle=False, mean=(0.5,) * 3, std=(0.5,) * 3)))
    assert x.shape == (8, 3, 20, 16)


def test_bad_arguments_are_config_errors():
    split = _split()
    with pytest.raises(ConfigError, match="mean/std"):
        next(iter(make_loader(split, batch_size=4, shuffle=False, mean=(0.5, 0.5, 0.5), std=(0.2,) * 3)))
    with pytest.raises(ConfigError):
        make_loader(split, batch_size=4, shuffle=False, mean=(0.5,), std=(0.2,), shard=(2, 2))
    with pytest.raises(ConfigError):
        AugmentConfig(erasing=1.5)
    with pytest.raises(ConfigError):
        make_loader([1, 2, 3], batch_size=4, shuffle=False, mean=(0.5,), std=(0.2,))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batches_equal_cpu_batches():
    split = _split()
    cpu = _epoch(_loader(split), 1)
    gpu = _epoch(_loader(split, device="cuda"), 1)
    assert all(torch.allclose(a.cpu(), b) for (a, _), (b, _) in zip(gpu, cpu))


@pytest.mark.parametrize("channels", [1, 3])
def test_split_stats_in_one_pass_equal_the_chunked_counts_to_the_bit(channels):
    from cnnlab.data.memory import channel_stats, split_stats

    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (50, channels, 9, 7), dtype=torch.uint8, generator=gen)
    split = TensorSplit(images, torch.zeros(50, dtype=torch.int64))
    assert split_stats(split) == channel_stats(images.split(7), channels)   # whole split vs chunks of 7
    pixels = images.double().transpose(0, 1).reshape(channels, -1) / 255
    mean, std = split_stats(split)
    assert mean == pytest.approx(pixels.mean(1).tolist()) and std == pytest.approx(pixels.std(1, unbiased=False).tolist())
    gray = TensorSplit(images, torch.zeros(50, dtype=torch.int64), channels_to=1)   # converted: in chunks
    assert split_stats(gray, chunk=7) == channel_stats(images.split(50), 1)
