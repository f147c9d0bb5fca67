"""Render the run report and the comparison page in headless Chromium (Debian's package)."""
from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.eval import write_comparison, write_report
from cnnlab.eval.report import SECTIONS
from eval_support import fake_evaluation, write_fake_run

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


def _render(page_path: Path, screenshot: Path) -> dict:
    """Open ``page_path`` from disk; collect errors, off-page requests, images and section ids."""
    sync_api = pytest.importorskip("playwright.sync_api")
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"request: {r.url}"))
            page.goto(page_path.as_uri(), wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
            sections = page.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return {"problems": problems, "images": images, "sections": sections}


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run")
    evaluation = fake_evaluation()
    shown = _render(write_report(run, evaluation=evaluation), tmp_path / "report.png")
    assert shown["problems"] == []
    assert shown["sections"] == list(SECTIONS)
    # three figures (curves, confusion, per class) and one thumbnail per mistake
    assert len(shown["images"]) == 3 + len(evaluation.mistakes)
    for complete, width, alt in shown["images"]:
        assert complete and width > 0, alt
    assert (tmp_path / "report.png").stat().st_size > 0


def test_comparison_renders_in_chromium(tmp_path: Path) -> None:
    runs = [write_fake_run(tmp_path / "a", epochs=3), write_fake_run(tmp_path / "f", kind="features", epochs=0)]
    shown = _render(write_comparison(runs, tmp_path / "cmp"), tmp_path / "compare.png")
    assert shown["problems"] == []
    assert len(shown["images"]) == 1 and shown["images"][0][1] > 0
