"""FastNet and AirNet: one small, fast BatchNorm CNN for 28x28 and 32x32 images (cnnlab's speed-run nets).

After airbench94 (Keller Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024,
arXiv:2404.00498) and David Page's ResNet-9 ("How to train your ResNet", 2018): a 3x3 stem, then
groups of ``conv3x3 -> max-pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU``, a global max pool and
one linear layer. No residuals: at these depths BatchNorm alone trains it in a few epochs.

``fastnet*`` is the plain network. ``airnet*`` is the same layout with airbench's initialisation and
normalisation tricks (`AIRBENCH`):

- BatchNorm scales frozen at 1 (kept as buffers, so BN folding still works) and a faster running
  average of the statistics (``bn_momentum``, PyTorch convention: weight of the newest batch);
- identity ("dirac") initialisation of the first ``cin`` output channels of every conv after the
  stem, so that a fresh network passes its input through and trains from the first step;
- a bias-free classifier whose logits are scaled by ``logit_scale`` (airbench: 1/9), which keeps
  the early softmax soft.

``stem="whiten"`` swaps the 3x3 conv-BN-GELU stem for airbench's frozen patch-whitening conv:
a ``whiten_kernel`` x ``whiten_kernel`` conv (no padding) whose filters are the eigenvectors of
the training images' patch covariance divided by the square roots of their eigenvalues, each
kept with both signs (2*C*k*k channels: 8 for 2x2 gray patches), then GELU. Only its bias
learns; ``whiten_bias=False`` drops the bias too, so no gradient reaches the stem: the first conv
skips its input gradient and the stem activation its backward (on the 90% recipe's AVX2 net a
training step 1.08x faster, at the same validation accuracy: docs/recipes.md, "A stem without a
bias"). It needs the data, so the trainer calls `init_from_data` with training images before
the first step (a fresh model without it has random stem filters). ``act_layer`` swaps GELU for
another activation (a name of `cnnlab.layers.ACT_LAYERS` or a class); ``stem_act_layer`` swaps
the stem's alone. After the whitening stem ReLU loses nothing: its filters come in +-v pairs, and
ReLU(z), ReLU(-z) together keep z (CReLU), while it costs a third of GELU on the largest
activation of the net (27x27 for 28x28 images). airbench's 64x BN-bias
learning rate is the trainer's ``norm_bias_lr_mult``.

``depths`` sets the convs of each group (default 2): a group of depth 1 is its conv-pool-BN-act
alone, of depth 3 one more conv-BN-act. ``downsample="stride"`` (for every group, or a list with one
value per group) halves the image with a stride-2 first conv instead of the max pool after it: a
quarter of that conv's work, no pool, and an odd size rounds up (27 -> 14) where pooling floors it.
The net of the 90% and demo recipes, 16-32-64 with ``depths=(1, 1, 2)`` and
``downsample=("stride", "pool", "pool")``, trains 1.48x faster per step than the default layout, at
about its accuracy for the same steps in short runs (docs/recipes.md, "A cheaper net for the 90%
recipe and the demo").

Small-input stem (inputs <= 64 pixels, or ``small_stem=True``): a stride-1 3x3 conv, so a 28x28
image becomes 14, 7, 3 pixels across the three groups. Larger inputs get a stride-2 stem followed by
a 2x2 max pool (4x smaller) so that the groups see the same kind of sizes.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from cnnlab.errors import ConfigError
from cnnlab.layers.create import LayerFactory, get_act_layer, make_act
from cnnlab.models._base import ImageClassifier, use_small_stem
from cnnlab.models._registry import TrainDefaults, register_model

# the settings fastnet_small was tuned with on Fashion-MNIST (92.12% validation), without their augmentation
TRAIN_DEFAULTS = TrainDefaults(lr=0.2, epochs=5, label_smoothing=0.1, min_steps=300)  # takes 8x8 images
# airnet*: the fashion-mnist-95 recipe's SGD lr (the 1/9 logit scale wants a high one), without its augmentation
AIRNET_TRAIN_DEFAULTS = TrainDefaults(lr=0.4, epochs=5, label_smoothing=0.1, min_steps=300)

# airnet's options: airbench's initialisation and normalisation tricks on FastNet's layout
AIRBENCH: dict[str, Any] = dict(bn_momentum=0.4, freeze_bn_scale=True, dirac=True, logit_scale=1 / 9, head_bias=False)


class FrozenScaleBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm with its per-channel scale fixed at 1: a buffer named ``weight``, only the bias learns."""

    def __init__(self, channels: int, momentum: float = 0.1) -> None:
        super().__init__(channels, momentum=momentum)
        del self.weight
        self.register_buffer("weight", torch.ones(channels))


