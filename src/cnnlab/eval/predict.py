"""Classify image files with a trained run, checkpoint or exported file (`cnnlab.export.load_predictor`).

Any PNG/JPEG/BMP/WebP (or other format Pillow reads), of any size, gray or color, is converted to
what the model expects: its channel count (gray "L" or "RGB"; alpha is dropped), its input size
(shorter side resized, then a centre crop) and the training normalization from meta.json.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from PIL import UnidentifiedImageError

from cnnlab.data.folder import open_image, to_mode
from cnnlab.errors import ConfigError, DataError
from cnnlab.export import Predictor, load_predictor

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
PIL_MODES = {1: "L", 3: "RGB"}  # in_channels -> Pillow mode
DEFAULT_TOPK = 5
POLARITY_GAP = 0.35   # an image this much lighter or darker (0..1) than the training images' mean...
POLARITY_CLEAR = 0.15  # ...of a training set whose mean is this far from mid-gray (a clear polarity)


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expand (recursively, sorted) to their files with image suffixes."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            files.append(p)
    return files


def load_image(path: Path, *, channels: int, size: Sequence[int]) -> torch.Tensor:
    """Decode ``path`` to uint8 (channels, H, W) at the model's input size.

    Decoding and conversion rules: `cnnlab.data.folder` (one path for training and prediction).
    Raises OSError/UnidentifiedImageError/ValueError for files that are not readable images and
    DataError for images above PIL.Image.MAX_IMAGE_PIXELS.
    """
    # here, not at the top: torchvision's transforms import torch._dynamo (~1.7 s on a 2-core CPU),
    # which every `cnnlab train` would pay through the evaluation it shares with prediction
    from torchvision.transforms.v2 import functional as TF

    mode = PIL_MODES.get(channels)
    if mode is None:
        raise ConfigError(f"cannot feed images to a model with {channels} input channels (only 1 or 3)")
    with open_image(path) as img:  # refuses decompression bombs from the header
        x = TF.pil_to_tensor(to_mode(img, mode))  # (C, H, W) uint8
    h, w = int(size[0]), int(size[1])
    x = TF.resize(x, [max(h, w)], antialias=True)
    return TF.center_crop(x, [h, w])


def invert(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 images with light and dark swapped (a dark object on white becomes light on black)."""
    return 255 - pixels


def polarity_note(pixels: torch.Tensor, train_mean: Sequence[float]) -> str | None:
    """A note when an image looks of inverted polarity against the training images: its mean brightness
    far from theirs and on the other side of mid-gray (a dark object on white, when they were light on dark).
    None when it looks alike, or when the training images have no clear polarity (mean near mid-gray)."""
    image = pixels.float().mean().item() / 255
    train = sum(train_mean) / len(train_mean)
    if abs(train - 0.5) < POLARITY_CLEAR or abs(image - train) < POLARITY_GAP or (image - 0.5) * (train - 0.5) > 0:
        return None
    looks = {True: "dark on light", False: "light on dark"}
    return (f"mean brightness {image:.2f} where the training images' is {train:.2f}: it looks {looks[image > 0.5]} "
            f"and they were {looks[train > 0.5]}, so the prediction may be meaningless")


def channel_stat(values: Sequence[float], device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-channel mean or std as a (1, C, 1, 1) tensor that broadcasts over a batch."""
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float, scaled to 0..1 and standardized per channel."""
    return (images.float() / 255 - channel_stat(mean, images.device)) / channel_stat(std, images.device)


@dataclass
class Prediction:
    path: str
    topk: list[tuple[str, float]]  # (class name, probability), most likely first
    note: str | None = None  # e.g. the image looks of inverted polarity (polarity_note)


@dataclass
class PredictResult:
    predictions: list[Prediction] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictions": [
                {"path": p.path, "topk": [{"class": c, "prob": pr} for c, pr in p.topk], "note": p.note}
                for p in self.predictions
            ],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def predict(
    run_or_checkpoint_or_onnx: str | Path | Predictor,
    paths: Iterable[str | Path],
    *,
    topk: int | None = None,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    invert_images: bool = False,
) -> PredictResult:
    """Top-``topk`` classes with probabilities for each image file (folders expand to their images).

    ``topk``: 1 to the number of classes (ConfigError otherwise); None lists up to DEFAULT_TOPK.
    ``invert_images`` swaps light and dark first; a prediction's ``note`` says when an image looks of
    inverted polarity against the training images (`polarity_note`).

    Files that are missing or not images are listed in ``result.skipped`` with the reason.
    """
    predictor = (
        run_or_checkpoint_or_onnx
        if isinstance(run_or_checkpoint_or_onnx, Predictor)
        else load_predictor(run_or_checkpoint_or_onnx, device=device)
    )
    meta = predictor.meta
    classes = list(meta["classes"])
    if topk is not None and not 1 <= topk <= len(classes):
        raise ConfigError(f"-k {topk}: the model has {len(classes)} classes; list 1 to {len(classes)} per image")
    k = topk or min(DEFAULT_TOPK, len(classes))
    result = PredictResult()
    images, names = [], []
    for path in expand_paths(paths):
        try:
            pixels = load_image(path, channels=meta["in_channels"], size=meta["input_size"])
            images.append(invert(pixels) if invert_images else pixels)
            names.append(str(path))
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, DataError) as err:
            # Pillow raises these for missing, truncated or non-image files; DataError: too many pixels
            reason = "not a readable image" if isinstance(err, UnidentifiedImageError) else str(err)
            result.skipped.append((str(path), reason))
    for start in range(0, len(images), batch_size):
        x = normalize(torch.stack(images[start : start + batch_size]), meta["mean"], meta["std"])
        probs = predictor.forward(x.to(predictor.device)).float().softmax(1).cpu()
        top = probs.topk(k, dim=1)
        for j, (values, indices) in enumerate(zip(top.values, top.indices), start):
            result.predictions.append(Prediction(names[j], [(classes[i], float(v)) for v, i in zip(values, indices)],
                                                 polarity_note(images[j], meta["mean"])))
    return result
