"""Ending open streams as soon as the process is asked to stop.

HTTP servers stop gracefully: they stop accepting, wait for the requests under way to finish,
and only then run the app's lifespan shutdown. A snapshot stream never finishes on its own, so
the app must learn of the stop before the server waits: `on_termination` chains a callback in
front of the SIGTERM/SIGINT handler the server installed (granian and uvicorn both have theirs
in place before the lifespan starts), then lets that handler run as before. The streams end
cleanly and their clients reconnect with `Last-Event-ID`, to another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def on_termination(callback: Callable[[], None]) -> Iterator[None]:
    """While the block runs, `callback` runs on the event loop when SIGTERM or SIGINT arrives.
    Outside the main thread (an app in a test client) signals cannot be caught: it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    # A handler installed from C (getsignal gives None) cannot be chained: leave that signal be.
    previous: dict[int, Any] = {int(sig): before for sig in SIGNALS if (before := signal.getsignal(sig)) is not None}

    def handler(signum: int, frame: FrameType | None) -> None:
        try:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to end
                loop.call_soon_threadsafe(callback)
        finally:
            before = previous[signum]
            if callable(before):
                before(signum, frame)  # the server's own handler (asyncio's no-op for loop handlers)
            elif before == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

    for signum in previous:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, before in previous.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, before)
