"""Graceful stop: SIGINT (Ctrl-C) and SIGTERM only set a flag; the loop saves at the next step boundary.

Nothing is written inside the handler. A second Ctrl-C restores Python's default and aborts at once.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}  # 128 + signal number, what shells report for a signal


class StopRequest:
    """Context manager installing the handlers (main thread only) and remembering the signal's name."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __bool__(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # a second signal acts at once

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
