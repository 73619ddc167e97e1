"""The snapshots this process holds in memory, kept current.

Three ways a snapshot moves forward, all ending in `refresh`:
- this process committed a change (`storage.revisions.SnapshotChanges` calls `committed`);
- another process announced one on the change bus;
- the periodic check found the store's revision ahead of ours (a missed bus message).
`refresh` re-reads the store and swaps in the new compiled snapshot only if its revision is
higher than the one held, so the revision a reader sees never goes back. An operator's warm-up
(`reload`) rebuilds even at the revision held, and moves the store's revision forward first when
the store is behind what is held (a restore from a backup), for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotswap.core.environments import Environment, stored_environment
from hotswap.core.errors import Unavailable
from hotswap.delivery.bus import ChangeBus
from hotswap.delivery.documents import PartLoader, current_revisions, load_document
from hotswap.observability.prometheus import Metrics
from hotswap.targeting.snapshot import CompiledSnapshot, compile_snapshot

log = logging.getLogger(__name__)
Listener = Callable[[CompiledSnapshot], None]
# Moves an environment's stored revision past the given one, in a transaction of its own; the new
# revision (`storage.revisions.SnapshotChanges.advance`, wired by whoever asks for a reload).
Advance = Callable[[Environment, int], Awaitable[int]]


class SnapshotService:
    def __init__(
        self,
        engine: AsyncEngine,
        bus: ChangeBus,
        metrics: Metrics,
        *,
        check_interval: float = 5.0,
    ) -> None:
        self.engine = engine
        self.bus = bus
        self.metrics = metrics
        self.check_interval = check_interval
        self._current: dict[Environment, CompiledSnapshot] = {}
        self._locks = {env: asyncio.Lock() for env in Environment}
        self._parts: dict[str, PartLoader] = {}
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._catching_up: dict[Environment, asyncio.Future[CompiledSnapshot]] = {}
        self._caught_up: dict[Environment, float] = {}
        bus.subscribe(self._on_message)

    # -- extension points -----------------------------------------------------------------

    def add_part(self, key: str, loader: PartLoader) -> None:
        """A later slice contributes a part of every document (`rollouts`, `events`)."""
        self._parts[key] = loader

    def on_new(self, listener: Listener) -> None:
        """Called (synchronously) with each snapshot as it becomes current."""
        self._listeners.append(listener)

    # -- reading --------------------------------------------------------------------------

    def peek(self, environment: Environment) -> CompiledSnapshot | None:
        return self._current.get(environment)

    async def get(self, environment: Environment) -> CompiledSnapshot:
        current = self._current.get(environment)
        return current if current is not None else await self.refresh(environment)

    # -- keeping current ------------------------------------------------------------------

    async def refresh(self, environment: Environment) -> CompiledSnapshot:
        """The environment's snapshot as the store has it, if that is newer than the one held."""
        async with self._locks[environment]:
            started = time.perf_counter()
            held = self._current.get(environment)
            try:
                document = await load_document(self.engine, environment, self._parts)
                if held is not None and held.revision >= document["revision"]:
                    return held  # never back to an older revision
                compiled = compile_snapshot(document)
            except Exception as exc:
                # The last good snapshot keeps serving; the periodic check tries again. Stored
                # data that does not compile is a bug or a bad migration, never the caller's fault.
                self._failed(environment)
                if held is None:
                    raise self._unavailable(environment, held) from exc
                return held
            self._hold(environment, compiled, started)
        self._tell(compiled)
        return compiled

    async def reload(self, environment: Environment, advance: Advance) -> CompiledSnapshot:
        """The environment's snapshot rebuilt from the store whatever revision is held (an
        operator's warm-up: nothing in memory is trusted); a failure to build it is raised, the
        snapshot held keeps serving.

        A revision names one content in every process and client: streams send deltas from the
        revision a client holds, and processes and clients only ever move forward. So when the
        store is behind the revision held (restored from a backup) or holds other contents under
        it, `advance` first moves the store's revision past the one held, and the rebuilt snapshot
        is announced on the bus for any other process that holds the same."""
        async with self._locks[environment]:
            started = time.perf_counter()
            held = self._current.get(environment)
            advanced = False
            try:
                document = await load_document(self.engine, environment, self._parts)
                if held is not None and _went_back(held, document):
                    await advance(environment, held.revision)
                    advanced = True
                    log.warning(
                        "the store was behind the snapshot held; its revision was moved past it",
                        extra={"environment": environment.value, "held": held.revision, "stored": document["revision"]},
                    )
                    document = await load_document(self.engine, environment, self._parts)
                    if _went_back(held, document):  # restored again meanwhile: never serve it as current
                        raise RuntimeError(f"the stored revision {document['revision']} is not past {held.revision}")
                compiled = compile_snapshot(document)
            except Exception as exc:
                self._failed(environment)
                raise self._unavailable(environment, held) from exc
            self._hold(environment, compiled, started)
        self._tell(compiled)
        if advanced:
            await self.bus.publish(
                {"kind": "snapshot", "environment": environment.value, "revision": compiled.revision}
            )
        return compiled

    def _hold(self, environment: Environment, compiled: CompiledSnapshot, started: float) -> None:
        self._current[environment] = compiled
        self.metrics.snapshot_revision.labels(environment.value).set(compiled.revision)
        self.metrics.snapshot_compile.labels(environment.value).observe(time.perf_counter() - started)

    def _tell(self, compiled: CompiledSnapshot) -> None:
        for listener in self._listeners:
            listener(compiled)

    def _failed(self, environment: Environment) -> None:
        self.metrics.snapshot_failures.inc()
        log.exception("snapshot refresh failed", extra={"environment": environment.value})

    @staticmethod
    def _unavailable(environment: Environment, held: CompiledSnapshot | None) -> Unavailable:
        return Unavailable(
            f"The {environment.value} snapshot cannot be built right now"
            + ("; the last good one keeps serving." if held is not None else "."),
            headers={"Retry-After": "5"},
        )

    async def catch_up(self, environment: Environment, revision: int) -> CompiledSnapshot:
        """The snapshot at `revision` or later if the store has it (a stream client saw it on
        another replica). Clients reconnecting together share one read of the store, and a
        store read in the last second is not read again for a revision it did not have."""
        held = self._current.get(environment)
        if held is not None and held.revision >= revision:
            return held
        pending = self._catching_up.get(environment)
        if pending is None:
            if held is not None and time.monotonic() - self._caught_up.get(environment, -1e9) < 1.0:
                return held
            pending = asyncio.ensure_future(self.refresh(environment))
            self._catching_up[environment] = pending

            def done(_: object) -> None:
                self._catching_up.pop(environment, None)
                self._caught_up[environment] = time.monotonic()

            pending.add_done_callback(done)
        return await asyncio.shield(pending)

    async def committed(self, environments: frozenset[Environment]) -> None:
        for env in sorted(environments):
            try:
                compiled = await self.refresh(env)
            except Exception:
                # The change is committed: the writer must not see a failure for it. Every
                # process (this one too) picks it up at its next check.
                log.warning("snapshot refresh after a commit failed", exc_info=True, extra={"environment": env.value})
                continue
            await self.bus.publish({"kind": "snapshot", "environment": env.value, "revision": compiled.revision})

    async def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("kind") == "resync":  # the bus was away: revisions may have passed unheard
            await self.check()
            return
        if message.get("kind") != "snapshot":
            return
        env = stored_environment(message.get("environment"))
        try:
            revision = int(message.get("revision", 0))
        except (TypeError, ValueError):
            env = None
        if env is None:
            log.warning("change bus: ignored a malformed snapshot message", extra={"bus_message": message})
            return
        held = self._current.get(env)
        if held is None or held.revision < revision:
            await self.refresh(env)

    async def check(self) -> None:
        """Refresh every environment whose stored revision is ahead of the one held."""
        for env, revision in (await current_revisions(self.engine)).items():
            held = self._current.get(env)
            if held is None or held.revision < revision:
                await self.refresh(env)

    async def start(self) -> None:
        await self.bus.start()
        await self.check()
        if self.check_interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._check_periodically(), name="hotswap-snapshot-check")

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.check()
            except Exception:
                log.warning("snapshot check failed", exc_info=True)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.bus.aclose()


def _went_back(held: CompiledSnapshot, document: dict[str, Any]) -> bool:
    """Whether the store is behind the snapshot held: an older revision, or other contents under
    the same one (a revision must name one content)."""
    stored: int = document["revision"]
    return stored < held.revision or (stored == held.revision and document != held.document)
