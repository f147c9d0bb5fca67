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

OLD_TTA_SETTINGS = ("tta_translate", "tta_grid")  # before `tta` named a level: booleans on top of `tta: true`


def check_option_pairs(values: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]) -> None:
    """ConfigError naming both flags when an option is on without the option it builds on."""
    for option, needs in pairs:
        if values[option] and not values[needs]:
            flag, other = (f"--{name.replace('_', '-')}" for name in (option, needs))
            raise ConfigError(f"{flag} works on top of {other}: add {other} (or drop {flag})")


def upgrade(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as this version names them: the TTA booleans of older configs (``tta: true``,
    ``tta_translate``, ``tta_grid``) become the one ``tta`` level."""
    settings = dict(settings)
    if isinstance(settings.get("tta"), bool) or any(k in settings for k in OLD_TTA_SETTINGS):
        from cnnlab.eval.tta import tta_level  # here: this module loads without torch (the CLI reads its fields)

        settings["tta"] = tta_level(settings)
        for key in OLD_TTA_SETTINGS:
            settings.pop(key, None)
    return settings


def setting(default: Any, help: str | None = None, *flags: str, cli_type: type | None = None) -> Any:
    """A TrainConfig field with its `cnnlab train` option: ``help``, and ``flags`` when they are not
    the field's name (``--name-with-dashes``, ``--x/--no-x`` for booleans); no help: not an option.
    ``cli_type``: the option's type where the field's is a union (``epochs: int | float`` -> float)."""
    return field(default=default, metadata={"help": help, "flags": flags, "cli_type": cli_type})


@dataclass
class TrainConfig:
    """Everything that defines a training run; each field with a help text is a `cnnlab train` option.
    Units are in the help texts and comments."""

    # what to train, on what
    model: str = "fastnet"             # a name from `cnnlab models` (the command's argument)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # passed to create_model
    data: str = setting("fashion-mnist", "Dataset: fashion-mnist, mnist, cifar10, digits, folder:PATH ...", "--data", "-d")
    data_dir: str | None = setting(None, "Look for dataset files here first.")
    val_fraction: float = setting(0.1, "Share of train held out for validation.")
    image_size: int | None = setting(None, "Resize images to NxN first (e.g. 32 for lenet5); default: as stored.")
    # transfer learning (cnnlab.training.transfer)
    weights: str | None = setting(None, "Start from pretrained weights: a torchvision .pth state_dict or a cnnlab "
                                  "checkpoint/run.", "--weights", "-w")
    new_head: bool = setting(True, "With --weights: a fresh classifier for this dataset (default), or load the file's "
                             "(same class count).", "--new-head/--keep-head")
    freeze_backbone: bool = setting(False, "With --weights: train only the classifier.")  # frozen norms stay in eval mode
    backbone_lr_mult: float = setting(1.0, "Fine-tune: backbone lr = lr x this, e.g. 0.1.")
    # how long
    epochs: int | float = setting(10, "Passes over the training split; 1.5 stops halfway through the second.",
                                  "--epochs", "-e", cli_type=float)
    batch_size: int = setting(256, "Images per step.", "--batch-size", "-b")  # per process under torchrun
    # optimizer
    optimizer: str = setting("sgd", "sgd | rmsprop | adam | adamw | muon (Muon for conv filters, SGD for the rest).")
    lr: float = setting(0.1, "Peak learning rate.")
    momentum: float = setting(0.9, "SGD/RMSprop momentum.")
    nesterov: bool = setting(True, "Nesterov momentum (SGD).")
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adam/adamw
    # L2 (sgd/rmsprop/adam) or decoupled (adamw)
    weight_decay: float = setting(5e-4, "Weight decay (not on biases/norms).", "--weight-decay", "--wd")
    muon_lr: float = setting(0.24, "With --optimizer muon: the conv filters' peak lr (airbench94_muon: 0.24).")
    muon_momentum: float = setting(0.6, "With --optimizer muon: the conv filters' momentum (airbench94_muon: 0.6).")
    norm_bias_lr_mult: float = setting(1.0, "Normalisation layers' lr = lr x this (airbench: 64).")
    # learning-rate schedule, stepped once per optimizer step
    schedule: str = setting("onecycle", "onecycle | cosine | linear | step | constant.")
    # onecycle: its rise phase, default 25%
    warmup_epochs: float = setting(0.0, "Linear warm-up, in epochs.", "--warmup")
    step_epochs: float = 30.0          # step schedule: epochs between decays
    step_gamma: float = 0.1            # step schedule: lr multiplier at each decay
    # regularisation and augmentation
    label_smoothing: float = setting(0.0, "0..1.")  # share of target mass spread over all classes
    crop_padding: int = setting(0, "Random crop after padding by N px; 0 = off.")
    hflip: bool = setting(False, "Random horizontal flips.")  # not for digits/text
    alternate_flip: bool = setting(False, "With --hflip: mirror each image in every other epoch instead of at random "
                                   "(airbench).", "--alternate-flip/--random-flip")
    erasing: float = setting(0.0, "Random-erasing probability per image.")
    grad_clip: float = setting(0.0, "Max gradient norm; 0 = off.")  # global L2 norm
    ema_decay: float = setting(0.0, "EMA decay per step, e.g. 0.999; 0 = off.", "--ema")
    lookahead: bool = setting(False, "airbench's lookahead: every 5 steps the weights move to a slow average of "
                              "themselves.")
    tta: str = setting("none", "Test-time augmentation at the final test: none | flip | translate | grid.")
    tta_share: float = setting(1.0, "With --tta: give the views only to this share of the test images, those "
                               "whose plain prediction is least confident (1 = all).")
    # hardware and numerics
    device: str = setting("auto", "auto | cpu | cuda | cuda:N.")
    precision: str = setting("auto", "auto (default: bf16 where the CPU/GPU runs it natively, else fp32) | fp32 | "
                             "bf16 | fp16 (CUDA).")
    channels_last: bool | str = setting("auto", "NHWC memory layout (default: auto, the faster one, timed once per "
                                        "CPU and model).", cli_type=bool)
    compile: bool = setting(False, "torch.compile the model.")  # costs compile time up front
    num_workers: int = 0               # loader worker processes (streaming folder: datasets only)
    threads: int = setting(0, "CPU threads; 0 = all cores.")
    deterministic: bool = setting(False, "Deterministic algorithms.")  # same seed, same numbers
    seed: int = setting(0, "Random seed.")
    # bookkeeping
    recipe_variant: str | None = None  # set by a recipe: which CPU class's settings it chose, and why
    out: str = setting("runs", "Parent folder of run folders (default runs).", "--out", "-o")
    name: str | None = setting(None, "Run folder name.")  # default MODEL-DATA-TIMESTAMP
    run_dir: str | None = setting(None, "Exact run folder to create.")  # overrides out/name; not saved
    checkpoint_every: int = setting(0, "Also save every N steps.")  # last.pt; 0 = at epoch ends only
    on_nan: str = setting("stop", "stop | skip: what a NaN/inf loss does.")
    report: bool = setting(True, "Write report.html at the end.")
    quiet: bool = setting(False, "One line per epoch, no progress bars.", "--quiet", "-q")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError for a value that cannot work (names are checked where they are looked up)."""
        checks = {                         # setting: (holds, what a valid value is)
            "epochs": (self.epochs > 0, "> 0"),
            "batch_size": (self.batch_size >= 1, ">= 1"),
            "lr": (self.lr > 0, "> 0"),
            "val_fraction": (0.0 <= self.val_fraction < 1.0, "in [0, 1)"),
            "label_smoothing": (0.0 <= self.label_smoothing < 1.0, "in [0, 1)"),
            "erasing": (0.0 <= self.erasing <= 1.0, "in [0, 1]"),
            "ema_decay": (0.0 <= self.ema_decay < 1.0, "in [0, 1)"),
            "crop_padding": (self.crop_padding >= 0, ">= 0"),
            "grad_clip": (self.grad_clip >= 0, ">= 0 (0 = off)"),
            "warmup_epochs": (0 <= self.warmup_epochs <= self.epochs, f"in [0, epochs = {self.epochs}]"),
            "checkpoint_every": (self.checkpoint_every >= 0, ">= 0 (0 = at epoch ends only)"),
            "num_workers": (self.num_workers >= 0, ">= 0"),
            "threads": (self.threads >= 0, ">= 0 (0 = all cores)"),
            "betas": (len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "two numbers in [0, 1)"),
            "backbone_lr_mult": (0.0 < self.backbone_lr_mult <= 1.0e3, "in (0, 1000]"),
            "norm_bias_lr_mult": (0.0 < self.norm_bias_lr_mult <= 1.0e3, "in (0, 1000]"),
            "muon_lr": (self.muon_lr > 0, "> 0"),
            "muon_momentum": (0.0 <= self.muon_momentum < 1.0, "in [0, 1)"),
            "image_size": (self.image_size is None or self.image_size >= 1, ">= 1, or unset for the data's own size"),
            "channels_last": (self.channels_last in (True, False, "auto"), "true, false or auto"),
        }
        for name, (holds, valid) in checks.items():
            if not holds:
                raise ConfigError(f"{name}={getattr(self, name)!r} is out of range: it must be {valid}")
        from cnnlab.eval.tta import check_tta, check_tta_share

        check_tta(self.tta)
        check_tta_share(self.tta_share)
        check_option_pairs(vars(self), (("alternate_flip", "hflip"),))

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
    for raw_key, value in upgrade({str(k).replace("-", "_"): v for k, v in changes.items()}).items():
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


# a recipe's settings for CPUs that train in fp32 because they lack native bf16 (AVX2-only CPUs):
# there FLOPs cost 2-3x more time, so fewer FLOPs to the same accuracy can need other settings
NO_BF16_SECTION = "without_native_bf16"


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
    """Built-in defaults < model defaults < recipe < config (file, dict or TrainConfig) < model/data < overrides.

    A recipe's ``without_native_bf16`` section replaces its settings when the run trains on a CPU
    without native bf16 (`cnnlab.hardware.cpu_info`); ``recipe_variant`` then says so.
    """
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
    recipe_settings = load_yaml(recipe_path(recipe)) if recipe else {}
    variant = recipe_settings.pop(NO_BF16_SECTION, None) or {}
    if not isinstance(variant, Mapping):
        raise ConfigError(f"recipe {recipe}: {NO_BF16_SECTION} must hold a mapping of settings")
    merge(TrainConfig(), {**recipe_settings, **variant})          # a misspelt setting fails on every CPU
    later: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(config, TrainConfig):
        later.append(("config file", config.to_dict()))
    elif isinstance(config, Mapping):
        later.append(("config file", config))
    elif config is not None:
        later.append(("config file", load_yaml(config)))
    explicit = {k: v for k, v in {"model": model, "data": data}.items() if v is not None}
    later.append(("flag", {**explicit, **(overrides or {})}))
    resolved, defaults = _layered(recipe_settings, later)
    if variant and _without_native_bf16(resolved.config.device):
        from cnnlab.hardware import cpu_info

        resolved, defaults = _layered({**recipe_settings, **variant}, later)
        changes = ", ".join(f"{key} {getattr(resolved.config, key)}" for key in variant)   # as flags left them
        resolved.config = merge(resolved.config, {"recipe_variant": f"{recipe}: settings for CPUs without native "
                                                                    f"bf16 ({cpu_info().describe()}): {changes}"})
        resolved.sources["recipe_variant"] = "recipe"
    return _fit_to_dataset(resolved, defaults)


def _layered(recipe: Mapping[str, Any], later: list[tuple[str, Mapping[str, Any]]]) -> tuple[ResolvedConfig, Any]:
    """The settings merged in order, with the defaults of the model the layers end up naming."""
    from cnnlab.models import train_defaults

    layers = [("recipe", recipe), *later] if recipe else later
    named = [values["model"] for _, values in layers if values.get("model") is not None]
    defaults = train_defaults(str(named[-1]) if named else TrainConfig().model)
    cfg = TrainConfig()
    sources = dict.fromkeys(field_names(), SOURCES[0])
    for source, values in [("model default", defaults.settings()), *layers]:
        cfg = merge(cfg, values)
        sources.update(dict.fromkeys((str(k).replace("-", "_") for k in values), source))
    return ResolvedConfig(cfg, sources, []), defaults


def _without_native_bf16(device: str) -> bool:
    """Whether a run on ``device`` trains on a CPU that lacks native bf16."""
    import torch

    from cnnlab.hardware import cpu_info

    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    return on_cpu and not cpu_info().native_bf16


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
