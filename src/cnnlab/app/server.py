"""The explorer's web server (FastAPI, served by uvicorn on 127.0.0.1 by default).

API (all answers JSON unless noted; errors are ``{"detail": "message"}``):

    GET  /api/runs                          the runs found, and the upload limit
    GET  /api/runs/{id}                     one run: meta, conv layers, report figures
    GET  /api/runs/{id}/filters?layer=NAME  a conv layer's filters as a picture
    POST /api/runs/{id}/analyze             form fields ``image``, ``invert``: top-k, activation maps, Grad-CAM,
                                            a note when the image looks of inverted polarity
    POST /api/runs/{id}/cam                 form fields ``image``, ``target``, ``invert``: Grad-CAM for a class
    POST /api/runs/{id}/graph               form fields ``image``, ``invert``, ``tiles``: the network as a graph of
                                            feature maps (fx trace, or module order when tracing fails)
    POST /api/runs/{id}/graph/tiles         ... ``node``, ``start``, ``count``: more channel tiles of one node
    POST /api/runs/{id}/tile                ... ``node``, ``channel``: one map large, its numbers and what it reads
    POST /api/runs/{id}/conv                ... ``layer``, ``channel``: a conv channel's arithmetic at every position,
                                            the norm/activation/pool steps after it, the softmax of the logits
    POST /api/runs/{id}/classvis            form fields ``target``, ``steps``: a class visualisation (gradient ascent)
    POST /api/runs/{id}/featvis             ``layer``, ``channel``, ``steps``: a channel's feature visualisation
    POST /api/runs/{id}/fool                ``image``, ``invert``, ``target``: a fooling image and its perturbation
    POST /api/runs/{id}/live                optional ``image``, ``invert``: status, per-step curves, first-layer
                                            filters and the prediction of the run's latest weights (while it trains)
    GET  /api/runs/{id}/figures/{name}      a PNG from RUN/figures/ (names from the listing)
    GET  /api/runs/{id}/curves.png          learning curves drawn from metrics.csv

Runs are addressed by catalog id only (see `cnnlab.app.catalog`); no request names a file.
Upload limits: see `cnnlab.app.uploads`. Status codes: 404 unknown run or figure, 413 body
or image too large, 415 not an image, 400 other bad input, 500 a checkpoint that fails to load.
"""
from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Optional

import torch
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from cnnlab.app import analysis, live_view, network, neurons
from cnnlab.app.catalog import LoadedRun, Loader, Run, RunCatalog, default_loader
from cnnlab.app.uploads import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PIXELS, BodySizeLimit, check_image
from cnnlab.errors import CheckpointError, CnnlabError

STATIC_DIR = Path(str(resources.files("cnnlab.app") / "static"))
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

# error class -> HTTP status, for errors that do not carry their own `status_code`
ERROR_STATUS: dict[type, int] = {CheckpointError: 500}


def _status(err: CnnlabError) -> int:
    own = getattr(err, "status_code", None)
    return own or next((code for cls, code in ERROR_STATUS.items() if isinstance(err, cls)), 400)


