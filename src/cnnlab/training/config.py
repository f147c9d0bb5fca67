"""The training configuration: one typed dataclass, built once at the edge (CLI or API).

Resolution order, later wins: the built-in defaults below < the model's defaults (its family's
``TRAIN_DEFAULTS``, `cnnlab.models.TrainDefaults`) < a named recipe (``recipes/NAME.yaml``) < a YAML
file (``--config``) < explicit flags / keyword arguments. The model's defaults also fit the run to
the dataset when the later layers leave it to them: images smaller than the model's
``min_image_size`` are resized up to it, and a small dataset gets enough epochs for the model's
``min_steps``. The resolved config is saved as ``RUN/config.yaml`` and inside every checkpoint, so
``cnnlab train --config RUN/config.yaml`` re-runs it.
"""
from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from cnnlab.errors import ConfigError

T = TypeVar("T")


# (option, the option it works on top of)
TTA_OPTION_PAIRS = (("tta_translate", "tta"), ("tta_grid", "tta_translate"))


def check_option_pairs(values: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]) -> None:
    """ConfigError naming both flags when an option is on without the option it builds on."""
    for option, needs in pairs:
        if values[option] and not values[needs]:
            flag, other = (f"--{name.replace('_', '-')}" for name in (option, needs))
            raise ConfigError(f"{flag} works on top of {other}: add {other} (or drop {flag})")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Units are in the comments."""

    # what to train, on what
    model: str = "fastnet"             # a name from `cnnlab models`
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to create_model
    data: str = "fashion-mnist"        # a name from `cnnlab data list`, or folder:PATH
    data_dir: str | None = None        # where to look for the dataset files first
    val_fraction: float = 0.1          # share of the training split held out for validation
    image_size: int | None = None      # resize images to image_size x image_size (e.g. 32: LeNet-5's input); None = as stored
    # transfer learning (cnnlab.training.transfer)
    weights: str | None = None         # start from these weights: a torchvision .pth or a cnnlab checkpoint/run
    new_head: bool = True              # with weights: a fresh classifier for this dataset's classes
    freeze_backbone: bool = False      # with weights: train only the classifier (frozen norms stay in eval mode)
    backbone_lr_mult: float = 1.0      # learning rate of everything but the classifier = lr * this
    # how long
    epochs: int | float = 10           # passes over the training split; 1.5 ends halfway through the 2nd
    batch_size: int = 256              # images per optimizer step (per process under torchrun)
    # optimizer
    optimizer: str = "sgd"             # sgd | rmsprop | adam | adamw
    lr: float = 0.1                    # peak learning rate
    momentum: float = 0.9              # sgd/rmsprop momentum
    nesterov: bool = True              # sgd only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam/adamw
    weight_decay: float = 5e-4         # L2 (sgd/rmsprop/adam) or decoupled (adamw); never on biases/norms
    norm_bias_lr_mult: float = 1.0     # learning rate of normalisation layers' parameters = lr * this (airbench: 64)
    # learning-rate schedule, stepped once per optimizer step
    schedule: str = "onecycle"         # onecycle | cosine | linear | step | constant
    warmup_epochs: float = 0.0         # linear warm-up length in epochs (onecycle: rise phase, default 25%)
    step_epochs: float = 30.0          # step schedule: epochs between decays
    step_gamma: float = 0.1            # step schedule: lr multiplier at each decay
    # regularisation and augmentation
    label_smoothing: float = 0.0       # 0..1, share of target mass spread over all classes
    crop_padding: int = 0              # random crop after zero-padding by this many pixels; 0 = off
    hflip: bool = False                # random horizontal flip (not for digits/text)
    alternate_flip: bool = False       # with hflip: mirror each image in every other epoch (airbench)
    erasing: float = 0.0               # probability of random erasing per image
    grad_clip: float = 0.0             # max global gradient L2 norm; 0 = off
    ema_decay: float = 0.0             # EMA of weights, decay per step (e.g. 0.999); 0 = off
    lookahead: bool = False            # airbench's lookahead: every 5 steps, weights := a slow average of them
    tta: bool = False                  # final test evaluation averages logits of the image and its mirror
    tta_translate: bool = False        # with tta: also 1-pixel shifted pairs (airbench's multi-crop TTA)
    tta_grid: bool = False             # with tta_translate: all eight 1-pixel shifts, not only the two diagonal ones
    # hardware and numerics
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    precision: str = "auto"            # auto (bf16 where the CPU/GPU runs it natively, else fp32) | fp32 | bf16 | fp16 (CUDA)
    channels_last: bool | str = "auto" # NHWC memory layout: true | false | auto (the faster one, timed once per CPU and model)
    compile: bool = False              # torch.compile the model (costs compile time up front)
    num_workers: int = 0               # loader worker processes (streaming folder: datasets only)
    threads: int = 0                   # CPU threads for torch; 0 = torch's default (all cores)
    deterministic: bool = False        # torch.use_deterministic_algorithms: same seed, same numbers
    seed: int = 0
    # bookkeeping
    out: str = "runs"                  # parent folder of run folders
    name: str | None = None            # run folder name (default MODEL-DATA-TIMESTAMP)
    run_dir: str | None = None         # explicit run folder; overrides out/name; not saved
    checkpoint_every: int = 0          # also save last.pt every N optimizer steps; 0 = at epoch ends only
    on_nan: str = "stop"               # stop | skip: what a NaN/inf loss does
    report: bool = True                # write report.html at the end (needs cnnlab.eval)
    quiet: bool = False                # one line per epoch instead of progress bars

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for a value that cannot work (names are checked where they are looked up)."""
        checks = {
            "epochs": self.epochs > 0,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "val_fraction": 0.0 <= self.val_fraction < 1.0,
            "label_smoothing": 0.0 <= self.label_smoothing < 1.0,
            "erasing": 0.0 <= self.erasing <= 1.0,
            "ema_decay": 0.0 <= self.ema_decay < 1.0,
            "crop_padding": self.crop_padding >= 0,
            "grad_clip": self.grad_clip >= 0,
            "warmup_epochs": 0 <= self.warmup_epochs <= self.epochs,
            "checkpoint_every": self.checkpoint_every >= 0,
            "num_workers": self.num_workers >= 0,
            "threads": self.threads >= 0,
            "betas": len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "backbone_lr_mult": 0.0 < self.backbone_lr_mult <= 1.0e3,
            "norm_bias_lr_mult": 0.0 < self.norm_bias_lr_mult <= 1.0e3,
            "image_size": self.image_size is None or self.image_size >= 1,
            "channels_last": self.channels_last in (True, False, "auto"),
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            k = bad[0]
            raise ConfigError(f"{k}={getattr(self, k)!r} is out of range; see `cnnlab train --help` for valid values")
        check_option_pairs(vars(self), TTA_OPTION_PAIRS + (("alternate_flip", "hflip"),))

    def to_dict(self, *, for_file: bool = False) -> dict[str, Any]:
        """Plain dict (YAML/JSON/checkpoint-safe). ``for_file`` drops fields that must not be re-used."""
        d = dataclasses.asdict(self)
        if for_file:
            d.pop("run_dir")
        return d

    def replace(self, **changes: Any) -> "TrainConfig":
        return merge(self, changes)


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def merge(cfg: TrainConfig, changes: Mapping[str, Any]) -> TrainConfig:
    """A copy of ``cfg`` with ``changes`` applied; keys may use dashes; values are type-checked."""
    hints = typing.get_type_hints(TrainConfig)
    current = dataclasses.asdict(cfg)
    for raw_key, value in changes.items():
        key = str(raw_key).replace("-", "_")
        if key not in hints:
            close = difflib.get_close_matches(key, hints, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"unknown training setting {raw_key!r}.{hint} Settings: {', '.join(hints)}")
        current[key] = _coerce(key, value, hints[key])
    return TrainConfig(**current)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check a YAML/flag value against the field's type; ints are accepted for floats."""
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    for t in allowed:
        base = typing.get_origin(t) or t
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base in (bool, str, dict) and isinstance(value, base):
            return dict(value) if base is dict else value
        if base is list and isinstance(value, (list, tuple)):
            return [float(v) for v in value]
    names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
    raise ConfigError(f"setting {key!r} must be {names}, got {value!r} ({type(value).__name__})")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A config/recipe YAML file as a dict of settings."""
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings (key: value), not {type(data).__name__}")
    return data


def save_yaml(cfg: TrainConfig) -> str:
    """The YAML text of ``cfg`` (without run_dir), in field order."""
    return yaml.safe_dump(cfg.to_dict(for_file=True), sort_keys=False)


def list_recipes() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _recipe_dir().iterdir() if p.name.endswith(".yaml"))


def recipe_path(name: str) -> Path:
    path = _recipe_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown recipe {name!r}; recipes: {', '.join(list_recipes())}")
    return path


def _recipe_dir() -> Path:
    return Path(str(resources.files("cnnlab"))) / "recipes"


# where a setting's value can come from, lowest precedence first
SOURCES = ("built-in default", "model default", "recipe", "config file", "flag")


@dataclass
class ResolvedConfig:
    config: TrainConfig
    sources: dict[str, str]            # setting -> one of SOURCES
    notes: list[str]                   # one line per change made to fit the dataset (resize, more epochs)


def resolve_config(
    model: str | None = None,
    data: str | None = None,
    *,
    config: str | Path | Mapping[str, Any] | TrainConfig | None = None,
    recipe: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Built-in defaults < model defaults < recipe < config (file, dict or TrainConfig) < model/data < overrides."""
    return resolve_settings(model, data, config=config, recipe=recipe, overrides=overrides).config


def resolve_settings(
    model: str | None = None,
    data: str | None = None,
    *,
    config: str | Path | Mapping[str, Any] | TrainConfig | None = None,
    recipe: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ResolvedConfig:
    """`resolve_config`, with where each setting came from and the changes made to fit the dataset."""
    from cnnlab.models import train_defaults

    layers: list[tuple[str, Mapping[str, Any]]] = []
    if recipe:
        layers.append(("recipe", load_yaml(recipe_path(recipe))))
    if isinstance(config, TrainConfig):
        layers.append(("config file", config.to_dict()))
    elif isinstance(config, Mapping):
        layers.append(("config file", config))
    elif config is not None:
        layers.append(("config file", load_yaml(config)))
    explicit = {k: v for k, v in {"model": model, "data": data}.items() if v is not None}
    layers.append(("flag", {**explicit, **(overrides or {})}))
    cfg = TrainConfig()
    named = [values["model"] for _, values in layers if values.get("model") is not None]
    defaults = train_defaults(str(named[-1]) if named else cfg.model)
    sources = dict.fromkeys(field_names(), SOURCES[0])
    for source, values in [("model default", defaults.settings()), *layers]:
        cfg = merge(cfg, values)
        sources.update(dict.fromkeys((str(k).replace("-", "_") for k in values), source))
    return _fit_to_dataset(ResolvedConfig(cfg, sources, []), defaults)


def _fit_to_dataset(resolved: ResolvedConfig, defaults: Any) -> ResolvedConfig:
    """Apply the model's ``min_image_size`` and ``min_steps`` to settings no later layer chose."""
    from cnnlab.data import dataset_info
    from cnnlab.errors import CnnlabError

    cfg, sources = resolved.config, resolved.sources
    left_to_model = (SOURCES[0], "model default")
    fit_size = sources["image_size"] in left_to_model and defaults.min_image_size > 1
    fit_steps = sources["epochs"] in left_to_model and defaults.min_steps > 0
    if not (fit_size or fit_steps):
        return resolved
    try:
        info = dataset_info(cfg.data, data_dir=cfg.data_dir)
    except CnnlabError:  # an unknown or missing dataset: the data load reports it
        return resolved
    changes: dict[str, Any] = {}
    size = defaults.min_image_size
    if fit_size and min(info.image_size) < size:
        changes["image_size"] = size
        resolved.notes.append(f"{cfg.data}'s images are {info.image_size[0]}x{info.image_size[1]}, smaller than the "
                              f"{size}x{size} {cfg.model} is built for: resizing them to {size}x{size} "
                              "(--image-size N chooses another size)")
    images = int(info.num_train * (1 - cfg.val_fraction))
    steps_per_epoch = max(1, images // max(1, min(cfg.batch_size, images)))
    epochs = math.ceil(defaults.min_steps / steps_per_epoch)
    if fit_steps and epochs > cfg.epochs:
        changes["epochs"] = epochs
        resolved.notes.append(f"{cfg.data} has {images:,} training images, {steps_per_epoch} steps of "
                              f"{cfg.batch_size} per epoch: training {epochs} epochs instead of {cfg.epochs}, "
                              f"the {defaults.min_steps:,} steps {cfg.model} needs (--epochs N chooses)")
    resolved.config = merge(cfg, changes)
    sources.update(dict.fromkeys(changes, "model default"))
    return resolved


def describe_settings(resolved: ResolvedConfig) -> str:
    """The resolved settings, one a line, each with where it came from (`cnnlab train --show-config`)."""
    values = resolved.config.to_dict()
    width = max(map(len, values))
    lines = [f"{name:<{width}}  {yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip():<24}"
             f"  {resolved.sources[name]}" for name, value in values.items()]
    return "\n".join([*lines, *(f"note: {note}" for note in resolved.notes)])


def choose(table: Mapping[str, T], name: str, what: str) -> T:
    """``table[name]`` or a ConfigError listing the choices: the one lookup every name table uses."""
    try:
        return table[name]
    except KeyError:
        raise ConfigError(f"unknown {what} {name!r}; choose one of: {', '.join(table)}") from None
