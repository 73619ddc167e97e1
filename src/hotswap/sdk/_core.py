"""The machinery both clients share: the held state, and the background tasks that keep it current,
write the cache, send tracked samples and keep the fleet registration. All of it runs on one
event loop: the caller's (`AsyncClient`) or a thread of its own (`Client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
import threading
from collections.abc import Coroutine
from typing import Any

import httpx

from hotswap.sdk._state import State, initial_document, write_atomically
from hotswap.sdk._updates import Syncer, wait_either
from hotswap.sdk.fleet import Fleet
from hotswap.sdk.options import Options
from hotswap.sdk.session import ContextLike, to_context, utc_now
from hotswap.sdk.tracking import Tracker, check_sample, deployment_units, samples_for
from hotswap.targeting.snapshot import CompiledSnapshot, Context

log = logging.getLogger("hotswap.sdk")
MAX_TRACK_BACKOFF = 300.0  # seconds between attempts, at most, while the metrics route fails

USER_AGENT = "hotswap-sdk-python/0.1"


class Core:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.state = State(options.environment)
        self.now = options.now or utc_now
        self.default_context = Context(server_id=options.server_id, region=options.region)
        self.tracker = Tracker(options.track_batch_size, options.track_max_pending)
        self.tracker.wake = self._nudge
        self.syncer: Syncer | None = None
        self.fleet: Fleet | None = None
        self.cache_revision: int | None = None  # the revision the cache file holds, once written
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._closing: asyncio.Event | None = None
        self._flush_now: asyncio.Event | None = None
        self._cache_next: CompiledSnapshot | None = None
        self._cache_wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the cache or the bootstrap at once, then wait up to `start_timeout` for the
        server's current snapshot. Never raises for a network failure."""
        if self._closed:
            raise RuntimeError("a closed HotSwap client cannot start again")
        if self._loop is not None:
            return
        o = self.options
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._closing = closing = asyncio.Event()
        self._flush_now = asyncio.Event()
        initial = await asyncio.to_thread(initial_document, o.bootstrap, o.cache_path, o.environment)
        if initial is not None:
            try:
                self.state.offer(initial[0], initial[1])
            except Exception:
                log.exception("hotswap: the %s document does not compile; ignoring it", initial[1])
        if o.cache_path is not None:
            self._cache_wake = asyncio.Event()
            self.state.after_swap.append(self._cache_later)
            self.cache_revision = self.state.revision if initial is not None and initial[1] == "cache" else None
        self._http = http = httpx.AsyncClient(
            base_url=o.url.rstrip("/"),
            headers={"Authorization": f"Bearer {o.token}", "User-Agent": USER_AGENT},
            timeout=o.request_timeout,
            transport=o.transport,
            verify=_tls_context(),
        )
        self.syncer = syncer = Syncer(o, self.state, http, closing, o.random or random.random)
        self._spawn(syncer.run(), "sync")
        if o.registers:
            self.fleet = fleet = Fleet(o, self.state, http, closing, self.default_context, self.now)
            self.state.after_swap.append(lambda _compiled: fleet.revision_applied())
            self._spawn(fleet.run(), "fleet")
        self._spawn(self._flush_loop(), "track")
        if self._cache_wake is not None:
            self._spawn(self._cache_loop(), "cache")
        await self._first_answer(syncer)

    async def _first_answer(self, syncer: Syncer) -> None:
        synced = asyncio.ensure_future(syncer.synced.wait())
        attempted = asyncio.ensure_future(syncer.attempted.wait())
        try:
            async with asyncio.timeout(self.options.start_timeout):
                await asyncio.wait({synced, attempted}, return_when=asyncio.FIRST_COMPLETED)
                if not synced.done() and self.state.snapshot is None:
                    await synced  # nothing to serve yet: keep trying until the timeout
        except TimeoutError:
            pass
        finally:
            synced.cancel()
            attempted.cancel()
        if not syncer.synced.is_set():
            revision = self.state.revision
            log.warning(
                "hotswap: no answer from %s yet; %s",
                self.options.url,
                f"serving revision {revision} meanwhile" if revision is not None else "no snapshot to serve yet",
            )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"hotswap-sdk-{name}"))

    async def aclose(self) -> None:
        """Stop the background work: one last flush of tracked samples and of the cache."""
        if self._closed:
            return
        self._closed = True
        if self._closing is None:
            return
        self._closing.set()
        self._nudge()
        # The fleet task is not cancelled: it ends at the closing, after the request under way. A
        # registration cut short would have the server refuse every sample the last flush sends.
        for task in self._tasks:
            if task.get_name() == "hotswap-sdk-sync":
                task.cancel()
        # The tracker and cache tasks finish their last round; do not wait forever on a dead network.
        _done, pending = await asyncio.wait(self._tasks, timeout=self.options.request_timeout + 1)
        for task in pending:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        for task, result in zip(self._tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error("hotswap: %s failed", task.get_name(), exc_info=result)
        if self._http is not None:
            await self._http.aclose()

    # -- tracked samples ------------------------------------------------------------------

    def track(
        self, metric: str, value: float, context: ContextLike, config: str | None, event: str | None = None
    ) -> None:
        try:
            problem = check_sample(metric, value, event)
            if problem is not None:
                self.tracker.drop(1, f"track: {problem}")
                return
            ctx = to_context(context, self.default_context)
            server_id = ctx.server_id
            if server_id is None:
                self.tracker.drop(1, "track needs a server id (Options.server_id or the context's)")
                return
            if event is not None and ctx.player_id is None:
                # The server refuses eventId without playerId: participation is counted per player.
                self.tracker.drop(1, f"track({metric!r}, event={event!r}) needs a player id in the context")
                return
            at = self.now()
            snapshot = self.state.snapshot
            if snapshot is None:
                samples = samples_for(metric, float(value), ctx, server_id, at, {}, config, event=event)
            else:
                configs = snapshot.evaluate(ctx, at)["configs"]
                units = deployment_units(snapshot.document)
                samples = samples_for(metric, float(value), ctx, server_id, at, configs, config, units, event=event)
            self.tracker.add(samples)
        except Exception:
            log.exception("hotswap: track(%r) failed", metric)

    def _nudge(self) -> None:
        loop, event = self._loop, self._flush_now
        if loop is None or event is None:
            return  # not started: the first flush after start sends what waits
        if threading.get_ident() == self._loop_thread:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                loop.call_soon_threadsafe(event.set)

    async def _flush_loop(self) -> None:
        assert self._closing is not None
        assert self._flush_now is not None
        assert self._http is not None
        closing, flush_now = self._closing, self._flush_now
        if self.fleet is not None:  # samples name the server: let it register first, closing or not
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.request_timeout + 1):
                    await self.fleet.first_attempt.wait()
        failures = 0
        while True:
            if failures:
                # The server failed or asked for less (429, 503): back off, deaf to the nudges
                # of a full batch, or every track() call would post again at once.
                backoff = min(self.options.track_flush_interval * 2.0**failures, MAX_TRACK_BACKOFF)
                await wait_either(closing, closing, backoff)
            else:
                await wait_either(flush_now, closing, self.options.track_flush_interval)
            flush_now.clear()
            try:
                sent = await self.tracker.flush(self._http)
            except Exception:
                log.exception("hotswap: sending tracked samples failed")
                sent = False
            failures = 0 if sent else min(failures + 1, 16)
            if closing.is_set():
                return

    # -- the last-known-good cache --------------------------------------------------------

    def _cache_later(self, compiled: CompiledSnapshot) -> None:
        self._cache_next = compiled
        if self._cache_wake is not None:
            self._cache_wake.set()

    async def _cache_loop(self) -> None:
        assert self._closing is not None
        assert self._cache_wake is not None
        assert self.options.cache_path is not None
        closing, wake, path = self._closing, self._cache_wake, self.options.cache_path
        while True:
            await wait_either(wake, closing, None)
            wake.clear()
            compiled, self._cache_next = self._cache_next, None
            if compiled is not None and (self.cache_revision is None or compiled.revision > self.cache_revision):
                try:
                    await asyncio.to_thread(write_atomically, path, compiled.body)
                    self.cache_revision = compiled.revision
                except Exception as exc:
                    log.warning("hotswap: writing the cache file %s failed: %s", path, exc)
            if closing.is_set() and self._cache_next is None:
                return


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CA bundle), built once per process: loading the CA
    bundle takes milliseconds and a few hundred KB, which every client used to pay again."""
    return httpx.create_ssl_context()
