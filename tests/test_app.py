"""The explorer's HTTP API, through FastAPI's TestClient (no network)."""
from __future__ import annotations

import base64
import io
import struct
import threading
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from cnnlab.app.server import create_app
from cnnlab.errors import ConfigError
from cnnlab.viz.inputs import prepare_image

from viz_support import digit_png, digits_meta, png, tiny_loader, write_run


@pytest.fixture()
def runs(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "digits-a", seed=0)
    write_run(root / "group" / "digits-b", seed=1, figures=False)
    write_run(root / "no-checkpoint", checkpoint=False)  # never finished an epoch: not listed
    write_run(root / "features", meta={**digits_meta(), "kind": "features"})  # no network: not listed
    (root / "secret.txt").write_text("not for clients")
    return root


def client_for(runs, **options) -> TestClient:
    return TestClient(create_app(runs, loader=tiny_loader, **options))


@pytest.fixture()
def client(runs):
    return client_for(runs)


def analyze(client, data: bytes, run_id: str = "digits-a", name: str = "x.png"):
    return client.post(f"/api/runs/{run_id}/analyze", files={"image": (name, data, "image/png")})


def decode_data_url(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_runs_are_listed_by_id(client):
    data = client.get("/api/runs").json()
    assert [r["id"] for r in data["runs"]] == ["digits-a", "group--digits-b"]
    assert data["runs"][0]["classes"] == [str(i) for i in range(10)] and data["runs"][0]["test_acc"] == 0.9
    details = client.get("/api/runs/digits-a").json()
    assert [layer["name"] for layer in details["conv_layers"]] == ["conv1", "conv2"]
    assert details["figures"] == ["confusion_matrix.png"] and details["has_metrics"]


def test_a_single_run_folder_is_a_catalog_of_one(runs):
    data = client_for(runs / "digits-a").get("/api/runs").json()
    assert [r["id"] for r in data["runs"]] == ["digits-a"]


def test_missing_runs_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no runs folder"):
        create_app(tmp_path / "nowhere", loader=tiny_loader)


def test_analyze_returns_the_models_prediction_activations_and_cam(client, runs):
    data = digit_png()
    response = analyze(client, data)
    assert response.status_code == 200, response.text
    body = response.json()
    # reference: the same model and preprocessing, run directly
    loaded = tiny_loader(runs / "digits-a" / "checkpoints" / "best.pt", "cpu")
    with torch.no_grad():
        probs = loaded.model(prepare_image(data, loaded.meta).x).softmax(1)[0]
    top = probs.topk(5)
    assert [t["index"] for t in body["top"]] == top.indices.tolist()
    np.testing.assert_allclose([t["prob"] for t in body["top"]], top.values.numpy(), rtol=1e-5)
    assert body["top"][0]["class"] == str(int(top.indices[0]))
    assert [a["layer"] for a in body["activations"]] == ["conv1", "conv2"]
    assert body["activations"][0]["shape"] == [4, 8, 8] and body["activations"][1]["shape"] == [6, 4, 4]
    assert decode_data_url(body["activations"][0]["image"]).format == "PNG"
    assert body["cam"]["target"] == body["top"][0]["index"] and body["cam"]["layer"] == "conv2"
    assert decode_data_url(body["input_image"]).size[0] >= 8


def test_cam_for_a_chosen_class(client):
    body = client.post("/api/runs/digits-a/cam", files={"image": ("x.png", digit_png(), "image/png")}, data={"target": "7"}).json()
    assert body["target"] == 7 and body["class"] == "7"
    bad = client.post("/api/runs/digits-a/cam", files={"image": ("x.png", digit_png(), "image/png")}, data={"target": "10"})
    assert bad.status_code == 400 and "out of range" in bad.json()["detail"]


def test_color_and_odd_sized_uploads_are_converted(client):
    rgba = np.random.default_rng(0).integers(0, 255, (5, 300, 4), dtype=np.uint8)
    assert analyze(client, png(rgba, "RGBA")).status_code == 200
    assert analyze(client, png(np.full((1, 1), 255, np.uint8))).status_code == 200
    jpeg = io.BytesIO()
    Image.new("CMYK", (20, 20), (0, 50, 100, 0)).save(jpeg, format="JPEG")
    assert analyze(client, jpeg.getvalue(), name="x.jpg").status_code == 200


@pytest.mark.parametrize("data", [b"", b"hello, not an image", b"%PDF-1.4\n" + bytes(200), b"<svg xmlns='http://www.w3.org/2000/svg'/>"])
def test_non_images_get_415_with_a_message(client, data):
    response = analyze(client, data, name="picture.png")  # the name and declared type are not trusted
    assert response.status_code == 415
    assert "image" in response.json()["detail"]


def test_truncated_png_gets_400(client):
    response = analyze(client, digit_png()[:60])
    assert response.status_code == 400 and "could not be" in response.json()["detail"]


def test_tiff_is_not_accepted(client):
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="TIFF")
    assert analyze(client, buf.getvalue()).status_code == 415


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with a tiny (incomplete) payload."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(1000))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [5000, 100_000])  # over our limit; over Pillow's own bomb limit too
def test_decompression_bomb_is_refused_from_its_header(client, side):
    response = analyze(client, bomb_png(side, side))
    assert response.status_code == 413 and "pixels" in response.json()["detail"]