class PatchWhitening(nn.Conv2d):
    """A frozen conv that whitens k x k patches (airbench): filters +-v_i / sqrt(lambda_i + eps).

    v_i, lambda_i are the eigenvectors and eigenvalues of the covariance of the training images'
    patches (C*k*k values each), so the outputs are decorrelated with unit variance. The filters
    are a buffer-like frozen parameter (``requires_grad=False``, saved in the state dict); the
    bias, if ``bias``, learns.
    """

    def __init__(self, in_channels: int, kernel_size: int = 2, eps: float = 5e-4, bias: bool = True) -> None:
        if kernel_size < 1:
            raise ConfigError(f"whiten_kernel must be >= 1, got {kernel_size}")
        super().__init__(in_channels, 2 * in_channels * kernel_size**2, kernel_size, padding=0, bias=bias)
        self.weight.requires_grad_(False)
        self.eps = eps

    @torch.no_grad()
    def fit(self, images: torch.Tensor) -> None:
        """Set the filters from images (N, C, H, W): eigen-decomposition of the patch covariance."""
        c, k = self.in_channels, self.kernel_size[0]
        patches = images.unfold(2, k, 1).unfold(3, k, 1)                 # (N, C, H', W', k, k)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).float()
        covariance = torch.atleast_2d(torch.cov(patches.T)).double()   # float32 sums: 4x faster, ample here
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)         # ascending; columns
        filters = (eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + self.eps)[:, None]).flip(0)
        filters = filters.reshape(-1, c, k, k).to(self.weight.dtype)
        self.weight.copy_(torch.cat([filters, -filters]))
        if self.bias is not None:
            self.bias.zero_()


