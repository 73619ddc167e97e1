"""The unit of work: one transaction per request or job, committed once by the entry point.

Services receive the unit of work, run their statements on `uow.conn` and never commit.
Work that must only happen after a successful commit (publishing to the bus, metrics)
is registered with `after_commit`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hotswap.core.clock import Clock

AfterCommit: TypeAlias = Callable[[], Awaitable[None] | None]
# Execution option for transactions that only read: on SQLite they begin DEFERRED rather than
# IMMEDIATE, so readers never queue behind the single writer (WAL lets them read alongside).
READ_ONLY = {"hotswap_read_only": True}


class UnitOfWork:
    def __init__(
        self, engine: AsyncEngine, clock: Clock, request_id: str | None = None, *, read_only: bool = False
    ) -> None:
        self._engine = engine
        self.read_only = read_only
        self.clock = clock
        self.request_id = request_id
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._after_commit: list[AfterCommit] = []
        self.committed = False
        # State that services working in this one transaction share (e.g. which snapshots it changed).
        self.scratch: dict[str, Any] = {}

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._conn

    def after_commit(self, hook: AfterCommit) -> None:
        self._after_commit.append(hook)

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        if self.read_only:
            await self._conn.execution_options(**READ_ONLY)
        self._tx = await self._conn.begin()
        return self

    async def commit(self) -> None:
        assert self._tx is not None
        await self._tx.commit()
        self.committed = True
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            result = hook()
            if result is not None:
                await result

    async def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            await self._tx.rollback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self.committed:
                await self.rollback()
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._conn = None


class UnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def __call__(self, request_id: str | None = None, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, self.clock, request_id, read_only=read_only)
