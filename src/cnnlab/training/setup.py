"""Everything a run needs, built once from a TrainConfig: data, model, optimizer, schedule, numerics.

The loop in engine.py only reads the `Session` built here, so it stays short.
"""
from __future__ import annotations

import contextlib
import os
import random
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cnnlab.errors import ConfigError
from cnnlab.numerics import PRECISIONS, Numerics, check_precision, choose_numerics
from cnnlab.training.config import TrainConfig, choose
from cnnlab.training.distributed import Dist
from cnnlab.training.ema import make_ema
from cnnlab.training.lookahead import Lookahead, make_lookahead
from cnnlab.training.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler, total_steps
from cnnlab.training.step import StepParts, ema_hook
from cnnlab.training.transfer import check_transfer, model_kwargs_for, read_pretrained, start_from

ON_NAN = {"stop": "raise TrainingDiverged", "skip": "skip the step, keep training"}


DATA_INIT_IMAGES = 5000  # training images a model's init_from_data sees


def check_names(cfg: TrainConfig) -> None:
    """Fail on a misspelt optimizer/schedule/precision before the (slow) data load."""
    choose(OPTIMIZERS, cfg.optimizer, "optimizer")
    choose(SCHEDULES, cfg.schedule, "schedule")
    choose(PRECISIONS, cfg.precision, "precision")  # fp16 off CUDA is refused once the device is known
    choose(ON_NAN, cfg.on_nan, "on_nan value")
    check_transfer(cfg)


@dataclass
class Session:
    bundle: Any                        # cnnlab.data DatasetBundle
    meta: dict[str, Any]               # meta.json: what rebuilds and feeds the model
    train_loader: Any
    val_loader: Any | None
    test_loader: Any | None
    parts: StepParts                   # model, optimizer, schedule, numerics: what `train_step` runs
    ema: Any | None                    # AveragedModel or None
    lookahead: Lookahead | None

    @property
    def model(self) -> nn.Module:
        """The raw model: its state_dict goes into checkpoints."""
        return self.parts.model

    @property
    def numerics(self) -> Numerics:
        """The precision and layout every step and evaluation uses."""
        return self.parts.numerics

    @property
    def eval_model(self) -> nn.Module:
        """The weights validation and test see: the EMA's when enabled."""
        return self.ema.module if self.ema is not None else self.model


