"""End to end: `cnnlab app` in a subprocess, driven in Debian's headless Chromium with Playwright."""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from viz_support import app_server, digit_png, png, write_zoo_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
SCREENSHOT_DIR = os.environ.get("CNNLAB_SCREENSHOTS")  # set to keep the screenshots somewhere
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    write_zoo_run(runs / "digits-fastnet")
    write_zoo_run(runs / "fashion-names", classes=FASHION)
    (write_zoo_run(runs / "stopped-run") / "results.json").unlink()  # a checkpoint, no results: interrupted
    with app_server(runs, log_path=tmp_path_factory.mktemp("log") / "server.log") as (port, _):
        yield f"http://127.0.0.1:{port}", runs


@pytest.fixture(scope="module")
def server_runs(server):
    return server[1]


@contextlib.contextmanager
def browser_page(url: str, height: int = 1000):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": height})
        page.goto(url)
        page.wait_for_function("document.getElementById('filter-layer').options.length > 0")  # run loaded
        yield page
        browser.close()


@pytest.fixture()
def page(server):
    with browser_page(server[0]) as page:
        yield page


def shot(page, tmp_path: Path, name: str) -> None:
    folder = Path(SCREENSHOT_DIR) if SCREENSHOT_DIR else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_upload_shows_prediction_and_activation_maps(page, tmp_path):
    image = tmp_path / "one.png"
    image.write_bytes(digit_png())
    page.click("button.tab[data-tab=upload]")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#topk li .name")
    names = page.locator("#topk li .name").all_inner_texts()
    assert len(names) == 5 and set(names) <= {str(i) for i in range(10)}
    layers = page.eval_on_selector("#filter-layer", "el => el.options.length")
    page.wait_for_function("n => document.querySelectorAll('#activations figure img').length === n", arg=layers)
    assert page.locator("#activations figcaption").first.inner_text().startswith("stem.0")
    assert page.get_attribute("#gradcam", "src").startswith("data:image/png")
    assert page.is_hidden("#error")
    shot(page, tmp_path, "explorer-upload")