def test_oversized_body_gets_413(runs):
    client = client_for(runs, max_body_bytes=4000)
    big = png(np.random.default_rng(0).integers(0, 255, (80, 80), dtype=np.uint8))
    assert len(big) > 4000
    response = analyze(client, big)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]
    assert analyze(client, digit_png(16)).status_code == 200  # small ones still pass


def test_oversized_body_without_content_length_gets_413(runs):
    client = client_for(runs, max_body_bytes=1000)
    chunks = (b"x" * 300 for _ in range(10))  # streamed: chunked transfer, no Content-Length
    response = client.post("/api/runs/digits-a/analyze", content=chunks, headers={"content-type": "application/octet-stream"})
    assert response.status_code == 413


def test_unknown_run_ids_get_404(client):
    for bad in ("nope", "..", "digits-a--..", "secret.txt"):
        assert client.get(f"/api/runs/{bad}").status_code == 404
        assert client.get(f"/api/runs/{bad}/filters").status_code == 404
        assert analyze(client, digit_png(), run_id=bad).status_code == 404


def test_figures_are_served_only_from_the_runs_own_listing(client):
    ok = client.get("/api/runs/digits-a/figures/confusion_matrix.png")
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    for name in ("metrics.csv", "..%2Fmeta.json", "..%2F..%2Fsecret.txt", "%2Fetc%2Fpasswd", "missing.png"):
        assert client.get(f"/api/runs/digits-a/figures/{name}").status_code == 404
    assert client.get("/api/runs/digits-a/figures/../meta.json").status_code == 404


def test_curves_are_drawn_from_metrics_csv(client):
    response = client.get("/api/runs/group--digits-b/curves.png")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).format == "PNG"


def test_filters_and_unknown_layers(client):
    body = client.get("/api/runs/digits-a/filters", params={"layer": "conv2"}).json()
    assert body["layer"] == "conv2" and "6 filters" in body["caption"]
    assert decode_data_url(body["image"]).format == "PNG"
    bad = client.get("/api/runs/digits-a/filters", params={"layer": "../../etc"})
    assert bad.status_code == 400 and "conv1, conv2" in bad.json()["detail"]


def test_concurrent_requests_are_all_answered(client):
    """Requests share one model whose hooks are per request: they are serialized, not mixed up."""
    results: list[int] = []
    data = digit_png()

    def worker():
        results.append(analyze(client, data).status_code)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [200] * 6


def test_a_model_without_conv_layers_gets_saliency_only(runs):
    def linear_loader(checkpoint, device):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
        return SimpleNamespace(model=model, meta=torch.load(checkpoint, weights_only=True)["meta"])

    client = TestClient(create_app(runs, loader=linear_loader))
    assert client.get("/api/runs/digits-a").json()["conv_layers"] == []
    body = analyze(client, digit_png()).json()
    assert body["activations"] == [] and body["cam"]["gradcam"] is None
    assert decode_data_url(body["cam"]["saliency"]).format == "PNG"
    filters = client.get("/api/runs/digits-a/filters")
    assert filters.status_code == 400 and "no convolution layers" in filters.json()["detail"]
