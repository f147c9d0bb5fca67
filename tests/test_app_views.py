"""The explorer's network, convolution and "what neurons want" answers, through FastAPI's TestClient."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from cnnlab.app.server import create_app
from cnnlab.inspect.conv_steps import capture_layer_io
from cnnlab.viz.inputs import prepare_image

from viz_support import digit_png, digits_meta, tiny_loader, write_run


@pytest.fixture()
def client(tmp_path):
    write_run(tmp_path / "runs" / "digits-a", seed=0)
    return TestClient(create_app(tmp_path / "runs", loader=tiny_loader))


def image_files():
    return {"image": ("x.png", digit_png(), "image/png")}


def model_and_input(tmp_path):
    loaded = tiny_loader(tmp_path / "runs" / "digits-a" / "checkpoints" / "best.pt", "cpu")
    return loaded.model, prepare_image(digit_png(), digits_meta()).x


def test_the_graph_has_a_column_per_layer_with_channel_tiles(client):
    graph = client.post("/api/runs/digits-a/graph", files=image_files(), data={"tiles": "3"}).json()
    assert graph["traced"] and graph["note"] == ""
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert [n["kind"] for n in graph["nodes"]] == ["input", "conv", "act", "pool", "conv", "act", "pool", "linear"]
    assert nodes["conv1"]["shape"] == [4, 8, 8] and nodes["conv1"]["label"] == "conv 3x3"
    assert len(nodes["conv2"]["tiles"]) == 3 and nodes["conv2"]["channels"] == 6
    assert nodes["conv2"]["tiles"][0]["image"].startswith("data:image/png")
    assert nodes["fc"]["vector_size"] == 10 and len(nodes["fc"]["vector"]) == 10
    assert [n["column"] for n in graph["nodes"]] == list(range(8))
    more = client.post("/api/runs/digits-a/graph/tiles", files=image_files(), data={"node": "conv2", "start": "3"}).json()
    assert [t["channel"] for t in more["tiles"]] == [3, 4, 5]


def test_a_tile_opened_large_has_its_values_and_what_it_reads(client, tmp_path):
    tile = client.post("/api/runs/digits-a/tile", files=image_files(), data={"node": "conv2", "channel": "2"}).json()
    model, x = model_and_input(tmp_path)
    _, out = capture_layer_io(model, "conv2", x)
    np.testing.assert_allclose(tile["values"], out[0, 2].numpy(), atol=1e-4)
    assert tile["min"] == pytest.approx(float(out[0, 2].min()), abs=1e-5)
    assert tile["reads"] == [{"id": "max_pool2d", "channels": None}] or tile["reads"][0]["channels"] == [0, 1, 2, 3]
    relu = client.post("/api/runs/digits-a/tile", files=image_files(), data={"node": "relu", "channel": "1"}).json()
    assert relu["reads"] == [{"id": "conv1", "channels": [1]}]
    bad = client.post("/api/runs/digits-a/tile", files=image_files(), data={"node": "nowhere", "channel": "0"})
    assert bad.status_code == 400 and "no node" in bad.json()["detail"]


def test_the_conv_numbers_equal_the_models_and_continue_to_relu_pool_and_softmax(client, tmp_path):
    data = client.post("/api/runs/digits-a/conv", files=image_files(), data={"layer": "conv2", "channel": "5"}).json()
    model, x = model_and_input(tmp_path)
    layer_in, layer_out = capture_layer_io(model, "conv2", x)
    reference = torch.nn.functional.conv2d(layer_in, model.conv2.weight, model.conv2.bias, padding=1)[0, 5]
    np.testing.assert_allclose(data["output"], reference.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(data["model_output"], layer_out[0, 5].numpy(), atol=1e-6)
    sums = np.array(data["channel_sums"])  # (Ho, Wo, Cin)
    np.testing.assert_allclose(sums.sum(-1) + data["bias"], data["output"], atol=1e-5)
    assert data["input_channels"] == [0, 1, 2, 3] and np.array(data["weights"]).shape == (4, 3, 3)
    assert [s["kind"] for s in data["next"]] == ["act"]  # conv2 -> relu -> global mean (a vector): the chain stops
    np.testing.assert_allclose(data["next"][0]["output"], np.maximum(data["next"][0]["input"], 0))
    soft = data["softmax"]
    with torch.no_grad():
        np.testing.assert_allclose(soft["probs"], torch.softmax(model(x), 1)[0].detach().numpy(), atol=1e-6)
    assert soft["sum"] == pytest.approx(sum(soft["exps"]))
    first = client.post("/api/runs/digits-a/conv", files=image_files(), data={"layer": "conv1", "channel": "0"}).json()
    assert [s["kind"] for s in first["next"]] == ["act", "pool"]
    pool = first["next"][1]
    assert pool["params"] == {"kernel_size": 2, "stride": 2, "padding": 0}
    assert pool["output"][1][2] == pytest.approx(np.max(np.array(pool["input"])[2:4, 4:6]))


def test_neuron_views_answer_with_pictures(client):
    vis = client.post("/api/runs/digits-a/classvis", data={"target": "3", "steps": "20"}).json()
    assert vis["image"].startswith("data:image/png") and vis["steps"] == 20 and vis["class"] == "3"
    feat = client.post("/api/runs/digits-a/featvis", data={"layer": "conv2", "channel": "1", "steps": "10"}).json()
    assert feat["image"].startswith("data:image/png") and feat["steps"] == 10
    fool = client.post("/api/runs/digits-a/fool", files=image_files(), data={"target": "4"}).json()
    assert {"original", "delta", "fooled", "l2", "linf", "success"} <= set(fool)
    bad = client.post("/api/runs/digits-a/classvis", data={"target": "12"})
    assert bad.status_code == 400 and "0..9" in bad.json()["detail"]


def test_live_answer_of_a_completed_run_has_epoch_curves_and_a_prediction(client):
    data = client.post("/api/runs/digits-a/live", files=image_files()).json()
    assert data["status"] == "completed" and len(data["top"]) == 5
    assert [p[0] for p in data["curves"]["val_acc"]] == [10, 20, 30]
    assert data["curves"]["train_acc"][0] == [10, pytest.approx(0.7)]
