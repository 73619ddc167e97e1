"""Heartbeats written in groups: one transaction for every heartbeat that arrived meanwhile.

10,000 servers at one heartbeat per 5 s are 2,000 writes a second. One transaction each costs a
commit each (and on SQLite, a turn at the single writer), which caps the rate far below that.
So a heartbeat joins the batch being gathered and waits for that batch's commit: when no write
is in progress a batch starts at once (no added delay under light load); while one is, the next
batch fills up. A batch is one transaction: a SELECT of which of its servers exist, then one
executemany UPDATE per shape of change. Every caller still learns its own outcome (done, no such
server, or the store failing) only after the commit, so an answered heartbeat is a stored one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotswap.fleet import model as m
from hotswap.fleet.repository import ServerRepository
from hotswap.storage.uow import UnitOfWorkFactory

MAX_BATCH = 2000  # SQLite binds at most 32,766 parameters; a batch's id list stays well under


class UnknownServer(Exception):
    pass


@dataclass
class _Pending:
    changes: dict[str, Any]
    waiters: list[asyncio.Future[datetime]] = field(default_factory=list)


class HeartbeatWriter:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow
        self._pending: dict[str, _Pending] = {}
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0  # for tests and figures

    async def record(self, server_id: str, beat: m.Heartbeat) -> datetime:
        """Store the heartbeat; its instant. UnknownServer if no such server is registered."""
        future: asyncio.Future[datetime] = asyncio.get_running_loop().create_future()
        pending = self._pending.get(server_id)
        if pending is None:
            self._pending[server_id] = _Pending(beat.changes(), [future])
        else:  # the same server twice in one batch: the later values win, both callers are answered
            pending.changes.update(beat.changes())
            pending.waiters.append(future)
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            while self._pending:
                batch = dict(list(self._pending.items())[:MAX_BATCH])
                for server_id in batch:
                    del self._pending[server_id]
                await self._flush(batch)
        except BaseException:
            for pending in self._pending.values():  # those still gathering: answered, not stranded
                for waiter in pending.waiters:
                    if not waiter.done():
                        waiter.set_exception(ConnectionError("the heartbeat writer stopped"))
            self._pending.clear()
            raise
        finally:
            self._flushing = None

    async def _flush(self, batch: dict[str, _Pending]) -> None:
        try:
            async with self.uow() as uow:
                now = uow.clock.now()
                known = await ServerRepository(uow.conn).record_heartbeats(
                    {server_id: pending.changes for server_id, pending in batch.items()}, now
                )
                await uow.commit()
                self.batches += 1
        except BaseException as exc:
            # A cancelled flush (shutdown) must not leave its callers waiting forever either.
            failure = exc if isinstance(exc, Exception) else ConnectionError("the heartbeat writer stopped")
            for pending in batch.values():
                for waiter in pending.waiters:
                    if not waiter.done():
                        waiter.set_exception(failure)
            if not isinstance(exc, Exception):
                raise
            return
        for server_id, pending in batch.items():
            for waiter in pending.waiters:
                if waiter.done():
                    continue
                if server_id in known:
                    waiter.set_result(now)
                else:
                    waiter.set_exception(UnknownServer(server_id))
