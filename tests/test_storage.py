"""The unit of work's transactions on SQLite: writers take the lock up front, readers don't."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from hotswap.core.clock import ManualClock
from hotswap.storage.engine import create_engine
from hotswap.storage.uow import UnitOfWorkFactory


@pytest.mark.parametrize(("read_only", "begin"), [(False, "BEGIN IMMEDIATE"), (True, "BEGIN")])
async def test_sqlite_transactions_begin_as_their_kind_needs(
    read_only: bool, begin: str, tmp_path: Path, clock: ManualClock
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tx.db'}")
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    try:
        async with UnitOfWorkFactory(engine, clock)(read_only=read_only) as uow:
            await uow.conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert [s for s in statements if s.startswith("BEGIN")] == [begin]


async def test_a_reader_is_not_blocked_by_an_open_writer(tmp_path: Path, clock: ManualClock) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tx.db'}")
    uow = UnitOfWorkFactory(engine, clock)
    try:
        async with uow() as setup:
            await setup.conn.execute(text("CREATE TABLE t (n INTEGER)"))
            await setup.conn.execute(text("INSERT INTO t VALUES (1)"))
            await setup.commit()
        async with uow() as writer:  # holds SQLite's write lock until it ends
            await writer.conn.execute(text("UPDATE t SET n = 2"))
            async with uow(read_only=True) as reader:  # WAL: reads the last committed state at once
                assert (await reader.conn.execute(text("SELECT n FROM t"))).scalar_one() == 1
            await writer.commit()
    finally:
        await engine.dispose()


async def test_a_failing_after_commit_hook_is_counted_and_the_later_hooks_still_run(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tx.db'}")
    failed: list[str] = []
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("the bus is down")

    async def later() -> None:
        ran.append("later")

    try:
        async with UnitOfWorkFactory(engine, clock, on_hook_failure=failed.append)() as uow:
            await uow.conn.execute(text("CREATE TABLE t (n INTEGER)"))
            uow.after_commit(broken)
            uow.after_commit(later)
            await uow.commit()  # does not raise: the write is committed whatever a hook does
        async with UnitOfWorkFactory(engine, clock)(read_only=True) as reader:
            assert (await reader.conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await engine.dispose()
    assert ran == ["later"]
    assert [name.rsplit(".", 1)[-1] for name in failed] == ["broken"]
    assert "the bus is down" in caplog.text
