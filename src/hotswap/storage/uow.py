"""The unit of work: one transaction per request or job, committed once by the entry point.

Services receive the unit of work, run their statements on `uow.conn` and never commit.
Work that must only happen after a successful commit (publishing to the bus, metrics)
is registered with `after_commit`. Once the commit has happened the request has succeeded: each
such hook runs on its own, and one that raises is logged and counted (`on_hook_failure`), never
turned into an error of the committed request nor allowed to keep the later hooks from running.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeAlias

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from hotswap.core.clock import Clock

log = logging.getLogger(__name__)
AfterCommit: TypeAlias = Callable[[], Awaitable[None] | None]
HookFailed: TypeAlias = Callable[[str], None]  # told the name of an after-commit hook that raised
# Execution option for transactions that only read: on SQLite they begin DEFERRED rather than
# IMMEDIATE, so readers never queue behind the single writer (WAL lets them read alongside).
READ_ONLY = {"hotswap_read_only": True}


class UnitOfWork:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        request_id: str | None = None,
        *,
        read_only: bool = False,
        on_hook_failure: HookFailed | None = None,
    ) -> None:
        self._engine = engine
        self._on_hook_failure = on_hook_failure
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
            try:
                result = hook()
                if result is not None:
                    await result
            except Exception:
                name = getattr(hook, "__qualname__", repr(hook))
                log.exception("after-commit hook %s failed", name)
                if self._on_hook_failure is not None:
                    self._on_hook_failure(name)

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
    def __init__(self, engine: AsyncEngine, clock: Clock, *, on_hook_failure: HookFailed | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.on_hook_failure = on_hook_failure

    def __call__(self, request_id: str | None = None, *, read_only: bool = False) -> UnitOfWork:
        return UnitOfWork(
            self.engine, self.clock, request_id, read_only=read_only, on_hook_failure=self.on_hook_failure
        )
