"""The signal dispatcher: in-transaction handlers answer or veto, after-commit handlers are isolated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hotswap.core.clock import ManualClock
from hotswap.core.errors import Conflict
from hotswap.core.signals import AFTER_COMMIT, IN_TRANSACTION, Signal, Signals
from hotswap.storage.engine import create_engine
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory


@dataclass
class FakeTransaction:
    hooks: list[Callable[[], Awaitable[None] | None]] = field(default_factory=list)

    def after_commit(self, hook: Callable[[], Awaitable[None] | None]) -> None:
        self.hooks.append(hook)

    async def commit(self) -> None:
        for hook in self.hooks:
            result = hook()
            if result is not None:
                await result


@dataclass(frozen=True, slots=True)
class ThingErased(Signal[int]):
    thing_id: str


@dataclass(frozen=True, slots=True)
class ThingDeleting(Signal[None]):
    thing_id: str


@dataclass(frozen=True, slots=True)
class OtherThing(ThingDeleting):
    pass


async def test_in_transaction_handlers_run_in_order_at_send_and_their_answers_are_returned() -> None:
    signals: Signals[FakeTransaction] = Signals()
    heard: list[str] = []

    async def first(tx: FakeTransaction, signal: ThingErased) -> int:
        heard.append(f"first {signal.thing_id}")
        return 2

    async def second(tx: FakeTransaction, signal: ThingErased) -> int:
        heard.append(f"second {signal.thing_id}")
        return 3

    signals.connect(ThingErased, first, phase=IN_TRANSACTION)
    signals.connect(ThingErased, second, phase=IN_TRANSACTION)
    tx = FakeTransaction()
    assert await signals.send(tx, ThingErased("a")) == [2, 3]
    assert heard == ["first a", "second a"]
    assert tx.hooks == []


async def test_an_in_transaction_handler_vetoes_by_raising_and_the_rest_do_not_run() -> None:
    signals: Signals[FakeTransaction] = Signals()
    heard: list[str] = []

    async def veto(tx: FakeTransaction, signal: ThingDeleting) -> None:
        raise Conflict(f"{signal.thing_id} is still in use")

    async def after(tx: FakeTransaction, signal: ThingDeleting) -> None:
        heard.append("ran")

    signals.connect(ThingDeleting, veto, phase=IN_TRANSACTION)
    signals.connect(ThingDeleting, after, phase=IN_TRANSACTION)
    signals.connect(ThingDeleting, lambda signal: heard.append("committed"), phase=AFTER_COMMIT)
    tx = FakeTransaction()
    with pytest.raises(Conflict, match="still in use"):
        await signals.send(tx, ThingDeleting("a"))
    assert heard == []
    assert tx.hooks == []  # refused before anything was queued for the commit


async def test_after_commit_handlers_wait_for_the_commit_as_hooks_named_for_their_signal() -> None:
    signals: Signals[FakeTransaction] = Signals()
    heard: list[str] = []

    async def fine(signal: ThingDeleting) -> None:
        heard.append(signal.thing_id)

    signals.connect(ThingDeleting, fine, phase=AFTER_COMMIT)
    tx = FakeTransaction()
    assert await signals.send(tx, ThingDeleting("b")) == []
    assert heard == []  # nothing before the commit
    assert [hook.__qualname__ for hook in tx.hooks] == [f"ThingDeleting:{fine.__qualname__}"]
    await tx.commit()
    assert heard == ["b"]


async def test_a_failing_after_commit_handler_is_counted_and_neither_fails_the_commit_nor_stops_the_rest(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    signals: Signals[UnitOfWork] = Signals()
    failed: list[str] = []
    heard: list[str] = []

    def broken(signal: ThingDeleting) -> None:
        raise RuntimeError("listener down")

    signals.connect(ThingDeleting, broken, phase=AFTER_COMMIT)
    signals.connect(ThingDeleting, lambda signal: heard.append(signal.thing_id), phase=AFTER_COMMIT)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'signals.db'}")
    try:
        async with UnitOfWorkFactory(engine, clock, on_hook_failure=failed.append)() as uow:
            await signals.send(uow, ThingDeleting("c"))
            await uow.commit()  # does not raise
    finally:
        await engine.dispose()
    assert heard == ["c"]
    assert failed == [f"ThingDeleting:{broken.__qualname__}"]
    assert "listener down" in caplog.text


async def test_a_signal_is_matched_by_its_exact_type() -> None:
    signals: Signals[FakeTransaction] = Signals()
    heard: list[str] = []

    async def handler(tx: FakeTransaction, signal: ThingDeleting) -> None:
        heard.append(type(signal).__name__)

    signals.connect(ThingDeleting, handler, phase=IN_TRANSACTION)
    await signals.send(FakeTransaction(), OtherThing("x"))
    await signals.send(FakeTransaction(), ThingDeleting("x"))
    assert heard == ["ThingDeleting"]


def test_only_signals_can_be_connected() -> None:
    signals: Signals[FakeTransaction] = Signals()
    with pytest.raises(TypeError):
        signals.connect(str, lambda s: None, phase=AFTER_COMMIT)  # type: ignore[type-var]
