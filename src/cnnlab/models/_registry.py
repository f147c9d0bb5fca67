"""The model registry: every architecture variant is registered by name, built by `create_model`.

Family files decorate a small public builder per variant::

    @register_model
    def resnet18(**kwargs) -> ResNet:
        model_args = dict(block=BasicBlock, layers=(2, 2, 2, 2))
        return _resnet("resnet18", **dict(model_args, **kwargs))

Builders are keyword-only and accept at least ``num_classes``, ``in_channels`` and ``input_size``.

Every family file also declares ``TRAIN_DEFAULTS = TrainDefaults(...)`` above its builders: the
settings that train its models from scratch (as timm attaches a default config to each model).
`cnnlab train MODEL --data D` starts from them; a recipe, a config file and flags override them.
"""
from __future__ import annotations

import contextlib
import fnmatch
import inspect
import sys
import typing
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.models._base import ImageClassifier

ModelBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class TrainDefaults:
    """How a family's models train from scratch: `TrainConfig` settings plus two that fit the dataset."""

    optimizer: str = "sgd"           # sgd | rmsprop | adam | adamw
    lr: float = 0.1                  # peak learning rate
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    epochs: int = 10                 # passes over a large training split
    batch_size: int = 256
    label_smoothing: float = 0.0
    min_image_size: int = 1          # pixels: smaller images are resized up to min_image_size x min_image_size
    min_steps: int = 0               # optimizer steps: a small dataset gets more epochs to reach them

    def settings(self) -> dict[str, Any]:
        """The `TrainConfig` fields these defaults set."""
        return {k: getattr(self, k) for k in
                ("optimizer", "lr", "weight_decay", "schedule", "epochs", "batch_size", "label_smoothing")}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str  # the family module's short name, e.g. "resnet"
    builder: ModelBuilder
    doc: str
    train_defaults: TrainDefaults


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(fn: ModelBuilder | None = None, *, train_defaults: TrainDefaults | None = None) -> Any:
    """Register a builder under its function name; duplicate names are a programming error.

    ``@register_model`` gives the variant its family file's ``TRAIN_DEFAULTS``;
    ``@register_model(train_defaults=...)`` gives it its own (a family file holding two lineages)."""
    if fn is None:
        return lambda builder: register_model(builder, train_defaults=train_defaults)
    name = fn.__name__
    if name in _REGISTRY:
        raise RuntimeError(f"model {name!r} is registered twice ({fn.__module__} and {_REGISTRY[name].builder.__module__})")
    family = fn.__module__.rsplit(".", 1)[-1]
    module = sys.modules[fn.__module__]
    # a model registered outside cnnlab without TRAIN_DEFAULTS trains with TrainConfig's defaults
    defaults = train_defaults or getattr(module, "TRAIN_DEFAULTS", None) or TrainDefaults()
    doc = inspect.getdoc(fn) or inspect.getdoc(module) or ""
    _REGISTRY[name] = ModelEntry(name=name, family=family, builder=fn, doc=doc.split("\n", 1)[0],
                                 train_defaults=defaults)
    return fn


@contextlib.contextmanager
def registered(*builders: ModelBuilder) -> Iterator[list[str]]:
    """Register ``builders`` for the ``with`` block only (a test's or an experiment's models), then
    remove them, so `list_models` stays the package's own list."""
    for builder in builders:
        register_model(builder)
    try:
        yield [builder.__name__ for builder in builders]
    finally:
        for builder in builders:
            _REGISTRY.pop(builder.__name__, None)


def list_models(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Registered model names, sorted; ``pattern`` is a shell glob such as ``"resnet*"``."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if family:
        names = [n for n in names if _REGISTRY[n].family == family]
    return names


def model_info(name: str) -> ModelEntry:
    """The registry entry of one model (family, builder, one-line description)."""
    return _REGISTRY[_check_name(name)]


def train_defaults(name: str) -> TrainDefaults:
    """The training settings a model's family declares (`TrainDefaults`)."""
    return model_info(name).train_defaults


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_size: int | tuple[int, ...] | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered model.

    Args:
        name: a name from `list_models()`.
        num_classes: size of the classifier output.
        in_channels: channels of the input images (1 for grayscale, 3 for RGB).
        input_size: the spatial size the model will see (an int for square images). Small inputs
            (<= 64 pixels) select each family's small-input stem, documented in its module.
        **kwargs: passed unchanged to the family's constructor (e.g. ``drop_rate``); an option the
            constructor does not take is a `ConfigError` listing those it does.

    None (the default) keeps the family's own default for num_classes, in_channels and input_size
    (ImageNet's 1000 classes on 3x224x224 for most; 3x227x227 for alexnet_2012; 10 classes on
    1x28x28 for linear, mlp and LeNet).
    """
    entry = _REGISTRY[_check_name(name)]
    # The model's constructor checks num_classes and in_channels (ConfigError); an input_size the
    # layers cannot take is reported here, before anything runs (ShapeError).
    _check_kwargs(entry, kwargs)
    given = dict(num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    model = entry.builder(**{k: v for k, v in given.items() if v is not None}, **kwargs)
    if isinstance(model, ImageClassifier):
        model.check_built_size()
    return model


def _check_name(name: str) -> str:
    if name in _REGISTRY:
        return name
    close = [n for n in _REGISTRY if n.startswith(name.split("_")[0][:4])][:8]
    hint = f" Did you mean one of: {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown model {name!r}.{hint} Run `cnnlab models` for the full list.")


def model_kwargs(name: str) -> list[str] | None:
    """The options a model's constructor accepts beyond num_classes/in_channels/input_size.

    Read from the class its builder is annotated to return; None when that is not a class.
    """
    try:
        cls = typing.get_type_hints(model_info(name).builder).get("return")
    except NameError:  # an annotation that does not resolve: do not guess
        return None
    if not isinstance(cls, type):
        return None
    params = inspect.signature(cls.__init__).parameters
    return [p for p, param in params.items() if param.kind is inspect.Parameter.KEYWORD_ONLY
            and p not in ("arch", "num_classes", "in_channels", "input_size")]


def _check_kwargs(entry: ModelEntry, kwargs: dict) -> None:
    accepted = model_kwargs(entry.name)
    unknown = sorted(set(kwargs) - set(accepted or ()))
    if accepted is not None and unknown:
        raise ConfigError(f"{entry.name} has no option {', '.join(map(repr, unknown))}; "
                          f"it accepts: {', '.join(accepted) or 'no options'}")
