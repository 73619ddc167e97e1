"""`Client`: the SDK for a game server that does not run asyncio.

The streaming, polling, cache, metrics and fleet work runs on an event loop in a daemon thread
of its own; reads are plain method calls on the game's threads, each one reference read of the
snapshot held at that instant (the background thread swaps a new one in whole), so they take no
lock and never wait for the network.

    with Client(Options(url="http://hotswap:8000", token=TOKEN)) as hs:
        hp = hs.value("balance", "hero.hp", default=100, context={"playerId": "p1"})
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from hotswap.sdk.client import BaseClient

__all__ = ["Client"]

T = TypeVar("T")


class Client(BaseClient):
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread, serve the cache or bootstrap at once, then connect;
        returns once the server's current snapshot is held or after `start_timeout`. Never
        raises for the network."""
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_run_loop, args=(loop,), name="hotswap-sdk", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._call(self._core.start())
        except BaseException:
            self._stop_loop()
            raise

    def close(self) -> None:
        """Stop, after one last flush of tracked samples (bounded by `request_timeout`)."""
        if self._loop is None:
            return
        try:
            self._call(self._core.aclose())
        finally:
            self._stop_loop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("start() and close() cannot be called from an on_change callback")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = None
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None

    def __enter__(self) -> Client:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
