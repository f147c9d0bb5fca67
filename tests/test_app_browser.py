"""End to end: `cnnlab app` in a subprocess, driven in Debian's headless Chromium with Playwright."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from viz_support import app_server, digit_png, png, write_zoo_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
SCREENSHOT_DIR = os.environ.get("CNNLAB_SCREENSHOTS")  # set to keep the screenshots somewhere

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    write_zoo_run(runs / "digits-fastnet")
    (write_zoo_run(runs / "stopped-run") / "results.json").unlink()  # a checkpoint, no results: interrupted
    with app_server(runs, log_path=tmp_path_factory.mktemp("log") / "server.log") as (port, _):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture()
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server)
        page.wait_for_function("document.getElementById('filter-layer').options.length > 0")  # run loaded
        yield page
        browser.close()


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
    texts = page.eval_on_selector("#run-select", "el => [...el.options].map(o => o.textContent)")
    assert [t.endswith("(interrupted)") for t in texts] == [False, True]
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
