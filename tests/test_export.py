"""`cnnlab export`: ONNX Runtime, TorchScript and safetensors reloads give the checkpoint's outputs;
`cnnlab predict` runs an exported ONNX file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from cnnlab.errors import CheckpointError, ConfigError
from cnnlab.eval import predict
from cnnlab.export import FORMATS, export_model, export_run, onnx_predictor, read_onnx_meta, torchscript_predictor
from cnnlab.models import create_model
from cnnlab.training import load_model
from eval_support import run_cli

META_KEYS = ("model", "classes", "num_classes", "in_channels", "input_size", "mean", "std")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of fastnet_small on scikit-learn's digits (offline, 8x8 gray images)."""
    from cnnlab.training import train

    run_dir = tmp_path_factory.mktemp("export") / "digits-fastnet"
    result = train("fastnet_small", "digits", epochs=1, batch_size=64, run_dir=str(run_dir), quiet=True,
                   device="cpu", report=False)
    assert result.status == "completed"
    return run_dir


@pytest.fixture(scope="module")
def onnx_file(run: Path) -> Path:
    return export_run(run, format="onnx").path


def batch(meta: dict, n: int, seed: int = 1) -> torch.Tensor:
    h, w = meta["input_size"]
    return torch.randn(n, meta["in_channels"], h, w, generator=torch.Generator().manual_seed(seed))


def test_onnx_runtime_matches_torch(run: Path, onnx_file: Path) -> None:
    loaded = load_model(run)
    assert onnx_file == run / "export" / "fastnet_small.onnx"
    x = batch(loaded.meta, 5)  # another batch size than the export's example: the batch axis is dynamic
    exported = onnx_predictor(onnx_file)
    with torch.no_grad():
        torch.testing.assert_close(exported.forward(x), loaded.model(x), atol=1e-4, rtol=1e-4)
    for meta in (exported.meta, read_onnx_meta(onnx_file)):
        assert {k: meta[k] for k in META_KEYS} == {k: loaded.meta[k] for k in META_KEYS}
    graph = onnx.load(str(onnx_file)).graph
    assert [i.name for i in graph.input] == ["images"] and [o.name for o in graph.output] == ["logits"]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_matches_eager(run: Path, tmp_path: Path) -> None:
    result = export_run(run, format="torchscript", out=tmp_path / "model.ts")
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5
    loaded = load_model(run)
    module = torch.jit.load(str(result.path))
    x = batch(loaded.meta, 3)
    with torch.no_grad():
        torch.testing.assert_close(module(x), loaded.model(x), atol=1e-5, rtol=1e-5)
    assert torchscript_predictor(result.path).meta["classes"] == loaded.meta["classes"]


def test_safetensors_reload_is_equal(run: Path, tmp_path: Path) -> None:
    result = export_run(run, format="safetensors", out=tmp_path / "w.safetensors")
    assert result.max_abs_diff == 0.0
    original, reloaded = load_model(run), load_model(result.path)
    assert reloaded.meta == original.meta
    ours, theirs = original.model.state_dict(), reloaded.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.slow  # about 10 s of export on one core
def test_shufflenet_onnx_with_an_opset_and_channel_shuffle(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("shufflenet_v2_x0_5", num_classes=4, in_channels=3, input_size=32).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    meta = {"model": "shufflenet_v2_x0_5", "classes": list("abcd"), "num_classes": 4, "in_channels": 3,
            "input_size": [32, 32], "mean": [0.5] * 3, "std": [0.25] * 3}
    result = export_model(model, meta, tmp_path / "shuffle.onnx", format="onnx", opset=18)
    assert result.max_abs_diff < 1e-4
    assert {o.domain: o.version for o in onnx.load(str(result.path)).opset_import}[""] == 18
    x = batch(meta, 4)
    with torch.no_grad():
        torch.testing.assert_close(onnx_predictor(result.path).forward(x), model(x), atol=1e-4, rtol=1e-4)


def test_cli_export_and_predict_an_onnx_file(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "digits.onnx"
    code, stdout, _ = run_cli(["export", run, "--format", "onnx", "--out", out, "--json"], capsys)
    assert code == 0
    reported = json.loads(stdout)
    assert reported["path"] == str(out) and reported["max_abs_diff"] < 1e-4
    image = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((20, 30, 3)) * 255).astype("uint8")).save(image)
    code, stdout, _ = run_cli(["predict", out, image, "--json", "--topk", "3"], capsys)
    assert code == 0
    from_onnx = json.loads(stdout)["predictions"][0]["topk"]
    from_run = predict(run, [image], topk=3).predictions[0].topk
    assert [p["class"] for p in from_onnx] == [c for c, _ in from_run]
    np.testing.assert_allclose([p["prob"] for p in from_onnx], [p for _, p in from_run], atol=1e-4)


def test_cli_export_prints_the_check(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, stdout, _ = run_cli(["export", run, "-f", "safetensors", "-o", tmp_path / "m.safetensors"], capsys)
    assert code == 0
    assert "wrote" in stdout and "largest logit difference vs the checkpoint on a random batch 0.00e+00" in stdout


def test_bad_requests_name_the_fix(run: Path, onnx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match="unknown export format 'tflite'; choose one of: onnx"):
        export_run(run, format="tflite")
    checkpoint = run / "checkpoints" / "best.pt"
    with pytest.raises(ConfigError, match="to itself"):
        export_run(checkpoint, format="safetensors", out=checkpoint)
    foreign = tmp_path / "foreign.onnx"  # a valid ONNX model that cnnlab did not write
    node = onnx.helper.make_node("Identity", ["x"], ["y"])
    value = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph([node], "g", [value("x", onnx.TensorProto.FLOAT, [1, 4])],
                                   [value("y", onnx.TensorProto.FLOAT, [1, 4])])
    onnx.save(onnx.helper.make_model(graph), foreign)
    with pytest.raises(CheckpointError, match="no cnnlab metadata.*cnnlab export RUN --format onnx"):
        onnx_predictor(foreign)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a valid ONNX model"):
        onnx_predictor(broken)
    code, _, stderr = run_cli(["export", run, "--format", "tflite"], capsys)
    assert code == 2 and "tflite" in stderr
    assert set(FORMATS) == {"onnx", "torchscript", "safetensors"}
