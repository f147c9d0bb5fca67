"""Limits on what clients may send the explorer.

- Request bodies larger than ``max_body_bytes`` (default 5 MiB, `cnnlab app --max-upload-mb`)
  are refused with HTTP 413 before they reach a handler, whether or not the client declared a
  Content-Length.
- Uploads must be PNG, JPEG, GIF, BMP or WebP, told by decoding the header (never by the file
  name or the declared content type); anything else gets HTTP 415.
- Images of more than ``max_pixels`` (default 16 megapixels) are refused with HTTP 413 after
  reading only the header, so a small file that would decompress to gigabytes (a
  "decompression bomb") is never decoded. Pillow's own bomb check stays active behind it.
"""
from __future__ import annotations

import io
from typing import Awaitable, Callable, MutableMapping

from PIL import Image, UnidentifiedImageError
from starlette.responses import JSONResponse

from cnnlab.errors import DataError

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_PIXELS = 4096 * 4096
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
BODY_METHODS = {"POST", "PUT", "PATCH"}

Scope = MutableMapping[str, object]
Message = MutableMapping[str, object]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class UploadRejected(DataError):
    """An upload the explorer will not process; ``status_code`` is the HTTP answer."""

    status_code = 400


class NotAnImage(UploadRejected):
    status_code = 415


class TooLarge(UploadRejected):
    status_code = 413


def check_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, int, int]:
    """(format, width, height) of an upload, read from its header only; raise UploadRejected if unfit."""
    if not data:
        raise NotAnImage("the upload is empty: choose an image file (PNG, JPEG, GIF, BMP or WebP)")
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
            fmt, (width, height) = img.format, img.size
    except UnidentifiedImageError as err:
        raise NotAnImage("the upload is not an image in a supported format: use PNG, JPEG, GIF, BMP or WebP") from err
    except Image.DecompressionBombError as err:
        raise TooLarge(f"the image has too many pixels ({err})") from err
    except (OSError, ValueError, SyntaxError) as err:
        raise UploadRejected(f"the image could not be read: {err}") from err
    if width * height > max_pixels:
        raise TooLarge(f"the image is {width}x{height} pixels; at most {max_pixels:,} pixels are accepted")
    return str(fmt), width, height


class BodySizeLimit:
    """ASGI middleware: answer 413 to any request body over ``max_bytes``.

    The body is read (up to the limit) before the app sees it and then replayed, so a client
    that sends no Content-Length, or a false one, is held to the limit too.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await JSONResponse({"detail": "invalid Content-Length header"}, status_code=400)(scope, receive, send)
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks, total, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = bytes(message.get("body", b""))  # type: ignore[arg-type]
            total += len(chunk)
            if total > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = f"{self.max_bytes / 1024 / 1024:.2g} MiB" if self.max_bytes >= 1024 * 1024 else f"{self.max_bytes:,} bytes"
        detail = f"the request is larger than the explorer accepts ({limit}): upload a smaller image"
        await JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})(scope, receive, send)
