"""The contract every cnnlab model follows (the same as timm's).

- ``forward_features(x)``: the body, image -> feature map (B, num_features, h, w) or vector.
- ``forward_head(x, pre_logits=False)``: pooling, dropout and the classifier.
- ``forward(x) = forward_head(forward_features(x))``, after a cheap check of the input's shape.
- ``num_features``, ``num_classes``, ``get_classifier()``, ``reset_classifier(num_classes)``.

The classifier is always the attribute named by ``classifier_name`` so that transfer learning,
the head-freezing logic and checkpoint checks never branch on a model's name.

Input sizes: every model knows the smallest input it can take (``min_input_size``, computed from
its layers by `cnnlab.models._shapes`); models whose classifier sees a flattened feature map of a
fixed size (linear, mlp, LeNet, the 2012 AlexNet) take exactly the ``input_size`` they were built
for. Anything else raises `ShapeError` naming the model, the size it needs and the fix.

Dimensions: models are 2-D by default; families that also build for sequences or volumes take
``dims=1|3`` (LeNet, ResNet and its variants), and then ``input_size`` is (L,) or (D, H, W).
"""
from __future__ import annotations

import numbers
from functools import cached_property
from typing import Sequence

import torch
from torch import nn

from cnnlab.errors import ConfigError, ShapeError
from cnnlab.layers.dims import check_dims
from cnnlab.models._shapes import min_input_size, output_hw, shape_str

SMALL_INPUT_MAX = 64  # inputs up to this size (28x28 MNIST, 32x32 CIFAR) get a small-input stem


def spatial_size(input_size: int | Sequence[int]) -> int:
    """The smaller spatial side of ``input_size`` (an int or a (H, W) / (C, H, W) tuple)."""
    return min(image_hw(input_size))


def image_hw(input_size: int | Sequence[int]) -> tuple[int, int]:
    """``input_size`` as an (H, W) pair: an int means a square image, a tuple ends with (H, W)."""
    if isinstance(input_size, numbers.Integral) and not isinstance(input_size, bool):
        input_size = int(input_size)  # numpy integers too
    if isinstance(input_size, (bool, str)) or not isinstance(input_size, (int, Sequence)):
        raise ConfigError(f"input_size must be an int or an (H, W) / (C, H, W) tuple, got {input_size!r}")
    dims = (input_size, input_size) if isinstance(input_size, int) else tuple(int(d) for d in input_size)[-2:]
    if len(dims) == 1:
        dims = (dims[0], dims[0])
    if len(dims) != 2 or min(dims) < 1:
        raise ConfigError(f"input_size must be positive, e.g. 28 or (28, 28); got {input_size!r}")
    return dims  # type: ignore[return-value]


# what a batch looks like for each number of spatial dimensions (models built with dims=1|2|3)
LAYOUTS = {1: ("sequences", "(B, C, L)"), 2: ("images", "(B, C, H, W)"), 3: ("volumes", "(B, C, D, H, W)")}


def spatial_shape(input_size: int | Sequence[int], dims: int = 2) -> tuple[int, ...]:
    """``input_size`` as ``dims`` sizes: (L,) for sequences, (H, W) for images, (D, H, W) for volumes.

    An int means the same size on every axis; a longer tuple (e.g. with channels first) keeps its
    last ``dims`` entries.
    """
    if check_dims(dims) == 2:
        return image_hw(input_size)
    if isinstance(input_size, numbers.Integral) and not isinstance(input_size, bool):
        sizes: tuple[int, ...] = (int(input_size),) * dims
    elif isinstance(input_size, Sequence) and not isinstance(input_size, str):
        sizes = tuple(int(d) for d in input_size)[-dims:]
    else:
        sizes = ()
    if len(sizes) != dims or min(sizes) < 1:
        example = "128" if dims == 1 else "(16, 64, 64)"
        raise ConfigError(f"input_size for dims={dims} must be an int or {dims} positive sizes, e.g. {example}; "
                          f"got {input_size!r}")
    return sizes


def is_small_input(input_size: int | Sequence[int]) -> bool:
    return spatial_size(input_size) <= SMALL_INPUT_MAX


def use_small_stem(small_stem: bool | None, input_size: int | Sequence[int]) -> bool:
    """The family's small-input stem is used when asked for, or by default for inputs <= 64 px."""
    return is_small_input(input_size) if small_stem is None else bool(small_stem)


def check_count(what: str, value: object, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}; {fix}")
    return value


