"""What a neuron wants: inputs optimised against a trained model.

- `class_visualisation`: gradient ascent on a class score from a noisy gray image, with an L2
  penalty, jitter and periodic blur (Simonyan et al. 2013, https://arxiv.org/abs/1312.6034; Yosinski
  et al. 2015; cs231n assignment 3).
- `feature_visualisation`: the input that maximises one channel's mean activation, optimised
  under random jitter, scale and rotation so it does not rely on pixel-exact noise (Olah et al.,
  "Feature Visualization", Distill 2017; lucent's transformation robustness).
- `fooling_image`: small normalized-gradient steps from a real image towards a chosen class until
  the model answers it (Szegedy et al. 2013, https://arxiv.org/abs/1312.6199; cs231n A3).

All work in the model's normalized input space and keep pixels valid (0..1 before
normalization); the model is left in eval mode and its weights untouched.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.inspect.conv_layers import conv_layers
from cnnlab.viz.input_opt import PixelSpace, blur, display, jitter, random_transform


@dataclass
class Optimised:
    """An optimised input and how the objective moved."""

    image: np.ndarray          # (H, W) or (H, W, 3) in 0..1
    start: float               # objective at the first step
    end: float                 # objective of the final image (no jitter)
    steps: int


@dataclass
class Fooling:
    original: np.ndarray       # (H, W[, 3]) 0..1
    fooled: np.ndarray         # the same, perturbed
    delta: np.ndarray          # fooled - original, pixels in -1..1
    target: int
    original_class: int
    fooled_class: int
    target_prob: float         # the model's probability of the target on the fooled image
    steps: int
    l2: float                  # ||delta||_2 in 0..1 pixel units
    linf: float                # max |delta| in 0..1 pixel units

    @property
    def success(self) -> bool:
        return self.fooled_class == self.target


@contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
    """Eval mode and no parameter gradients while the input is optimised; restored afterwards."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def _check_class(target: int, num_classes: int) -> None:
    if not 0 <= target < num_classes:
        raise ConfigError(f"class {target} does not exist: the model has classes 0..{num_classes - 1}")


def _ascent_step(x: torch.Tensor, lr: float) -> None:
    """One step along the gradient, scaled by its mean magnitude (the step size is then in pixel std units)."""
    with torch.no_grad():
        g = x.grad
        x += lr * g / (g.abs().mean() + 1e-12)
        x.grad = None


def _ascend(x: torch.Tensor, space: PixelSpace, objective: Callable[[torch.Tensor], torch.Tensor], *, steps: int,
            lr: float, l2: float, blur_every: int, blur_sigma: float) -> float:
    """``steps`` of gradient ascent on ``objective(x) - l2 * |x|^2``, keeping pixels valid and blurring
    every ``blur_every`` steps; ``x`` is changed in place. Returns the objective at the first step."""
    start = None
    for t in range(steps):
        value = objective(x)
        start = float(value.detach()) if start is None else start
        (value - l2 * (x ** 2).sum()).backward()
        _ascent_step(x, lr)
        with torch.no_grad():
            x.copy_(space.clamp(x))
            if blur_every and (t + 1) % blur_every == 0:
                x.copy_(space.clamp(blur(x, blur_sigma)))
    return start if start is not None else 0.0


def class_visualisation(model: nn.Module, space: PixelSpace, target: int, *, steps: int = 200, lr: float = 0.1,
                        l2: float = 1e-2, jitter_px: int | None = None, blur_every: int = 4, blur_sigma: float = 0.7,
                        seed: int = 0) -> Optimised:
    """The image that maximises class ``target``'s score (a logit, before softmax) minus an L2 penalty.

    ``jitter_px`` defaults to 1 pixel per 14 of the image side (2 for 28x28), at least 1."""
    gen = torch.Generator().manual_seed(seed)
    x = space.noise(gen).requires_grad_(True)
    jitter_px = max(1, min(space.shape[1:]) // 14) if jitter_px is None else jitter_px
    with _frozen(model):
        _check_class(target, int(model(x.detach()).shape[1]))
        start = _ascend(x, space, lambda img: model(jitter(img, gen, jitter_px)[0])[0, target],
                        steps=steps, lr=lr, l2=l2, blur_every=blur_every, blur_sigma=blur_sigma)
        with torch.no_grad():
            end = float(model(x)[0, target])
    return Optimised(display(space.to_pixels(x)), start, end, steps)


def _channel_output(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules or not layer:
        raise ConfigError(f"no layer named {layer!r}; conv layers: {', '.join(conv_layers(model)) or 'none'}")
    return modules[layer]


def feature_visualisation(model: nn.Module, space: PixelSpace, layer: str, channel: int, *, steps: int = 128,
                          lr: float = 0.05, l2: float = 1e-4, blur_every: int = 8, blur_sigma: float = 0.5,
                          seed: int = 0) -> Optimised:
    """The image that maximises the mean activation of ``channel`` at module ``layer``."""
    module = _channel_output(model, layer)
    seen: dict[str, torch.Tensor] = {}
    handle = module.register_forward_hook(lambda _m, _i, out: seen.__setitem__("out", out))
    gen = torch.Generator().manual_seed(seed)
    x = space.noise(gen).requires_grad_(True)

    def objective(image: torch.Tensor) -> torch.Tensor:
        model(image)
        out = seen["out"]
        if out.dim() < 2 or not 0 <= channel < out.shape[1]:
            raise ConfigError(f"{layer} has {out.shape[1] if out.dim() > 1 else 0} channels; channel {channel} does not exist")
        return out[0, channel].mean()

    try:
        with _frozen(model):
            start = _ascend(x, space, lambda img: objective(random_transform(jitter(img, gen, 1)[0], gen)),
                            steps=steps, lr=lr, l2=l2, blur_every=blur_every, blur_sigma=blur_sigma)
            with torch.no_grad():
                end = float(objective(x))
    finally:
        handle.remove()
    return Optimised(display(space.to_pixels(x)), start, end, steps)


def fooling_image(model: nn.Module, space: PixelSpace, x: torch.Tensor, target: int, *, lr: float = 0.02,
                  max_steps: int = 500) -> Fooling:
    """Step from image ``x`` (1, C, H, W, normalized) along the target score's L2-normalized gradient
    (step ``lr`` in 0..1 pixel units) until the model predicts ``target``, or ``max_steps`` pass."""
    fooled = x.detach().clone().requires_grad_(True)
    with _frozen(model):
        with torch.no_grad():
            logits = model(x)
        _check_class(target, logits.shape[1])
        original_class = int(logits.argmax(1))
        steps = 0
        while steps < max_steps:
            logits = model(fooled)
            if int(logits.argmax(1)) == target:
                break
            logits[0, target].backward()
            with torch.no_grad():
                g = fooled.grad * space.std  # the gradient in pixel units
                step = lr * g / (g.norm() + 1e-12)
                fooled += step / space.std
                fooled.copy_(space.clamp(fooled))
                fooled.grad = None
            steps += 1
        with torch.no_grad():
            probs = torch.softmax(model(fooled), 1)[0]
    before, after = space.to_pixels(x), space.to_pixels(fooled.detach())
    delta = after - before
    return Fooling(display(before), display(after), display(delta), target, original_class, int(probs.argmax()),
                   float(probs[target]), steps, float(delta.norm()), float(delta.abs().max()))