def test_drawing_gives_a_prediction(page, tmp_path):
    box = page.locator("#canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.8, steps=8)
    page.mouse.up()
    page.wait_for_selector("#topk li .pct")
    assert page.locator("#seen").get_attribute("src").startswith("data:image/png")
    shot(page, tmp_path, "explorer-draw")


def test_non_image_upload_shows_an_error(page, tmp_path):
    fake = tmp_path / "cat.png"
    fake.write_text("this is text, not a picture")
    page.click("button.tab[data-tab=upload]")
    page.set_input_files("#file", str(fake))
    page.wait_for_selector("#error", state="visible")
    message = page.inner_text("#error")
    assert "not an image" in message and "415" in message
    shot(page, tmp_path, "explorer-error")


def test_an_interrupted_run_is_marked_in_the_picker_and_the_run_line(page):
    texts = page.eval_on_selector("#run-select", "el => Object.fromEntries([...el.options].map(o => [o.value, o.textContent]))")
    assert {k: t.endswith("(interrupted)") for k, t in texts.items()} == {
        "digits-fastnet": False, "fashion-names": False, "stopped-run": True}
    assert "interrupted" not in page.inner_text("#run-info")
    page.select_option("#run-select", "stopped-run")
    page.wait_for_function("document.getElementById('run-info').textContent.includes('interrupted: the run did not finish')")


def test_a_dark_on_light_upload_gets_a_note_that_invert_clears(page, tmp_path):
    import numpy as np

    pixels = np.full((64, 64), 235, np.uint8)
    pixels[8:-8, 28:36] = 20  # a dark bar on white; the run's images are light on dark (mean 0.3)
    image = tmp_path / "photo.png"
    image.write_bytes(png(pixels))
    page.click("button.tab[data-tab=upload]")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#polarity-note", state="visible")
    assert "looks dark on light" in page.inner_text("#polarity-note")
    page.check("#invert")
    page.wait_for_selector("#polarity-note", state="hidden")
    assert page.is_hidden("#error")


# ---- the network, the convolution animation, what neurons want, live training, layout ----------

def upload(page, tmp_path: Path) -> None:
    image = tmp_path / "one.png"
    image.write_bytes(digit_png())
    page.click("button.tab[data-tab=upload]")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#topk li .name")


def test_the_network_graph_opens_a_tile_and_draws_what_it_reads(page, tmp_path):
    upload(page, tmp_path)
    page.click("button.view-tab[data-view=network]")
    page.wait_for_selector("#graph .node img.tile")
    assert page.locator("#graph .node.kind-conv").count() == 7  # fastnet_small's conv layers, each a column
    assert page.locator("#graph .node.kind-linear").count() == 1 and page.is_hidden("#graph-note")  # traced by fx
    edges = page.locator("#graph-lines path.edge").count()
    assert edges >= page.locator("#graph .node").count() - 1
    second_conv = page.locator("#graph .node.kind-conv").nth(1)
    second_conv.locator("img.tile").nth(2).click()
    page.wait_for_selector("#tile-card", state="visible")
    assert re.search(r"values from -?[\d.e-]+ \(dark\) to -?[\d.e-]+", page.inner_text("#tile-range"))
    assert "channel 2" in page.inner_text("#tile-title") and "Reads:" in page.inner_text("#tile-reads")
    assert page.locator("#graph-lines path.reads").count() == 6  # every shown tile of the 16 channels it reads
    assert page.is_visible("#tile-animate")
    second_conv.locator("button.more").click()
    page.wait_for_function("n => document.querySelectorAll('#graph .node.kind-conv')[1].querySelectorAll('img.tile').length === n", arg=16)
    shot(page, tmp_path, "explorer-network")


def _model_numbers(runs_dir: Path, layer: str, channel: int, i: int, j: int):
    import cnnlab
    from cnnlab.inspect.conv_steps import conv_position
    from cnnlab.viz.inputs import prepare_image

    loaded = cnnlab.load_model(runs_dir / "digits-fastnet")
    return conv_position(loaded.model, prepare_image(digit_png(), loaded.meta).x, layer, channel, i, j)


def test_the_convolution_steps_and_its_sum_is_the_models_activation(page, tmp_path, server_runs):
    upload(page, tmp_path)
    page.click("button.view-tab[data-view=conv]")
    page.wait_for_selector("#conv-total")
    layer = page.eval_on_selector("#conv-layer", "el => el.options[1].value")
    page.select_option("#conv-layer", layer)
    page.fill("#conv-channel", "3")
    page.dispatch_event("#conv-channel", "change")
    page.wait_for_function("document.getElementById('conv-stage').textContent.includes('output channel 3')")
    assert page.locator("#conv-stage .channel-sum").count() == 8  # 16 input channels, 8 listed
    for _ in range(11):
        page.click("#conv-step")
    i, j = map(int, re.search(r"position \((\d+), (\d+)\)", page.inner_text("#conv-position")).groups())
    assert (i, j) == (1, 3)  # 8x8 output: step 11 is row 1, column 3
    shown, model_shown = float(page.inner_text("#conv-total")), float(page.inner_text("#conv-model"))
    numbers = _model_numbers(server_runs, layer, 3, i, j)
    assert shown == pytest.approx(numbers.model_output, rel=1e-3, abs=1e-4)
    assert model_shown == pytest.approx(numbers.model_output, rel=1e-3, abs=1e-4)
    assert "other 8 input channels" in page.inner_text("#conv-stage") and "✓" in page.inner_text("#conv-stage")
    page.click("#conv-play")
    page.wait_for_function("!document.getElementById('conv-position').textContent.includes('(1, 3)')")
    page.click("#conv-play")  # pause
    assert page.inner_text("#conv-play").endswith("Play")
    stages = page.locator("#conv-stages button.stage").all_inner_texts()
    assert stages[0].startswith("conv") and stages[-1] == "softmax" and len(stages) >= 4  # conv, norm, activation, ..., softmax
    assert [s for s in stages if "MaxPool" in s or "GELU" in s or "BatchNorm" in s] == stages[1:-1]
    page.locator("#conv-stages button.stage", has_text="MaxPool").click()
    assert re.match(r"max\(.+\) = ", page.inner_text("#conv-total"))
    page.locator("#conv-stages button.stage", has_text="GELU").click()
    assert "GELU(" in page.inner_text("#conv-total")
    page.locator("#conv-stages button.stage").last.click()
    assert page.locator("table.softmax tr").count() == 11
    shot(page, tmp_path, "explorer-convolution")


def test_a_class_visualisation_and_a_fooling_image_are_generated(page, tmp_path):
    upload(page, tmp_path)
    page.click("button.view-tab[data-view=neurons]")
    page.select_option("#classvis-class", "3")
    page.click("#classvis-go")
    page.wait_for_function("document.getElementById('classvis-caption').textContent.includes('rose from')", timeout=60000)
    assert page.get_attribute("#classvis-image", "src").startswith("data:image/png")
    page.click("#fool-go")
    page.wait_for_function("document.getElementById('fool-caption').textContent.length > 0", timeout=60000)
    assert page.get_attribute("#fool-delta", "src").startswith("data:image/png")
    assert "magnified" in page.inner_text("#fool-delta-caption") and page.is_hidden("#error")
    shot(page, tmp_path, "explorer-neurons")


def test_usable_at_1280x800_and_in_a_narrow_window_with_whole_class_names(page, tmp_path):
    page.select_option("#run-select", "fashion-names")
    page.wait_for_function("document.getElementById('cam-class').options.length === 11")
    upload(page, tmp_path)
    for width, height in ((1280, 800), (420, 800)):
        page.set_viewport_size({"width": width, "height": height})
        for view in ("overview", "network", "conv", "neurons", "training"):
            page.click(f"button.view-tab[data-view={view}]")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{view} at {width}px scrolls sideways by {overflow}px"
        page.click("button.view-tab[data-view=overview]")
        names = page.locator("#topk li .name")
        assert names.count() == 5
        for k in range(5):
            clipped = names.nth(k).evaluate("el => el.scrollWidth > el.clientWidth + 1")
            assert not clipped, names.nth(k).inner_text()
        assert set(names.all_inner_texts()) <= set(FASHION)
    shot(page, tmp_path, "explorer-narrow")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("live-runs")
    write_zoo_run(runs / "finished")
    with app_server(runs, log_path=tmp_path_factory.mktemp("log") / "server.log") as (port, _):
        yield f"http://127.0.0.1:{port}", runs


@pytest.fixture()
def live_page(live_server):
    with browser_page(live_server[0], height=900) as page:
        yield page


def curve_points(page) -> int:
    return page.evaluate("(() => { const l = document.querySelector('#curve-loss polyline'); return l ? Number(l.dataset.points) : 0; })()")


def test_a_running_run_is_marked_and_its_curves_gain_points(live_page, live_server, tmp_path):
    """The files a training writes while it runs (the engine's steps.csv rows, the live callback's
    live.json and weights), written here step by step, as the explorer sees them."""
    from cnnlab.models import create_model
    from cnnlab.training.callbacks import StartEvent, StepEvent
    from cnnlab.training.live import LiveSnapshot
    from cnnlab.runs import RunDir

    folder = live_server[1] / "in-progress"
    write_zoo_run(folder)
    (folder / "results.json").unlink()
    (folder / "metrics.csv").unlink()
    model = create_model("fastnet_small", num_classes=10, in_channels=1, input_size=(8, 8))
    run, live = RunDir(folder), LiveSnapshot(every_s=0)
    live.on_start(StartEvent(folder, model, 100, 10, 10.0, 0))

    def steps(first: int, last: int) -> None:
        for step in range(first, last + 1):
            run.append_step({"step": step, "epoch": step / 10, "train_loss": 2.3 / step, "lr": 0.01 * step})
            live.on_step(StepEvent(step, 100, step // 10, 2.3 / step, 2.3 / step, min(1.0, step / 20), 0.01 * step, 99.0, model))

    steps(1, 5)
    live_page.wait_for_function("[...document.getElementById('run-select').options].some(o => o.value === 'in-progress' && o.textContent.includes('running'))", timeout=30000)
    live_page.select_option("#run-select", "in-progress")
    upload(live_page, tmp_path)
    live_page.click("button.view-tab[data-view=training]")
    live_page.wait_for_function("document.querySelector('#curve-loss polyline') && document.querySelector('#curve-loss polyline').dataset.points === '5'")
    assert "running" in live_page.inner_text("#live-status") and live_page.locator("#live-topk li").count() == 3
    assert live_page.get_attribute("#live-filters", "src").startswith("data:image/png")
    steps(6, 12)
    live_page.wait_for_function("document.querySelector('#curve-loss polyline').dataset.points === '12'")
    assert "step 12 of 100" in live_page.inner_text("#live-status")
    shot(live_page, tmp_path, "explorer-training-live")
    live.on_end(type("Result", (), {"status": "interrupted"})())


@pytest.mark.slow
def test_a_real_training_shows_its_curve_growing(live_page, live_server, tmp_path):
    folder = live_server[1] / "trained-now"
    train = subprocess.Popen([sys.executable, "-m", "cnnlab", "train", "fastnet_small", "--data", "digits", "--epochs", "8",
                              "--batch-size", "32", "--threads", "1", "--run-dir", str(folder), "--no-report", "-q"],
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        live_page.wait_for_function("[...document.getElementById('run-select').options].some(o => o.value === 'trained-now')", timeout=180000)
        live_page.select_option("#run-select", "trained-now")
        live_page.click("button.view-tab[data-view=training]")
        counts = []
        deadline = time.monotonic() + 180
        while train.poll() is None and time.monotonic() < deadline:
            counts.append(curve_points(live_page))
            time.sleep(0.5)
        assert train.wait(timeout=60) == 0
        live_page.wait_for_function("document.getElementById('live-status').textContent.includes('completed')", timeout=30000)
        growing = sorted(set(c for c in counts if c))
        assert len(growing) >= 2, counts  # the curve gained points while the run was training
        assert curve_points(live_page) >= growing[-1]
    finally:
        if train.poll() is None:
            train.terminate()
            train.wait(timeout=30)
