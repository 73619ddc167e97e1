"""The background loop stops gracefully: the pass under way finishes, no transaction is cut off."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from hotswap.core import dueloop
from hotswap.core.clock import ManualClock
from hotswap.core.dueloop import DueLoop
from tests.conftest import START


class Gated(DueLoop):
    """A pass that waits for the test to let it finish."""

    def __init__(self) -> None:
        super().__init__(ManualClock(START), poll_seconds=60)
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.passes = 0
        self.finished = 0

    async def run_due(self) -> int:
        self.passes += 1
        self.started.set()
        await self.release.wait()
        self.finished += 1
        return 0

    async def next_due(self) -> datetime | None:
        return None


async def test_stop_lets_the_pass_under_way_finish_then_ends_the_loop() -> None:
    loop = Gated()
    loop.start()
    await loop.started.wait()
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0)  # the stop is asked for while the pass is still inside run_due
    assert not stopping.done()
    loop.release.set()
    await stopping
    assert (loop.passes, loop.finished) == (1, 1)  # finished, and no second pass began


async def test_a_pass_that_never_ends_is_cancelled_after_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dueloop, "STOP_GRACE", 0.01)
    loop = Gated()
    loop.start()
    await loop.started.wait()
    await loop.stop()  # release is never set: the grace runs out and the task is cancelled
    assert (loop.passes, loop.finished) == (1, 0)
