"""`predict` on image files of every kind, against a torchvision preprocessing reference."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from cnnlab.errors import CheckpointError
from cnnlab.eval import predict
import dataclasses

from cnnlab.eval.predict import expand_paths, load_image
from cnnlab.export import FORMATS, Predictor
from eval_support import CLASSES, MEAN, STD, tiny_model

SIZE = (12, 10)  # the model's input (H, W)


def _predictor(channels: int) -> Predictor:
    model = tiny_model(in_channels=channels, size=SIZE)
    meta = {"classes": CLASSES, "in_channels": channels, "input_size": list(SIZE),
            "mean": MEAN[:channels], "std": STD[:channels]}
    return Predictor(meta, torch.no_grad()(model.forward), Path("tiny.pt")), model


def _write_images(folder: Path) -> dict[str, Image.Image]:
    """Gray, RGB, RGBA and palette images of odd sizes in every common format."""
    rng = np.random.default_rng(0)
    images = {
        "gray.png": Image.fromarray(rng.integers(0, 256, (37, 23), dtype=np.uint8), "L"),
        "rgb.jpg": Image.fromarray(rng.integers(0, 256, (15, 41, 3), dtype=np.uint8), "RGB"),
        "rgba.png": Image.fromarray(rng.integers(0, 256, (9, 9, 4), dtype=np.uint8), "RGBA"),
        "rgb.bmp": Image.fromarray(rng.integers(0, 256, (64, 3, 3), dtype=np.uint8), "RGB"),
        "rgb.webp": Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), "RGB"),
        "palette.png": Image.fromarray(rng.integers(0, 256, (13, 17, 3), dtype=np.uint8), "RGB").convert("P"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, img in images.items():
        img.save(folder / name, lossless=True) if name.endswith(".webp") else img.save(folder / name)
    return images


def _reference(path: Path, channels: int) -> torch.Tensor:
    """The model input torchvision's transforms make from the file."""
    with Image.open(path) as img:
        img = img.convert("RGBA" if img.mode == "P" else img.mode).convert("L" if channels == 1 else "RGB")
        transform = v2.Compose([
            v2.PILToTensor(), v2.Resize(max(SIZE), antialias=True), v2.CenterCrop(SIZE),
            v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN[:channels], STD[:channels]),
        ])
        return transform(img)


@pytest.mark.parametrize("channels", [1, 3])
def test_predict_every_format_matches_reference(tmp_path: Path, channels: int) -> None:
    _write_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "notes.png").write_text("this is not an image")
    predictor, model = _predictor(channels)
    result = predict(predictor, [tmp_path / "imgs"], topk=3)
    assert [Path(p).name for p, _ in result.skipped] == ["notes.png"]
    names = sorted(Path(p.path).name for p in result.predictions)
    assert names == sorted(["gray.png", "rgb.jpg", "rgba.png", "rgb.bmp", "rgb.webp", "palette.png"])
    for p in result.predictions:
        expected = model(_reference(Path(p.path), channels).unsqueeze(0)).softmax(1)[0]
        top = expected.topk(3)
        assert [c for c, _ in p.topk] == [CLASSES[i] for i in top.indices]
        np.testing.assert_allclose([q for _, q in p.topk], top.values.detach().numpy(), atol=2e-3)  # resize rounding


def test_load_image_shape_and_dtype(tmp_path: Path) -> None:
    images = _write_images(tmp_path)
    for name in images:
        for channels in (1, 3):
            x = load_image(tmp_path / name, channels=channels, size=SIZE)
            assert x.shape == (channels, *SIZE) and x.dtype == torch.uint8


def test_missing_file_is_skipped_and_folders_expand(tmp_path: Path) -> None:
    _write_images(tmp_path / "a" / "b")
    (tmp_path / "a" / "readme.txt").write_text("not listed: no image suffix")
    files = expand_paths([tmp_path / "a"])
    assert len(files) == 6 and all(f.suffix != ".txt" for f in files)
    predictor, _ = _predictor(3)
    result = predict(predictor, [tmp_path / "nope.jpg", tmp_path / "a" / "b" / "rgb.jpg"])
    assert len(result.predictions) == 1 and len(result.predictions[0].topk) == len(CLASSES)  # topk 5 > 4 classes
    assert result.skipped[0][0].endswith("nope.jpg")
    assert result.to_dict()["predictions"][0]["topk"][0]["class"] in CLASSES


def test_an_exported_file_is_read_by_its_format_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"not really onnx")
    _write_images(tmp_path / "imgs")
    predictor, _ = _predictor(3)
    with pytest.raises(CheckpointError, match="not a valid ONNX model"):
        predict(onnx_file, [tmp_path / "imgs"])
    calls = []
    fake = dataclasses.replace(FORMATS["onnx"], load=lambda path, device: calls.append(path) or predictor)
    monkeypatch.setitem(FORMATS, "onnx", fake)  # restored after the test
    result = predict(onnx_file, [tmp_path / "imgs" / "gray.png"])
    assert calls == [onnx_file] and len(result.predictions) == 1
