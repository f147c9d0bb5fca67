"""Training throughput of cnnlab's step against a textbook PyTorch loop, with FLOPs and the matmul peak.

Both loops train a copy of the same freshly initialised model with Nesterov SGD on the same
images with the same augmentation (random crop after 2-pixel padding, horizontal flip), and both
call ``loss.item()`` every step, as a loop that logs its loss does:

- **cnnlab**: the training engine's step, `cnnlab.training.train_step` (forward, loss, backward,
  optimizer, scheduler): in-memory uint8 batches augmented as whole batches (`cnnlab.data.make_loader`),
  optional bf16 autocast and channels-last, weight decay on kernels only.
- **textbook**: fp32, contiguous tensors, a ``torch.utils.data.DataLoader`` (no workers) over
  torchvision's dataset class (a tensor dataset for random inputs) with per-sample transforms.

The loops run in alternating rounds (``rounds``, median images/s kept) so that a change of load on
a shared machine hits both alike. Timing includes data loading; warm-up steps are not timed.
"""
from __future__ import annotations

import copy
import itertools
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn

from cnnlab.inspect.flops import StepFlops, step_flops
from cnnlab.bench.peak import PEAK_DTYPES, matmul_peaks
from cnnlab.errors import ConfigError
from cnnlab.hardware import PROBE_SIZE, cpu_info
from cnnlab.numerics import Numerics, choose_numerics
from cnnlab.training.config import TrainConfig
from cnnlab.training.optim import build_optimizer, build_scheduler
from cnnlab.training.step import StepParts, train_step

Step = Callable[[torch.Tensor, torch.Tensor], float]
CROP_PADDING = 2
LR = 0.05              # any stable rate: the step costs the same whatever it is
MAX_SECONDS = 45.0     # the whole benchmark, imports aside: `cnnlab bench` ends within a minute on any CPU
WARMUP_SHARE = 0.25    # of the time left at the warm-up: the rest is the timed rounds'


@dataclass
class LoopTiming:
    """Images trained and the wall seconds they took, per round."""

    images: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        """Median over rounds of images / seconds."""
        return statistics.median(n / s for n, s in zip(self.images, self.seconds))


@dataclass
class BenchResult:
    model: str
    input_shape: tuple[int, int, int]     # (C, H, W) of one image
    data: str                             # dataset name, or "random"
    batch_size: int
    steps: int                            # timed steps per round
    rounds: int
    precision: str
    channels_last: bool
    device: str
    threads: int
    params: int
    flops: StepFlops                      # per image
    peak_gflops: dict[str, float]         # precision name -> best GFLOP/s of a peak_size^2 matmul
    peak_size: int
    cnnlab: LoopTiming
    textbook: LoopTiming | None
    emulated: list[str] = field(default_factory=list)  # precisions this CPU only emulates (small probe, not peak_size)
    numerics: str = ""                    # why this precision and layout (choose_numerics' reason)

    @property
    def achieved_gflops(self) -> float:
        """Useful work of cnnlab's step: forward+backward FLOPs per image x images/s."""
        return self.flops.total * self.cnnlab.images_per_s / 1e9

    @property
    def peak_fraction(self) -> float:
        """achieved_gflops over the matmul peak of the step's precision."""
        return self.achieved_gflops / self.peak_gflops[self.precision]

    @property
    def speedup(self) -> float | None:
        """cnnlab images/s over textbook images/s (None when the textbook loop was skipped)."""
        return None if self.textbook is None else self.cnnlab.images_per_s / self.textbook.images_per_s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flops"]["total"] = self.flops.total
        d["cnnlab"]["images_per_s"] = self.cnnlab.images_per_s
        if self.textbook is not None:
            d["textbook"]["images_per_s"] = self.textbook.images_per_s
        d.update(achieved_gflops=self.achieved_gflops, peak_fraction=self.peak_fraction, speedup=self.speedup,
                 machine=machine_line())
        return d


def machine_line() -> str:
    """CPU model, logical cores, torch threads and the load average the figures were measured under."""
    cpu = cpu_info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu.describe()}, flags {' '.join(cpu.flags) or 'unknown'}, {os.cpu_count()} logical cores, "
            f"{torch.get_num_threads()} torch threads, load {load:.1f}")


