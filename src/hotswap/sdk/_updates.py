"""Keeping the held snapshot current: the stream, reconnecting, and polling when it cannot.

The stream (`GET /api/v1/stream`, Server-Sent Events) sends the snapshot or a delta on connect
and each new revision after. A connection that ends (the server closed it, the network failed,
nothing arrived for `stream_idle_timeout`) is opened again with `Last-Event-ID` = the held
revision, after a delay drawn with "full jitter" (uniform between 0 and an exponentially growing
cap, AWS's scheme): thousands of game servers that lost one replica do not come back in step.
A delta that does not start from the held revision means the client missed something: it
reconnects at once without `Last-Event-ID`, and the server sends the full snapshot.

While the stream keeps failing (`FALLBACK_AFTER` attempts in a row), the snapshot is polled with
`If-None-Match` every `poll_interval` between attempts; with `streaming=False` polling is all
there is. Every failure is logged and retried; none reaches game code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx
import orjson

from hotswap.sdk._sse import Event, Parser
from hotswap.sdk._state import State
from hotswap.sdk.options import Options
from hotswap.targeting.delta import DeltaMismatch

log = logging.getLogger("hotswap.sdk")

FALLBACK_AFTER = 2  # failed stream attempts in a row before polling fills in
SNAPSHOT_PATH = "/api/v1/snapshot"
STREAM_PATH = "/api/v1/stream"


class StreamFailed(Exception):
    """The stream could not be opened or kept (its message says why)."""


class _Reconnect(Exception):
    """End this connection and open another; `resume`: with Last-Event-ID."""

    def __init__(self, why: str, *, resume: bool) -> None:
        super().__init__(why)
        self.resume = resume


def describe(response: httpx.Response) -> str:
    """A failed answer in one line: its status and the problem's detail, when there is one."""
    detail = ""
    try:
        body = orjson.loads(response.content)
        if isinstance(body, dict):
            detail = str(body.get("detail") or body.get("title") or "")
    except orjson.JSONDecodeError:
        pass
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


def backoff(failures: int, initial: float, maximum: float, random: Callable[[], float]) -> float:
    """The delay before attempt `failures + 1`: full jitter under `initial * 2**(failures - 1)`."""
    if failures <= 0:
        return 0.0
    cap = min(maximum, initial * 2.0 ** min(failures - 1, 62))
    return random() * cap


