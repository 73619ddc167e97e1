"""`AsyncClient`: the SDK for a game server built on asyncio. (`Client`, in `sync.py`, is the same
client for a game server that is not: it runs this machinery on a thread of its own.)

    async with AsyncClient(Options(url="http://hotswap:8000", token=TOKEN)) as hs:
        gold = hs.value("economy", "rewards.daily.0.gold", default=0, context={"playerId": "p1"})

Reads (`config`, `value`, `evaluate`, `active_events`, `session`) evaluate in memory on the held
snapshot; nothing in them waits for the network or raises for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import TracebackType

from hotswap.sdk._core import Core
from hotswap.sdk.options import Options
from hotswap.sdk.session import ContextLike, Reads, Session
from hotswap.targeting.snapshot import CompiledSnapshot, Context

__all__ = ["AsyncClient", "BaseClient"]


class BaseClient(Reads):
    """What both clients answer, from the snapshot they hold now."""

    def __init__(self, options: Options) -> None:
        self._core = Core(options)

    def _current(self) -> CompiledSnapshot | None:
        return self._core.state.snapshot

    def _default_context(self) -> Context:
        return self._core.default_context

    def _clock(self) -> Callable[[], datetime]:
        return self._core.now

    @property
    def options(self) -> Options:
        return self._core.options

    @property
    def ready(self) -> bool:
        """Whether a snapshot is held (from the server, the cache or the bootstrap)."""
        return self._core.state.snapshot is not None

    @property
    def dropped_samples(self) -> int:
        """Tracked samples that will never reach the server: over the bound, or refused by it."""
        return self._core.tracker.dropped

    def on_change(self, name: str, callback: Callable[[str, int], None]) -> Callable[[], None]:
        """Call `callback(name, revision)` after each swap that changes config `name` (its entry
        or its rollout); `"*"` for every config. Returns a function that unsubscribes. Callbacks
        run on the client's loop (`Client`: its background thread); what they raise is logged."""
        return self._core.state.listen(name, callback)

    def session(self) -> Session:
        """The snapshot held now, fixed: `with client.session() as s:` for a match's length."""
        return Session(self._core.state.snapshot, self._core.default_context, self._core.now)

    def track(
        self,
        metric: str,
        value: float = 1.0,
        context: ContextLike = None,
        *,
        config: str | None = None,
        event: str | None = None,
    ) -> None:
        """Record a metric sample under each deployment arm `context` is evaluated under (only
        `config`'s when given). `event`: a live event's id, counting the context's player (who
        must be named) as a participant, and a purchase towards the event's revenue. Sent in
        batches in the background; never raises (a sample that cannot be sent is logged and
        counted in `dropped_samples`)."""
        self._core.track(metric, value, context, config, event)


class AsyncClient(BaseClient):
    async def start(self) -> None:
        """Serve the cache or bootstrap at once, then connect; returns once the server's current
        snapshot is held, or after `start_timeout` (serving what it has). Never raises for the
        network."""
        await self._core.start()

    async def aclose(self) -> None:
        """Stop, after one last flush of tracked samples."""
        await self._core.aclose()

    async def __aenter__(self) -> AsyncClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()