# --- the images both loops train on ---

@dataclass
class _Images:
    name: str
    split: Any                     # cnnlab.data TensorSplit (uint8, in memory)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    textbook_dataset: Callable[[Any], torch.utils.data.Dataset]  # per-sample transform -> dataset


class _TransformedTensors(torch.utils.data.Dataset):
    """A tensor dataset with a per-sample transform: the textbook pattern for in-memory arrays."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.images[i]), int(self.labels[i])


def _random_images(shape: Sequence[int], n: int, seed: int) -> _Images:
    from cnnlab.data.memory import TensorSplit

    gen = torch.Generator().manual_seed(seed)
    split = TensorSplit(torch.randint(0, 256, (n, *shape), generator=gen, dtype=torch.uint8),
                        torch.randint(0, 10, (n,), generator=gen))
    mean, std = (0.5,) * shape[0], (0.29,) * shape[0]
    return _Images("random", split, mean, std, lambda t: _TransformedTensors(split.images, split.labels, t))


def _dataset_images(name: str, data_dir: str | None) -> _Images:
    from cnnlab.data import load_dataset
    from cnnlab.data.download import ensure_files
    from cnnlab.data.formats import stage, torchvision_class
    from cnnlab.data.locate import staging_root
    from cnnlab.data.memory import TensorSplit
    from cnnlab.data.specs import get_spec

    bundle = load_dataset(name, data_dir=data_dir, val_fraction=0.0)
    if not isinstance(bundle.train, TensorSplit):
        raise ConfigError(f"cnnlab bench needs an in-memory dataset (fashion-mnist, mnist, cifar10, ...), not {name}")
    spec = get_spec(name)
    train = bundle.train

    def textbook(transform: Any) -> torch.utils.data.Dataset:
        if spec.torchvision_class is None:   # no official files (scikit-learn's digits): the arrays themselves
            return _TransformedTensors(train.images, train.labels, transform)
        root = stage(spec, ensure_files(spec, data_dir, download=False), staging_root())
        return torchvision_class(spec)(root, train=True, download=False, transform=transform)

    return _Images(bundle.name, train, bundle.mean, bundle.std, textbook)


# --- the two training steps ---

def _cnnlab_step(model: nn.Module, numerics: Numerics, device: torch.device) -> Step:
    """`cnnlab.training.train_step` itself, with a constant learning rate (no EMA or lookahead hooks)."""
    cfg = TrainConfig(lr=LR, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="constant",
                      precision=numerics.precision)
    optimizer = build_optimizer(model, cfg)
    parts = StepParts(net=model, model=model, optimizer=optimizer, scheduler=build_scheduler(optimizer, cfg, 1),
                      scaler=torch.amp.GradScaler(device.type, enabled=numerics.precision == "fp16"),
                      loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), numerics=numerics,
                      autocast=numerics.autocast(device))
    steps = itertools.count(1)
    return lambda x, y: train_step(parts, x, y, next(steps)).loss


def _textbook_step(model: nn.Module, device: torch.device) -> Step:
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _cnnlab_batches(images: _Images, batch_size: int, device: torch.device, seed: int) -> Iterator[Any]:
    from cnnlab.data import AugmentConfig, make_loader

    loader = make_loader(images.split, batch_size=batch_size, shuffle=True, mean=images.mean, std=images.std,
                         augment=AugmentConfig(crop_padding=CROP_PADDING, hflip=True), seed=seed, device=device,
                         drop_last=True)
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def _textbook_batches(images: _Images, shape: Sequence[int], batch_size: int, seed: int) -> Iterator[Any]:
    from torchvision.transforms import v2

    transform = v2.Compose([
        v2.ToImage(), v2.RandomCrop(list(shape[1:]), padding=CROP_PADDING), v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(images.mean), list(images.std)),
    ])
    loader = torch.utils.data.DataLoader(images.textbook_dataset(transform), batch_size=batch_size, shuffle=True,
                                         drop_last=True, generator=torch.Generator().manual_seed(seed))
    while True:
        yield from loader


def _warm_up(loops: Sequence[tuple[Step, Iterator[Any], LoopTiming]], warmup: int, seconds: float) -> float:
    """Up to ``warmup`` untimed steps of each loop, at least one, and no further step once ``seconds`` have
    passed; returns the seconds of the last step of every loop together, which size the rounds."""
    stop = time.perf_counter() + seconds
    step_seconds = 0.0
    for step, batches, _ in loops:
        for done in range(max(warmup, 1)):
            if done and time.perf_counter() > stop:
                break
            start = time.perf_counter()
            step(*next(batches))
        step_seconds += time.perf_counter() - start
    return step_seconds


def _fit_rounds(rounds: int, steps: int, step_seconds: float, seconds_left: float) -> tuple[int, int]:
    """The rounds and steps per round of ``rounds`` x ``steps`` that fit ``seconds_left`` at ``step_seconds``
    a step (of every loop): fewer steps first, then fewer rounds, and at least one step of one round."""
    fit = int(max(seconds_left, 0.0) / max(step_seconds, 1e-9))
    rounds = max(1, min(rounds, fit))
    return rounds, max(1, min(steps, fit // rounds))


def _time_round(step: Step, batches: Iterator[Any], steps: int, timing: LoopTiming, device: torch.device) -> None:
    seen = 0
    start = time.perf_counter()
    for _ in range(steps):
        x, y = next(batches)
        step(x, y)
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    timing.images.append(seen)
    timing.seconds.append(time.perf_counter() - start)


# --- the harness ---

def bench_train(model: str, *, input_shape: Sequence[int] | None = None, data: str | None = None,
                data_dir: str | None = None, batch_size: int = 256, steps: int = 20, warmup: int = 3,
                rounds: int = 3, precision: str = "auto", channels_last: bool | str = "auto", textbook: bool = True,
                num_classes: int = 10, device: str | torch.device = "cpu", seed: int = 0,
                peak_size: int = 2048, peak_seconds: float = 0.5, max_seconds: float = MAX_SECONDS,
                progress: Callable[[str], None] | None = None) -> BenchResult:
    """Benchmark one training step of ``model`` (a registry name) and compare it with a textbook loop.

    Images come from ``data`` (a dataset name; its own shape) or are random uint8 of ``input_shape``
    (C, H, W). Every loop runs up to ``warmup`` untimed steps, then ``rounds`` timed rounds of ``steps``
    steps. ``max_seconds`` bounds the whole benchmark, from this call on: the warm-up stops early (after
    one step of each loop) and the rounds take fewer steps, then fewer rounds (at least one step of one),
    where they would run past it. The peak is the best GFLOP/s of
    ``peak_size`` x ``peak_size`` matmuls over about ``peak_seconds``, for the precisions this device
    runs natively. ``precision``/``channels_last``: "auto" decides as `cnnlab train` does.
    ``progress`` receives a line as each stage starts.
    """
    from cnnlab.models import create_model

    deadline = time.perf_counter() + max_seconds
    say = progress or (lambda line: None)
    if min(batch_size, steps, rounds) < 1 or warmup < 0 or max_seconds <= 0:
        raise ConfigError("batch_size, steps, rounds and max_seconds must be >= 1 (> 0) and warmup >= 0")
    if precision not in PEAK_DTYPES and precision != "auto":
        raise ConfigError(f"unknown precision {precision!r}; choose one of: auto, {', '.join(PEAK_DTYPES)}")
    dev = torch.device(device)
    if data is not None:
        say(f"loading {data}")
        images = _dataset_images(data, data_dir)
        shape = (images.split.channels, *images.split.image_size)
        if input_shape is not None and tuple(input_shape) != shape:
            raise ConfigError(f"--input {'x'.join(map(str, input_shape))} does not match {data}'s images "
                              f"({'x'.join(map(str, shape))}); leave --input out when giving --data")
    elif input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        images = _random_images(shape, batch_size * 4, seed)
    else:
        raise ConfigError("give an input size (--input CxHxW, random images) or a dataset (--data NAME)")
    if len(images.split) < batch_size:
        raise ConfigError(f"batch_size {batch_size} is larger than the {len(images.split)} images; use a smaller one")

    torch.manual_seed(seed)
    net = create_model(model, num_classes=num_classes, in_channels=shape[0], input_size=tuple(shape[1:]))
    say("choosing precision and layout")
    numerics = choose_numerics(precision, channels_last, dev, model=net, batch_shape=(batch_size, *shape))
    say(f"numerics: {numerics.reason}")
    flops = step_flops(net, shape, device=dev)
    say("measuring the matmul peak")
    peaks = matmul_peaks(["fp32", "bf16", numerics.precision], n=peak_size, seconds=peak_seconds, device=dev)

    ours = copy.deepcopy(net).to(dev).train()
    if numerics.channels_last:
        ours = ours.to(memory_format=torch.channels_last)
    loops: dict[str, tuple[Step, Iterator[Any], LoopTiming]] = {
        "cnnlab": (_cnnlab_step(ours, numerics, dev), _cnnlab_batches(images, batch_size, dev, seed), LoopTiming()),
    }
    if textbook:
        plain = copy.deepcopy(net).to(dev).train()
        loops["textbook"] = (_textbook_step(plain, dev), _textbook_batches(images, shape, batch_size, seed),
                             LoopTiming())
    say(f"warm-up: up to {max(warmup, 1)} step(s) of each loop")
    step_seconds = _warm_up(list(loops.values()), warmup, WARMUP_SHARE * (deadline - time.perf_counter()))
    rounds, steps = _fit_rounds(rounds, steps, step_seconds, deadline - time.perf_counter())
    for r in range(rounds):
        say(f"round {r + 1}/{rounds}: {steps} step(s) of each loop")
        for step, batches, timing in loops.values():
            _time_round(step, batches, steps, timing, dev)
    return BenchResult(
        model=model, input_shape=shape, data=images.name, batch_size=batch_size, steps=steps, rounds=rounds,  # type: ignore[arg-type]
        precision=numerics.precision, channels_last=numerics.channels_last, device=str(dev),
        threads=torch.get_num_threads(), params=sum(p.numel() for p in net.parameters()), flops=flops,
        peak_gflops={k: p.gflops for k, p in peaks.items()}, peak_size=peak_size,
        cnnlab=loops["cnnlab"][2], textbook=loops["textbook"][2] if textbook else None,
        emulated=[k for k, p in peaks.items() if p.emulated], numerics=numerics.reason,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_result(r: BenchResult, machine: str | None = None) -> str:
    """The result as a few lines of text, with the machine it was measured on."""
    shape = "x".join(map(str, r.input_shape))
    peaks = ", ".join(f"{k} {v:.1f} (emulated: a {PROBE_SIZE}x{PROBE_SIZE} probe)" if k in r.emulated else f"{k} {v:.0f}"
                      for k, v in r.peak_gflops.items())
    lines = [
        f"machine: {machine or machine_line()}",
        f"{r.model} on {shape} ({r.data}), batch {r.batch_size}, {r.precision}"
        f"{', channels-last' if r.channels_last else ''}, {r.device}; {_count(r.rounds, 'round')} x {_count(r.steps, 'step')}",
        f"numerics: {r.numerics}",
        f"params {r.params:,}; FLOPs per image: forward {r.flops.forward / 1e6:.2f} M, "
        f"forward+backward {r.flops.total / 1e6:.2f} M",
        f"matmul peak ({r.peak_size}x{r.peak_size}, best round), GFLOP/s: {peaks}",
        f"cnnlab step:   {r.cnnlab.images_per_s:8.0f} images/s = {r.achieved_gflops:.1f} GFLOP/s "
        f"= {r.peak_fraction:.1%} of the {r.precision} matmul peak",
    ]
    if r.textbook is not None:
        lines.append(f"textbook loop: {r.textbook.images_per_s:8.0f} images/s (fp32, DataLoader, per-sample "
                     f"transforms); ratio cnnlab / textbook {r.speedup:.2f}x")
    return "\n".join(lines)