class ImageClassifier(nn.Module):
    """Base class holding the shared checks and head logic; subclasses build ``self.<classifier_name>``.

    Args:
        arch: the registered name (used in error messages and by `cnnlab.models.convert`).
        num_classes: size of the classifier output.
        in_channels: channels of the input images.
        input_size: the spatial size the model is built for.
        fixed_input_size: True when the model takes only ``input_size`` (a flatten feeds a Linear).
    """

    classifier_name: str = "fc"
    num_features: int

    def __init__(
        self,
        *,
        arch: str,
        num_classes: int,
        in_channels: int,
        input_size: int | Sequence[int],
        fixed_input_size: bool = False,
        dims: int = 2,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = check_count("num_classes", num_classes, "e.g. num_classes=10 for CIFAR-10")
        self.in_channels = check_count("in_channels", in_channels, "use 1 for grayscale or 3 for RGB images")
        self.dims = check_dims(dims)  # spatial dimensions: 1 sequences, 2 images, 3 volumes
        self.input_size = spatial_shape(input_size, dims)
        self.fixed_input_size = fixed_input_size

    # -- the contract --------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return getattr(self, self.classifier_name)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final Linear layer with a freshly initialised one for ``num_classes`` outputs."""
        num_classes = check_count("num_classes", num_classes, "e.g. num_classes=10")
        old = self.get_classifier()
        last = old[-1] if isinstance(old, nn.Sequential) else old
        if not isinstance(last, nn.Linear):
            raise TypeError(f"{type(self).__name__}: override reset_classifier for a {type(last).__name__} head")
        new = nn.Linear(last.in_features, num_classes, device=last.weight.device, dtype=last.weight.dtype)
        if isinstance(old, nn.Sequential):
            old[-1] = new
        else:
            setattr(self, self.classifier_name, new)
        self.num_classes = num_classes

    # -- helpers for subclasses ----------------------------------------------------------------
    def classify(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Apply the classifier; with ``pre_logits`` stop before its final layer."""
        head = self.get_classifier()
        if pre_logits:
            return head[:-1](x) if isinstance(head, nn.Sequential) else x
        return head(x)

    def feature_modules(self) -> list[nn.Module]:
        """The modules of ``forward_features`` in order, for the spatial-size arithmetic."""
        return [self.features]

    # -- input sizes ---------------------------------------------------------------------------
    @cached_property
    def min_input_size(self) -> int:
        """The smallest square input the layers of ``forward_features`` can take."""
        return min_input_size(self.feature_modules(), dims=self.dims)

    def feature_hw(self) -> tuple[int, ...]:
        """The (H, W) of ``forward_features`` for the built ``input_size`` (sizes a flatten)."""
        self.check_built_size()
        return output_hw(self.feature_modules(), self.input_size)

    def check_built_size(self) -> None:
        """Raise `ShapeError` when the layers cannot take the ``input_size`` the model is built for."""
        need = self.min_input_size
        if min(self.input_size) < need:
            needed = shape_str((need,) * self.dims)
            raise ShapeError(
                f"{self.arch} cannot be built for {shape_str(self.input_size)} inputs: its convolutions and "
                f"poolings need at least {needed} pixels; resize the images to at least {needed} "
                f"(`--image-size {need}` on the command line, `image_size={need}` in cnnlab.train) and build it "
                f"with that input_size"
            )

    def check_input_size(self, size: Sequence[int]) -> None:
        """Raise `ShapeError` (naming the model, the size it needs and the fix) for an unusable (H, W)."""
        size, built = tuple(size), shape_str(self.input_size)
        need = self.min_input_size
        needed = shape_str((need,) * self.dims)
        too_small = min(size) < need
        if self.fixed_input_size and size != tuple(self.input_size):
            problem = (f"takes exactly {built} inputs, the size it was built for (its classifier sees a "
                       f"flattened feature map of that size)")
            fix = f"resize the images to {built}" + ("" if too_small else f" or build it with input_size={size}")
        elif too_small:
            problem = (f"needs inputs of at least {needed} pixels (its convolutions and poolings shrink "
                       f"smaller ones to nothing)")
            fix = f"resize the images to at least {needed} (`--image-size {need}` for `cnnlab train`)"
        else:
            return
        if too_small and min(self.input_size) > SMALL_INPUT_MAX:
            fix += " (or build it with input_size=<your image size>: inputs <= 64 px get a small-input stem)"
        raise ShapeError(f"{self.arch} {problem}, got {shape_str(size)}; {fix}")

    def check_input(self, x: torch.Tensor) -> None:
        """Cheap checks of a batch against what the model was built for (Python ints only)."""
        what, layout = LAYOUTS[self.dims]
        if x.dim() != self.dims + 2:
            raise ShapeError(
                f"{self.arch} expects a batch of {what} shaped {layout}, got a tensor of shape "
                f"{tuple(x.shape)}; add a batch dimension with x.unsqueeze(0)" if x.dim() == self.dims + 1 else
                f"{self.arch} expects a batch of {what} shaped {layout}, got a tensor of shape {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ShapeError(
                f"{self.arch} was built for {self.in_channels}-channel {what} but got {x.shape[1]} channels; "
                f"build it with in_channels={x.shape[1]} or convert the {what}"
            )
        self.check_input_size(tuple(int(s) for s in x.shape[2:]))