def create_app(
    runs: str | Path,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    device: str = "cpu",
    loader: Loader = default_loader,
) -> FastAPI:
    """The explorer app for the runs in ``runs`` (a run folder or a folder of runs).

    ``loader(checkpoint, device)`` builds a run's model (default: `cnnlab.load_model`).
    """
    catalog = RunCatalog(runs, loader=loader, device=device)
    app = FastAPI(title="cnnlab explorer", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.catalog = catalog

    @app.exception_handler(CnnlabError)
    async def _user_error(_request: Request, err: CnnlabError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=_status(err))

    def run_of(run_id: str) -> Run:
        run = catalog.get(run_id)
        if run is None:
            raise HTTPException(404, f"no run with id {run_id!r}: reload the page to see the current runs")
        return run

    def upload(image: UploadFile) -> bytes:
        data = image.file.read()
        check_image(data, max_pixels=max_pixels)
        return data

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/api/runs")
    def list_runs() -> dict[str, Any]:
        return {
            "source": str(catalog.source),
            "max_upload_bytes": max_body_bytes,
            "runs": [run.summary() for run in catalog.refresh()],
        }

    @app.get("/api/runs/{run_id}")
    def run_details(run_id: str) -> dict[str, Any]:
        run = run_of(run_id)
        return {
            **run.summary(),
            "conv_layers": analysis.conv_layer_info(catalog.load(run)),
            "figures": list(run.figures()),
            "has_metrics": any((run.path / name).is_file() for name in ("metrics.csv", "steps.csv")),
        }

    @app.get("/api/runs/{run_id}/filters")
    def run_filters(run_id: str, layer: Optional[str] = None) -> dict[str, Any]:
        return analysis.filters(catalog.load(run_of(run_id)), layer)

    @app.post("/api/runs/{run_id}/analyze")
    def run_analyze(run_id: str, image: UploadFile = File(...), invert: bool = Form(False)) -> dict[str, Any]:
        run = run_of(run_id)
        data = upload(image)  # reject bad uploads before loading a model
        return analysis.analyze(catalog.load(run), data, invert)

    @app.post("/api/runs/{run_id}/cam")
    def run_cam(run_id: str, image: UploadFile = File(...), target: Optional[int] = Form(None),
                invert: bool = Form(False)) -> dict[str, Any]:
        run = run_of(run_id)
        data = upload(image)
        return analysis.cam(catalog.load(run), data, target, invert)

    def model_input(run: Run, image: UploadFile, invert: bool) -> tuple[LoadedRun, torch.Tensor]:
        data = upload(image)  # reject bad uploads before loading a model
        loaded = catalog.load(run)
        return loaded, analysis.model_input(loaded, data, invert)

    @app.post("/api/runs/{run_id}/graph")
    def run_graph(run_id: str, image: UploadFile = File(...), invert: bool = Form(False),
                  tiles: int = Form(network.TILES_PER_NODE)) -> dict[str, Any]:
        loaded, x = model_input(run_of(run_id), image, invert)
        return network.graph_view(loaded, x, max(1, tiles))

    @app.post("/api/runs/{run_id}/graph/tiles")
    def run_graph_tiles(run_id: str, image: UploadFile = File(...), invert: bool = Form(False), node: str = Form(...),
                        start: int = Form(0), count: int = Form(64)) -> dict[str, Any]:
        loaded, x = model_input(run_of(run_id), image, invert)
        return network.node_tiles(loaded, x, node, max(0, start), max(1, count))

    @app.post("/api/runs/{run_id}/tile")
    def run_tile(run_id: str, image: UploadFile = File(...), invert: bool = Form(False), node: str = Form(...),
                 channel: int = Form(0)) -> dict[str, Any]:
        loaded, x = model_input(run_of(run_id), image, invert)
        return network.tile_view(loaded, x, node, channel)

    @app.post("/api/runs/{run_id}/conv")
    def run_conv(run_id: str, image: UploadFile = File(...), invert: bool = Form(False), layer: str = Form(...),
                 channel: int = Form(0)) -> dict[str, Any]:
        loaded, x = model_input(run_of(run_id), image, invert)
        return network.conv_view(loaded, x, layer, channel)

    @app.post("/api/runs/{run_id}/classvis")
    def run_classvis(run_id: str, target: int = Form(...), steps: int = Form(200)) -> dict[str, Any]:
        return neurons.classvis(catalog.load(run_of(run_id)), target, steps)

    @app.post("/api/runs/{run_id}/featvis")
    def run_featvis(run_id: str, layer: str = Form(...), channel: int = Form(0), steps: int = Form(128)) -> dict[str, Any]:
        return neurons.featvis(catalog.load(run_of(run_id)), layer, channel, steps)

    @app.post("/api/runs/{run_id}/fool")
    def run_fool(run_id: str, image: UploadFile = File(...), invert: bool = Form(False), target: int = Form(...)) -> dict[str, Any]:
        loaded, x = model_input(run_of(run_id), image, invert)
        return neurons.fool(loaded, x, target)

    @app.post("/api/runs/{run_id}/live")
    def run_live(run_id: str, image: Optional[UploadFile] = File(None), invert: bool = Form(False)) -> dict[str, Any]:
        run = run_of(run_id)
        if image is None:
            return live_view.live_view(run, catalog.load(run), None)
        loaded, x = model_input(run, image, invert)
        return live_view.live_view(run, loaded, x)

    @app.get("/api/runs/{run_id}/figures/{name}")
    def run_figure(run_id: str, name: str) -> FileResponse:
        path = run_of(run_id).figures().get(name)  # a key into the run's own listing, never joined to a path
        if path is None:
            raise HTTPException(404, f"run {run_id!r} has no figure {name!r}")
        return FileResponse(path, media_type="image/png")

    @app.get("/api/runs/{run_id}/curves.png")
    def run_curves(run_id: str) -> Response:
        from cnnlab.eval.figures import curve_rows, learning_curves

        rows, steps = curve_rows(run_of(run_id).path)
        if not rows and not steps:
            raise HTTPException(404, f"run {run_id!r} has no metrics.csv or steps.csv rows to draw")
        with tempfile.TemporaryDirectory() as tmp:
            return Response(learning_curves(rows, Path(tmp) / "curves.png", steps).read_bytes(), media_type="image/png")

    return app


def serve(runs: str | Path, *, host: str = "127.0.0.1", port: int = 8765, **options: Any) -> None:
    """Run the explorer until interrupted (Ctrl+C)."""
    import uvicorn

    app = create_app(runs, **options)
    if host not in LOCAL_HOSTS:
        print(f"warning: listening on {host}: anyone who can reach this machine can use the explorer")
    print(f"cnnlab explorer: {len(app.state.catalog.runs())} run(s) from {app.state.catalog.source}")
    print(f"open http://{'[' + host + ']' if ':' in host else host}:{port}/ in a browser (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
