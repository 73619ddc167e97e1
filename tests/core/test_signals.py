"""The signal dispatcher: in-transaction handlers answer or veto, after-commit handlers are isolated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from hotswap.core.errors import Conflict
from hotswap.core.signals import AFTER_COMMIT, IN_TRANSACTION, Signal, Signals


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


async def test_after_commit_handlers_wait_for_the_commit_and_a_failing_one_is_counted_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[tuple[str, str]] = []
    signals: Signals[FakeTransaction] = Signals(on_failure=lambda s, h: failures.append((s, h)))
    heard: list[str] = []

    def broken(signal: ThingDeleting) -> None:
        raise RuntimeError("listener down")

    async def fine(signal: ThingDeleting) -> None:
        heard.append(signal.thing_id)

    signals.connect(ThingDeleting, broken, phase=AFTER_COMMIT)
    signals.connect(ThingDeleting, fine, phase=AFTER_COMMIT)
    tx = FakeTransaction()
    assert await signals.send(tx, ThingDeleting("b")) == []
    assert heard == []  # nothing before the commit
    await tx.commit()  # the failing handler neither raises here nor stops the next one
    assert heard == ["b"]
    assert failures == [("ThingDeleting", broken.__qualname__)]
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
