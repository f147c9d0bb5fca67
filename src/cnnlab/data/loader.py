"""`make_loader`: seeded, resumable, shardable batches of normalized images.

The order of an epoch and every random augmentation draw are pure functions of
(seed, epoch[, rank, batch index]), so `set_epoch(e, start_batch=b)` reproduces the tail of epoch e
exactly (mid-epoch resume), on CPU or CUDA. With `shard=(rank, world_size)` every rank sees the
same permutation and takes every world_size-th index from position `rank`; the permutation is
first padded by wrapping around to a multiple of world_size (as torch's DistributedSampler does),
so all ranks have the same number of batches. Shards are disjoint when the size is divisible.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Protocol, Sequence

import torch

from cnnlab.data.augment import AugmentConfig, batch_generator, even_epoch_flips, prepare_batch
from cnnlab.errors import ConfigError


class BatchSource(Protocol):
    """What the loader pulls uint8 batches from (in-memory tensors or a streaming image folder)."""

    image_size: tuple[int, int]
    channels: int

    def __len__(self) -> int: ...

    def batches(self, plan: list[torch.Tensor], epoch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(position in `plan`, uint8 images, labels) on the device; a batch may be left out (unreadable files)."""
        ...


class MemorySource:
    """Batches of a TensorSplit by tensor indexing; the uint8 data moves to the device once."""

    def __init__(self, split: Any, device: torch.device) -> None:
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.image_size = split.image_size
        self.channels = split.channels
        self.device = device

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batches(self, plan: list[torch.Tensor], epoch: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        for j, idx in enumerate(plan):
            idx = idx.to(self.device)
            yield j, self.images[idx], self.labels[idx]


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> torch.Tensor:
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=batch_generator(seed, epoch))


def shard_indices(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Every world_size-th index from `rank`, after padding `order` by wrapping to a multiple of world_size."""
    total = math.ceil(len(order) / world_size) * world_size
    if total > len(order):
        order = torch.cat([order, order.repeat(math.ceil(total / len(order)))[: total - len(order)]])
    return order[rank:total:world_size]


class BatchLoader:
    """Iterable of `(x float32 (B, C, H, W) normalized, y int64 (B,))` on `device`; see `make_loader`."""

    def __init__(self, source: BatchSource, *, batch_size: int, shuffle: bool, mean: Sequence[float],
                 std: Sequence[float], augment: AugmentConfig | None, seed: int, device: torch.device,
                 drop_last: bool, shard: tuple[int, int] | None, image_size: tuple[int, int], channels: int) -> None:
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.mean, self.std = tuple(mean), tuple(std)
        self.augment = augment
        self.seed = seed
        self.device = device
        self.drop_last = drop_last
        self.rank, self.world_size = shard or (0, 1)
        self.image_size = image_size
        self.channels = channels
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch whose order/augmentation the next iteration uses, skipping `start_batch` batches."""
        if epoch < 0 or start_batch < 0:
            raise ConfigError(f"epoch and start_batch must be >= 0, got {epoch} and {start_batch}")
        self.epoch, self.start_batch = epoch, start_batch

    @property
    def num_samples(self) -> int:
        """Images per epoch on this rank (including the wrap-around padding of sharding)."""
        return math.ceil(len(self.source) / self.world_size)

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def plan(self) -> list[torch.Tensor]:
        """The index batches of the current epoch on this rank, from `start_batch` on."""
        order = epoch_order(len(self.source), shuffle=self.shuffle, seed=self.seed, epoch=self.epoch)
        if self.world_size > 1:
            order = shard_indices(order, self.rank, self.world_size)
        batches = list(order.split(self.batch_size))[: len(self)]
        return batches[self.start_batch:]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        random = self.augment is not None and self.augment.active
        alternate = random and self.augment.hflip and self.augment.alternate_flip  # type: ignore[union-attr]
        even_flips = even_epoch_flips(len(self.source), self.seed) if alternate else None
        plan = self.plan()
        for j, images, labels in self.source.batches(plan, self.epoch):
            # seeded by the batch's position in the whole epoch, so a resumed tail draws the same numbers
            gen = batch_generator(self.seed, self.epoch, self.rank, self.start_batch + j) if random else None
            flip = even_flips[plan[j]] ^ bool(self.epoch % 2) if even_flips is not None else None
            x = prepare_batch(images, size=self.image_size, channels=self.channels, mean=self.mean, std=self.std,
                              augment=self.augment, gen=gen, flip=flip)
            yield x, labels


def _source_for(split: Any, device: torch.device, num_workers: int) -> BatchSource:
    from cnnlab.data.folder import FolderSource, ImageFolderSplit
    from cnnlab.data.memory import TensorSplit

    if isinstance(split, TensorSplit):
        return MemorySource(split, device)
    if isinstance(split, ImageFolderSplit):
        return FolderSource(split, device, num_workers)
    raise ConfigError(f"make_loader needs a TensorSplit or an image-folder split from load_dataset, "
                      f"got {type(split).__name__}")


def make_loader(split: Any, *, batch_size: int, shuffle: bool, mean: Sequence[float], std: Sequence[float],
                augment: AugmentConfig | None = None, seed: int = 0, device: str | torch.device = "cpu",
                drop_last: bool = False, num_workers: int = 0, shard: tuple[int, int] | None = None,
                image_size: int | Sequence[int] | None = None, channels: int | None = None) -> BatchLoader:
    """Batches of `split` (a `DatasetBundle` split), normalized with `mean`/`std` (0..1 scale, per channel).

    `image_size`/`channels` default to the split's own (`split.image_size`, `split.channels`) and
    are applied per batch (antialiased resize, gray<->RGB). `num_workers` decodes image folders in
    worker processes; in-memory splits need none. `shard=(rank, world_size)` for DistributedDataParallel.
    Call `set_epoch(epoch)` before each epoch for a new seeded order.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    if shard is not None:
        rank, world = shard
        if world < 1 or not 0 <= rank < world:
            raise ConfigError(f"shard=(rank, world_size) needs 0 <= rank < world_size, got {shard}")
    dev = torch.device(device)
    source = _source_for(split, dev, num_workers)
    size = as_image_size(image_size) if image_size is not None else tuple(source.image_size)
    return BatchLoader(source, batch_size=batch_size, shuffle=shuffle, mean=mean, std=std, augment=augment,
                       seed=seed, device=dev, drop_last=drop_last, shard=shard, image_size=size,  # type: ignore[arg-type]
                       channels=channels or source.channels)


def as_image_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    size = tuple(int(s) for s in size)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f"image_size must be an int or (H, W) of positive ints, got {size}")
    return size  # type: ignore[return-value]
