"""The browser explorer (`cnnlab app`): pick a run, draw or upload an image, and see the
prediction, activation maps, filters, Grad-CAM and training curves.

`cnnlab.app.server.create_app(runs_dir)` builds the FastAPI app; `serve(...)` runs it with uvicorn
on 127.0.0.1. The page is static HTML + vanilla JS in ``static/`` (no CDN, works offline).
"""
