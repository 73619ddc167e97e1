"""Signals: how a slice tells the others that something happened, without knowing who listens.

The publishing slice declares each signal as a frozen dataclass in its own `signals.py`, a
subclass of `Signal[R]`, and sends it through the one dispatcher the composition root hands it:

    await self.signals.send(uow, PlayerErased(player_id))

Subscribers are connected in the composition root only, each in the phase it needs:

- `IN_TRANSACTION`: awaited inside the publisher's unit of work, in the order connected, before
  `send` returns. It writes in the same transaction, or refuses the change by raising (a
  `Conflict`: "a planned event targets this region"); the request then fails whole. What such
  handlers return (`R`: rows erased, say) is collected and returned by `send`.
- `AFTER_COMMIT`: run once the unit of work has committed (never if it rolls back), each as a
  hook of its own, named `Signal:handler`: the unit of work runs every hook on its own, so one
  that raises is logged and counted under that name, and neither fails the committed request
  nor keeps the handlers after it from running.

A signal's type is matched exactly (no dispatch to subclasses), so a subscriber names what it
hears, and the publisher never imports a subscriber.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Generic, Literal, Protocol, TypeVar, cast, overload

R = TypeVar("R")
S = TypeVar("S", bound="Signal[Any]")
AfterCommitHook = Callable[[], Awaitable[None] | None]


class Signal(Generic[R]):
    """Base of every signal; `R` is what an in-transaction handler answers (None for most)."""

    __slots__ = ()


class Transaction(Protocol):
    """What the dispatcher needs of a unit of work: somewhere to run work after it commits, each
    hook on its own (one that raises neither fails the commit nor stops the hooks after it)."""

    def after_commit(self, hook: AfterCommitHook) -> None: ...


T = TypeVar("T", bound=Transaction)


class Phase(Enum):
    IN_TRANSACTION = "in transaction"
    AFTER_COMMIT = "after commit"


IN_TRANSACTION: Literal[Phase.IN_TRANSACTION] = Phase.IN_TRANSACTION
AFTER_COMMIT: Literal[Phase.AFTER_COMMIT] = Phase.AFTER_COMMIT


def _name(handler: Callable[..., object]) -> str:
    return str(getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None) or repr(handler))


class Signals(Generic[T]):
    """The dispatcher: one per application, shared by every slice that publishes."""

    def __init__(self) -> None:
        self._in_transaction: dict[type[Any], list[Callable[[T, Any], Awaitable[Any]]]] = {}
        self._after_commit: dict[type[Any], list[Callable[[Any], Awaitable[None] | None]]] = {}

    @overload
    def connect(
        self, kind: type[S], handler: Callable[[T, S], Awaitable[Any]], *, phase: Literal[Phase.IN_TRANSACTION]
    ) -> None: ...

    @overload
    def connect(
        self, kind: type[S], handler: Callable[[S], Awaitable[None] | None], *, phase: Literal[Phase.AFTER_COMMIT]
    ) -> None: ...

    def connect(self, kind: type[S], handler: Callable[..., Any], *, phase: Phase) -> None:
        """Run `handler` for every `kind` sent, in `phase` (for the composition root only)."""
        if not (isinstance(kind, type) and issubclass(kind, Signal)):
            raise TypeError(f"{kind!r} is not a Signal")
        table: dict[type[Any], list[Any]] = self._in_transaction if phase is IN_TRANSACTION else self._after_commit
        table.setdefault(kind, []).append(handler)

    async def send(self, tx: T, signal: Signal[R]) -> list[R]:
        """Tell the subscribers of `signal`'s type: the in-transaction ones now (their answers are
        returned; the first that raises stops the rest, and the exception reaches the publisher),
        the after-commit ones once `tx` has committed."""
        kind = type(signal)
        answers = [await handler(tx, signal) for handler in self._in_transaction.get(kind, [])]
        for handler in self._after_commit.get(kind, []):
            tx.after_commit(_hook(handler, signal))
        return cast(list[R], answers)


def _hook(handler: Callable[[Any], Awaitable[None] | None], signal: Signal[Any]) -> AfterCommitHook:
    """`handler(signal)` as an after-commit hook, named `Signal:handler` for the logs and the count."""

    async def run() -> None:
        result = handler(signal)
        if result is not None:
            await result

    run.__qualname__ = f"{type(signal).__name__}:{_name(handler)}"
    return run