class FastNet(ImageClassifier):
    """Stem + one (conv-pool-BN-GELU, conv-BN-GELU) group per entry of ``widths`` + global max pool + linear.

    ``depths``: the convs of each group (default 2 each). ``downsample``: how each group halves the
    image, "pool" (its first conv, then a 2x2 max pool) or "stride" (its first conv with stride 2);
    one value for every group or a list with one per group.
    """

    classifier_name = "fc"

    def __init__(
        self,
        *,
        arch: str = "fastnet",
        widths: Sequence[int] = (32, 64, 128),
        depths: Sequence[int] | None = None,
        downsample: str | Sequence[str] = "pool",
        stem_width: int | None = None,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int | tuple[int, ...] = 28,
        drop_rate: float = 0.0,
        small_stem: bool | None = None,
        stem: str = "conv",
        whiten_kernel: int = 2,
        whiten_bias: bool = True,
        act_layer: str | LayerFactory = "gelu",
        stem_act_layer: str | LayerFactory | None = None,
        bn_momentum: float = 0.1,
        freeze_bn_scale: bool = False,
        dirac: bool = False,
        logit_scale: float = 1.0,
        head_bias: bool = True,
    ) -> None:
        super().__init__(arch=arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        if stem not in ("conv", "whiten"):
            raise ConfigError(f"{arch} stem must be 'conv' or 'whiten', got {stem!r}")
        if not isinstance(whiten_bias, bool):
            raise ConfigError(f"{arch} whiten_bias must be true or false, got {whiten_bias!r}")
        if not whiten_bias and stem != "whiten":
            raise ConfigError(f"{arch} whiten_bias=False drops the whitening stem's bias: add stem='whiten' "
                              f"(the stem is {stem!r})")
        depths = tuple(depths) if depths is not None else (2,) * len(widths)
        if len(depths) != len(widths) or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in depths):
            raise ConfigError(f"{arch} depths must give each of the {len(widths)} groups (widths {list(widths)}) "
                              f"a whole number of convs >= 1, e.g. {[2] * len(widths)}; got {list(depths)}")
        downsample = (downsample,) * len(widths) if isinstance(downsample, str) else tuple(downsample)
        if len(downsample) != len(widths) or any(d not in ("pool", "stride") for d in downsample):
            raise ConfigError(f"{arch} downsample must be 'pool' or 'stride', or a list of those with one per group "
                              f"(widths {list(widths)}); got {list(downsample)}")
        small = use_small_stem(small_stem, input_size)
        act = get_act_layer(act_layer)
        stem_act = get_act_layer(stem_act_layer) if stem_act_layer is not None else act
        norm = FrozenScaleBatchNorm2d if freeze_bn_scale else nn.BatchNorm2d

        def conv_bn_act(cin: int, cout: int, *, stride: int = 1, pool: bool = False,
                        act: LayerFactory = act) -> list[nn.Module]:
            """3x3 conv (no bias: BN has one), an optional 2x2 max pool, BN, activation."""
            conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            return [conv, *([nn.MaxPool2d(2)] if pool else []), norm(cout, momentum=bn_momentum), make_act(act)]

        if stem == "whiten":
            whiten = PatchWhitening(in_channels, whiten_kernel, bias=whiten_bias)
            stem_width, stem_layers = whiten.out_channels, [whiten, make_act(stem_act)]
        else:
            stem_width = stem_width or widths[0]
            stem_layers = conv_bn_act(in_channels, stem_width, stride=1 if small else 2, act=stem_act)
        self.stem = nn.Sequential(*stem_layers) if small else nn.Sequential(*stem_layers, nn.MaxPool2d(2))
        chans = [stem_width, *widths]
        self.groups = nn.Sequential(*(
            nn.Sequential(*conv_bn_act(a, b, stride=2 if down == "stride" else 1, pool=down == "pool"),
                          *(layer for _ in range(depth - 1) for layer in conv_bn_act(b, b)))
            for a, b, depth, down in zip(chans[:-1], chans[1:], depths, downsample)  # (B, a, H, W) -> (B, b, H/2, W/2)
        ))
        self.num_features = widths[-1]
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes, bias=head_bias)
        self.logit_scale = logit_scale
        if dirac:
            for conv in (m for m in self.groups.modules() if isinstance(m, nn.Conv2d)):
                if conv.out_channels >= conv.in_channels:
                    nn.init.dirac_(conv.weight.data[:conv.in_channels])

    @property
    def needs_data_init(self) -> bool:
        """Whether the trainer must call `init_from_data` before the first step (a whitening stem)."""
        return isinstance(self.stem[0], PatchWhitening)

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Data-dependent initialisation (the trainer calls it once): fit the whitening stem, if any.

        ``images`` (N, C, H, W) are normalised training images, a few thousand are plenty.
        """
        whiten = self.stem[0]
        if isinstance(whiten, PatchWhitening):
            whiten.fit(images.to(whiten.weight.device, torch.float32))

    def feature_modules(self) -> list[nn.Module]:
        return [self.stem, self.groups]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.groups(self.stem(x))          # (B, C, H, W) -> (B, widths[-1], H/8, W/8)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(torch.flatten(self.pool(x), 1))  # (B, num_features)
        if pre_logits:
            return x
        logits = self.fc(x)                       # (B, num_classes)
        return logits * self.logit_scale if self.logit_scale != 1.0 else logits


def _fastnet(arch: str, widths: Sequence[int], options: dict[str, Any] | None = None, /, **kwargs: Any) -> FastNet:
    # explicit options win over the variant's: model_kwargs {widths: [...]} overrides its widths
    return FastNet(arch=arch, **{"widths": widths, **(options or {}), **kwargs})


@register_model
def fastnet(**kwargs: Any) -> FastNet:
    """FastNet 32-64-128 (0.30M params): 92.7% Fashion-MNIST test accuracy after 4 epochs."""
    return _fastnet("fastnet", (32, 64, 128), **kwargs)


@register_model
def fastnet_small(**kwargs: Any) -> FastNet:
    """FastNet 16-32-64 (75k params): the main job's network, 92.3% on Fashion-MNIST in 5 epochs."""
    return _fastnet("fastnet_small", (16, 32, 64), **kwargs)


@register_model
def fastnet_wide(**kwargs: Any) -> FastNet:
    """FastNet 64-128-256 (1.2M params): about 4x the compute of fastnet."""
    return _fastnet("fastnet_wide", (64, 128, 256), **kwargs)


@register_model(train_defaults=AIRNET_TRAIN_DEFAULTS)
def airnet_small(**kwargs: Any) -> FastNet:
    """AirNet 16-32-64 (~0.07M params): FastNet-small's cost, airbench's initialisation."""
    return _fastnet("airnet_small", (16, 32, 64), AIRBENCH, **kwargs)


@register_model(train_defaults=AIRNET_TRAIN_DEFAULTS)
def airnet(**kwargs: Any) -> FastNet:
    """AirNet 32-64-128 (~0.3M params)."""
    return _fastnet("airnet", (32, 64, 128), AIRBENCH, **kwargs)


@register_model(train_defaults=AIRNET_TRAIN_DEFAULTS)
def airnet_wide(**kwargs: Any) -> FastNet:
    """AirNet 64-128-256 (~1.2M params): for the longer, more accurate recipes."""
    return _fastnet("airnet_wide", (64, 128, 256), AIRBENCH, **kwargs)
