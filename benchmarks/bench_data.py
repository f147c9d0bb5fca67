"""Input-pipeline throughput on Fashion-MNIST with augmentation: cnnlab's in-memory loader vs torchvision.

Both pipelines do the same work per image -- random crop with 2 pixels of zero padding, horizontal
flip (p=0.5), normalization, random erasing (p=0.5, torchvision's default area/ratio rule) -- and
yield float32 batches of 256. cnnlab batches uint8 tensors held in memory and augments whole
batches; the reference is a torch DataLoader over torchvision.datasets.FashionMNIST (the same
files) with per-sample torchvision.transforms.v2. Both are measured in the same run, on the same
thread count; the reference is timed on a prefix of the epoch (it is slow), cnnlab on whole epochs.

    .venv/bin/python benchmarks/bench_data.py [--threads 1] [--workers 0] [--ref-batches 40]

Prints images/s for each and the ratio, with the machine it ran on.
"""
from __future__ import annotations

import argparse
import time

import torch

from _machine import machine


def rate(batches, max_batches: int | None = None) -> tuple[float, int]:
    """Images per second over the batches (the first batch is a warm-up and not timed)."""
    it = iter(batches)
    next(it)
    n, start = 0, time.perf_counter()
    for i, (x, _) in enumerate(it):
        n += x.shape[0]
        if max_batches is not None and i + 1 >= max_batches:
            break
    return n / (time.perf_counter() - start), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads for both pipelines")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for the torchvision reference")
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed for cnnlab")
    parser.add_argument("--ref-batches", type=int, default=40, help="batches timed for the reference")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import torchvision
    from torchvision.transforms import v2

    from cnnlab.data import AugmentConfig, load_dataset, make_loader
    from cnnlab.data.download import ensure_files
    from cnnlab.data.formats import stage
    from cnnlab.data.locate import staging_root
    from cnnlab.data.specs import get_spec

    bundle = load_dataset("fashion-mnist", data_dir=args.data_dir, val_fraction=0)
    mean, std = bundle.mean, bundle.std

    loader = make_loader(bundle.train, batch_size=args.batch_size, shuffle=True, mean=mean, std=std,
                         augment=AugmentConfig(crop_padding=2, hflip=True, erasing=0.5), drop_last=True)
    ours, ours_n = [], 0
    for epoch in range(args.epochs):
        loader.set_epoch(epoch)
        r, n = rate(loader)
        ours.append(r)
        ours_n += n

    spec = get_spec("fashion-mnist")
    root = stage(spec, ensure_files(spec, args.data_dir), staging_root())
    transform = v2.Compose([
        v2.ToImage(), v2.RandomCrop(28, padding=2), v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std), v2.RandomErasing(p=0.5),
    ])
    reference = torchvision.datasets.FashionMNIST(str(root), train=True, transform=transform)
    ref_loader = torch.utils.data.DataLoader(reference, batch_size=args.batch_size, shuffle=True,
                                             num_workers=args.workers, drop_last=True)
    ref, ref_n = rate(ref_loader, args.ref_batches)

    best = max(ours)
    print(f"machine: {machine()}")
    print(f"cnnlab in-memory loader : {best:12,.0f} images/s  (best of {args.epochs} epochs, {ours_n:,} images)")
    print(f"torchvision DataLoader  : {ref:12,.0f} images/s  ({ref_n:,} images, {args.workers} worker(s), "
          "per-sample transforms.v2)")
    print(f"ratio                   : {best / ref:12.1f}x")


if __name__ == "__main__":
    main()
