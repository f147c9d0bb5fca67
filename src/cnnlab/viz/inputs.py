"""One image, prepared for a trained model exactly as `cnnlab predict` prepares it.

Decoding, resizing and normalization are `cnnlab.eval.predict`'s (one code path for every
command); this adds the error wording for a single image and the 0..1 copy used for drawing.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import UnidentifiedImageError

from cnnlab.errors import CnnlabError, DataError
from cnnlab.eval.predict import invert, load_image, normalize


@dataclass
class ModelImage:
    """An image at the model's input size: ``pixels`` uint8 (C, H, W) and ``x`` normalized (1, C, H, W)."""

    pixels: torch.Tensor
    x: torch.Tensor

    def display(self) -> np.ndarray:
        """0..1 float (H, W) for gray or (H, W, 3) for color: what the model sees, for drawing."""
        img = self.pixels.float().div(255).permute(1, 2, 0).numpy()
        return img[..., 0] if img.shape[-1] == 1 else img


def prepare_image(source: str | Path | bytes, meta: Mapping[str, Any], *, device: str | torch.device = "cpu",
                  inverted: bool = False) -> ModelImage:
    """Decode ``source`` (a file path or the file's bytes) for the model described by ``meta``;
    ``inverted`` swaps light and dark (as `cnnlab predict --invert`).

    Raises DataError when it is not a readable image.
    """
    name = "the uploaded file" if isinstance(source, bytes) else str(source)
    fp = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        pixels = load_image(fp, channels=int(meta["in_channels"]), size=meta["input_size"])
    except CnnlabError:
        raise  # e.g. a model with 2 input channels: not the file's fault
    except FileNotFoundError as err:
        raise DataError(f"no file at {name}: check the path (an image file: PNG, JPEG, BMP, GIF or WebP)") from err
    except UnidentifiedImageError as err:
        raise DataError(f"{name} is not an image Pillow can read (use PNG, JPEG, BMP, GIF or WebP)") from err
    except (OSError, ValueError, SyntaxError) as err:  # Pillow's errors for missing, truncated or corrupt files
        raise DataError(f"{name} could not be decoded as an image: {err}") from err
    pixels = invert(pixels) if inverted else pixels
    x = normalize(pixels.unsqueeze(0), meta["mean"], meta["std"]).to(device)
    return ModelImage(pixels, x)
