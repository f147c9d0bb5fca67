"""`cnnlab app`: the browser explorer, served on 127.0.0.1."""
from __future__ import annotations

from pathlib import Path

import typer


def app_command(
    runs: Path = typer.Argument(Path("runs"), help="A run folder, or a folder whose sub-folders are runs."),
    port: int = typer.Option(8765, "--port", "-p", min=1, max=65535, help="TCP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on. Anything but 127.0.0.1 exposes the explorer to your network."),
    max_upload_mb: float = typer.Option(5.0, "--max-upload-mb", min=0.01, help="Largest request body accepted; bigger ones get HTTP 413."),
    device: str = typer.Option("cpu", "--device", help="Where to run the models: cpu, cuda, mps."),
) -> None:
    """Explore trained runs in the browser: draw or upload an image, see the prediction, activation maps, filters, Grad-CAM and training curves."""
    from cnnlab.app.server import serve

    serve(runs, host=host, port=port, max_body_bytes=int(max_upload_mb * 1024 * 1024), device=device)


def register(app: typer.Typer) -> None:
    app.command("app")(app_command)
