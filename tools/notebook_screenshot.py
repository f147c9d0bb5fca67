"""docs/img/notebook-live.png: JupyterLab running notebooks/04_classic_networks mid-training.

Starts JupyterLab on a copy of the notebook in a temporary folder, runs all cells in headless
Chromium (Playwright), waits until the live view has drawn for ``--wait`` seconds, screenshots the
page, then interrupts the kernel and stops the server::

    python tools/notebook_screenshot.py --wait 30 --out docs/img/notebook-live.png
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_classic_networks.ipynb"


def wait_for(url: str, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(2)
    raise TimeoutError(f"JupyterLab did not answer at {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wait", type=float, default=30, help="seconds of training before the screenshot")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "notebook-live.png")
    parser.add_argument("--port", type=int, default=8899)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="cnnlab-shot-"))
    shutil.copy(NOTEBOOK, folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={args.port}", "--allow-root",
                            "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={folder}"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{args.port}/lab"
        wait_for(base)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/tree/{NOTEBOOK.name}", timeout=120_000)
            page.wait_for_selector(".jp-Notebook", timeout=120_000)
            time.sleep(5)
            page.click(".lm-MenuBar-itemLabel >> text='Run'")
            page.click("text=Run All Cells")
            page.wait_for_selector(".cnnlab-live img.curves", timeout=600_000)
            time.sleep(args.wait)
            try:  # JupyterLab's question about news would cover the output
                page.click("button:has-text('No')", timeout=3000)
            except Exception:  # noqa: BLE001 - not asked on every version
                pass
            page.locator(".cnnlab-live").first.evaluate("e => e.scrollIntoView({block: 'center'})")
            time.sleep(3)
            page.screenshot(path=str(args.out))
            page.click(".lm-MenuBar-itemLabel >> text='Kernel'")
            page.click("text=Interrupt Kernel")
            time.sleep(5)
            browser.close()
    finally:
        lab.terminate()
        lab.wait(30)
        shutil.rmtree(folder, ignore_errors=True)
    print(args.out)


if __name__ == "__main__":
    main()