@contextlib.contextmanager
def torch_settings(cfg: TrainConfig) -> Iterator[None]:
    """Seed Python, NumPy and torch; apply threads and determinism for the run, then restore them."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = not cfg.deterministic
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if torch.are_deterministic_algorithms_enabled() != deterministic:  # the call imports torch._dynamo (1.5-2 s)
            torch.use_deterministic_algorithms(deterministic)


def make_meta(cfg: TrainConfig, bundle: Any) -> dict[str, Any]:
    return {
        "kind": "cnn",
        "model": cfg.model,
        "model_kwargs": dict(cfg.model_kwargs),
        "num_classes": int(bundle.num_classes),
        "in_channels": int(bundle.in_channels),
        "input_size": [int(s) for s in bundle.image_size],
        "classes": [str(c) for c in bundle.classes],
        "dataset": bundle.name,
        "mean": [float(m) for m in bundle.mean],
        "std": [float(s) for s in bundle.std],
    }


def fit_batch_size(batch_size: int, images: int, world_size: int, data: str, say: Callable[[str], None]) -> int:
    """``batch_size``, clipped to the training images each process holds (every step takes a full batch)."""
    per_process = images // world_size
    if per_process < 1:
        raise ConfigError(f"{data} has {images} training images, fewer than the {world_size} processes; "
                          "add images or use fewer processes")
    if per_process < batch_size:
        say(f"batch size {batch_size} is more than the {per_process} training images per process of {data}: "
            f"using {per_process} (pass --batch-size to choose a smaller one)")
    return min(batch_size, per_process)


def build_session(cfg: TrainConfig, dist: Dist, numerics: Numerics | None = None) -> Session:
    """Load the data and build the model and its training machinery (seeded by the caller).

    ``numerics``: a resumed run's saved choice of precision and layout; else it is made here.
    """
    from cnnlab.data import AugmentConfig, load_dataset, make_loader
    from cnnlab.models import create_model

    device = dist.device
    check_precision(cfg.precision, device)  # before the slow data load
    if cfg.recipe_variant and dist.is_main:
        print(f"recipe {cfg.recipe_variant}")
    bundle = load_dataset(cfg.data, data_dir=cfg.data_dir, val_fraction=cfg.val_fraction, seed=cfg.seed,
                          image_size=cfg.image_size)
    say = print if dist.is_main else lambda message: None
    for note in bundle.notes:
        say(note)
    batch_size = fit_batch_size(cfg.batch_size, len(bundle.train), dist.world_size, cfg.data, say)
    common = dict(mean=bundle.mean, std=bundle.std, device=device, num_workers=cfg.num_workers,
                  shard=(dist.rank, dist.world_size) if dist.enabled else None)
    augment = AugmentConfig(crop_padding=cfg.crop_padding, hflip=cfg.hflip, erasing=cfg.erasing,
                            alternate_flip=cfg.alternate_flip)
    # drop_last: every step sees a full batch (no tiny last batch for BatchNorm, one shape to compile)
    train_loader = make_loader(bundle.train, batch_size=batch_size, shuffle=True, augment=augment,
                               seed=cfg.seed, drop_last=True, **common)
    eval_loader = lambda split: None if split is None else make_loader(  # noqa: E731
        split, batch_size=batch_size, shuffle=False, **common)

    pretrained = read_pretrained(cfg.weights) if cfg.weights else None
    model_kwargs = model_kwargs_for(pretrained, cfg.model, cfg.model_kwargs)  # the weights may need options
    model = create_model(cfg.model, num_classes=bundle.num_classes, in_channels=bundle.in_channels,
                         input_size=tuple(bundle.image_size), **model_kwargs)
    if getattr(model, "needs_data_init", False):
        # data-dependent initialisation (a whitening stem): the same un-augmented images on
        # every process, so DDP replicas start equal; draws no random numbers
        sample = make_loader(bundle.train, batch_size=min(DATA_INIT_IMAGES, len(bundle.train)), shuffle=False,
                             **{**common, "shard": None, "num_workers": 0})
        model.init_from_data(next(iter(sample))[0])
    if pretrained is not None:
        start_from(model, pretrained, cfg, model_kwargs, log=say)
    model = model.to(device)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    if numerics is None:
        chosen = choose_numerics(cfg.precision, cfg.channels_last, device, model=model, loss_fn=loss_fn,
                                 batch_shape=(batch_size, bundle.in_channels, *bundle.image_size)
                                 ) if dist.is_main else None
        numerics = Numerics.from_dict(dist.broadcast(chosen.to_dict() if chosen else None))  # type: ignore[arg-type]
    if dist.is_main:
        print(f"numerics: {numerics.reason}")
    if numerics.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(train_loader))
    net: nn.Module = model
    if dist.enabled:
        # 1-channel kernels have ambiguous strides; DDP copes, only slower on that one small layer
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    ema = make_ema(model, cfg.ema_decay)
    lookahead = make_lookahead(model, cfg.lookahead, total_steps(cfg.epochs, len(train_loader)))
    # lookahead first: the EMA averages the weights training continues from
    hooks = [*([lookahead.after_step] if lookahead else []), *([ema_hook(ema)] if ema else [])]
    parts = StepParts(net=net, model=model, optimizer=optimizer, scheduler=scheduler,
                      scaler=torch.amp.GradScaler(device.type, enabled=numerics.precision == "fp16"),
                      loss_fn=loss_fn, numerics=numerics, autocast=numerics.autocast(device),
                      grad_clip=cfg.grad_clip, after_step=hooks)
    return Session(bundle=bundle, meta={**make_meta(cfg, bundle), "model_kwargs": model_kwargs},
                   train_loader=train_loader, val_loader=eval_loader(bundle.val), test_loader=eval_loader(bundle.test),
                   parts=parts, ema=ema, lookahead=lookahead)
