"""The loop behind the background workers (the rollout worker, the webhook dispatcher): one pass
over what is due, then a sleep until the earliest stored due time, at most `poll_seconds`
(another process may have made something due), or until this process wakes it. Tests drive
`run_due` with the injectable clock and never start the loop.

Stopping is graceful: `request_stop` lets the pass under way finish and ends the loop before its
next wait, so no transaction is cut off in the middle (cancelling a task while the SQLite driver
opens a connection leaves that connection's thread behind, and the process then never exits).
`stop` cancels only what has not ended within `STOP_GRACE`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from hotswap.core.clock import Clock

log = logging.getLogger(__name__)
STOP_GRACE = 10.0  # seconds a pass may take to finish once a stop is asked for


class DueLoop:
    name = "due-loop"

    def __init__(self, clock: Clock, poll_seconds: float) -> None:
        self.clock = clock
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def run_due(self) -> int:
        raise NotImplementedError

    async def next_due(self) -> datetime | None:
        """The earliest stored instant something becomes due; None if nothing waits."""
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        """End the loop once the pass under way (if any) is done."""
        self._stopping = True
        self._wake.set()

    async def _next_wait(self) -> float:
        due = await self.next_due()
        if due is None:
            return self.poll_seconds
        return max(0.0, min(self.poll_seconds, (due - self.clock.now()).total_seconds()))

    async def run(self) -> None:
        self._stopping = False
        while not self._stopping:
            self._wake.clear()  # before the pass: a wake during it means "look again at once"
            try:
                await self.run_due()
                wait = await self._next_wait()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store is down, say: log, and try again after a pause
                log.exception("%s pass failed", self.name)
                wait = self.poll_seconds
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self.request_stop()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_GRACE)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