class Syncer:
    def __init__(
        self,
        options: Options,
        state: State,
        http: httpx.AsyncClient,
        closing: asyncio.Event,
        random: Callable[[], float],
    ) -> None:
        self.options = options
        self.state = state
        self.http = http
        self.closing = closing
        self.random = random
        self.synced = asyncio.Event()  # the server has told us its current revision at least once
        self.attempted = asyncio.Event()  # the first attempt is over, whatever came of it
        self.failures = 0  # stream attempts in a row that brought no event
        self.connections = 0  # streams opened, for tests and diagnostics
        self._resume = True
        self._got_event = False
        self._next_poll = 0.0
        self._params = {"environment": options.environment}

    async def run(self) -> None:
        if not self.options.streaming:
            while not self.closing.is_set():
                await self.poll()
                await self._wait(self.options.poll_interval)
            return
        while not self.closing.is_set():
            await self._pause(await self._stream_round())

    # -- the stream -----------------------------------------------------------------------

    async def _stream_round(self) -> float:
        """Hold one connection until it ends; the delay before the next."""
        self._got_event = False
        try:
            await self._stream()
            why, resume = "the server ended the stream", True
        except _Reconnect as exc:
            why, resume = str(exc), exc.resume
        except Exception as exc:  # whatever went wrong, the loop goes on: game code never sees it
            why, resume = _reason(exc), True
        finally:
            self.attempted.set()
        self._resume = resume
        if self._got_event:
            self.failures = 0
        self.failures += 1
        # A missed revision: ask for the snapshot at once (but back off if that keeps happening).
        delay = 0.0 if not resume and self.failures <= 1 else self._delay()
        level = logging.INFO if self._got_event else logging.WARNING
        log.log(level, "hotswap: stream: %s; reconnecting in %.2f s", why, delay)
        return delay

    def _delay(self) -> float:
        return backoff(self.failures, self.options.reconnect_initial, self.options.reconnect_max, self.random)

    async def _stream(self) -> None:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        held = self.state.server_snapshot()
        if self._resume and held is not None:
            headers["Last-Event-ID"] = str(held.revision)
        idle = self.options.stream_idle_timeout
        timeout = httpx.Timeout(self.options.request_timeout, read=idle)
        async with self.http.stream("GET", STREAM_PATH, params=self._params, headers=headers, timeout=timeout) as r:
            if r.status_code != 200:
                await r.aread()
                raise StreamFailed(describe(r))
            if not r.headers.get("content-type", "").startswith("text/event-stream"):
                raise StreamFailed(f"not an event stream: {r.headers.get('content-type')!r}")
            self.connections += 1
            parser = Parser()
            loop = asyncio.get_running_loop()
            # An in-process transport ignores httpx's read timeout: keep our own deadline too.
            async with asyncio.timeout(idle) as deadline:
                async for chunk in r.aiter_bytes():
                    deadline.reschedule(loop.time() + idle)
                    for event in parser.feed(chunk):
                        self._handle(event)

    def _handle(self, event: Event) -> None:
        if event.event == "snapshot":
            try:
                self.state.offer_text(event.data, "stream")
            except Exception as exc:
                raise _Reconnect(f"an unusable snapshot ({_reason(exc)})", resume=False) from exc
        elif event.event == "delta":
            try:
                self.state.apply_text(event.data, "stream delta")
            except DeltaMismatch as exc:
                raise _Reconnect(f"a delta that does not fit ({exc}): asking for the snapshot", resume=False) from exc
            except Exception as exc:
                raise _Reconnect(f"an unusable delta ({_reason(exc)})", resume=False) from exc
        elif event.event == "heartbeat":
            try:
                data = orjson.loads(event.data)
                revision = data.get("revision") if isinstance(data, dict) else None
            except orjson.JSONDecodeError:
                revision = None
            held = self.state.revision
            if isinstance(revision, int) and held is not None and revision > held:
                raise _Reconnect(f"the server is at revision {revision}, we hold {held}", resume=True)
        else:
            return  # an event this client does not know: a newer server's; skip it
        self._got_event = True
        self.synced.set()

    # -- polling --------------------------------------------------------------------------

    async def poll(self) -> bool:
        """Fetch the snapshot unless the held one is current; whether the server answered."""
        headers: dict[str, str] = {}
        held = self.state.server_snapshot()
        if held is not None:
            headers["If-None-Match"] = held.etag
        try:
            r = await self.http.get(SNAPSHOT_PATH, params=self._params, headers=headers)
            if r.status_code == 304:
                self.synced.set()
                return True
            if r.status_code != 200:
                raise StreamFailed(describe(r))
            self.state.offer(orjson.loads(r.content), "poll", from_server=True)
            self.synced.set()
            return True
        except Exception as exc:
            log.warning("hotswap: polling the snapshot failed: %s", _reason(exc))
            return False
        finally:
            self.attempted.set()

    async def _pause(self, delay: float) -> None:
        """Wait `delay` before the next stream attempt, polling meanwhile while streaming fails."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while not self.closing.is_set():
            falling_back = self.failures >= FALLBACK_AFTER
            if falling_back and loop.time() >= self._next_poll:
                self._next_poll = loop.time() + self.options.poll_interval
                await self.poll()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            if falling_back:
                remaining = min(remaining, max(0.0, self._next_poll - loop.time()))
            await self._wait(remaining)

    async def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, ending early when the client closes."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), seconds)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        return "nothing arrived within the idle timeout"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def wait_either(first: asyncio.Event, second: asyncio.Event, seconds: float | None) -> None:
    """Wait until either event is set, or `seconds` pass (None: no limit)."""
    if first.is_set() or second.is_set():
        return
    waits = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
