"""The snapshot stream: every new revision pushed to connected game servers (Server-Sent Events).

`GET /api/v1/stream?environment=...` sends, on connect, the current snapshot (or a delta from
the client's `Last-Event-ID` when this process still holds that revision and the delta is the
smaller, or nothing when the client is current), then each new revision as it becomes current
here, and a heartbeat when nothing else was sent for a while:

    event: snapshot         event: delta              event: heartbeat
    id: 7                   id: 8                     data: {"revision":8}
    data: {...document}     data: {"base":7,...}

Each revision is encoded once, whatever the number of clients: a `Publication` holds the frame
for clients at the previous revision and, built on first need, the full snapshot frame for the
rest. A connection holds only references to publications it has not written yet, at most
`backlog` of them: a client that falls further behind (its socket is not draining) is
disconnected, and gets the full snapshot when it comes back. Memory per client stays fixed.

On shutdown every stream ends cleanly, so a replica that is restarted lets its clients
reconnect elsewhere at once (with `Last-Event-ID`) instead of holding the process open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import Receive, Send

from hotswap.core.environments import Environment
from hotswap.delivery.service import SnapshotService
from hotswap.observability.prometheus import Metrics
from hotswap.targeting.delta import diff
from hotswap.targeting.snapshot import CompiledSnapshot

log = logging.getLogger(__name__)

HISTORY_REVISIONS = 64
HISTORY_BYTES = 32 * 1024 * 1024


def snapshot_frame(compiled: CompiledSnapshot) -> bytes:
    return b"event: snapshot\nid: %d\ndata: %s\n\n" % (compiled.revision, compiled.body)


def delta_frame(old: Mapping[str, Any], new: CompiledSnapshot) -> bytes | None:
    """The delta frame from the document `old` to `new`, or None when the full snapshot is no larger."""
    data = orjson.dumps(diff(old, new.document))
    if len(data) >= len(new.body):
        return None
    return b"event: delta\nid: %d\ndata: %s\n\n" % (new.revision, data)


def heartbeat_frame(revision: int) -> bytes:
    return b'event: heartbeat\ndata: {"revision":%d}\n\n' % revision


@dataclass(slots=True)
class Publication:
    """One new revision, encoded once for every client."""

    compiled: CompiledSnapshot
    base: int | None  # the revision `frame` starts from (None: `frame` is the full snapshot)
    frame: bytes
    _full: bytes | None = None

    @property
    def revision(self) -> int:
        return self.compiled.revision

    def frame_from(self, revision: int) -> bytes:
        """What a client holding `revision` is sent."""
        if self.base == revision:
            return self.frame
        if self._full is None:
            self._full = self.frame if self.base is None else snapshot_frame(self.compiled)
        return self._full


class Closed(Exception):
    pass


@dataclass(eq=False, slots=True)
class Subscriber:
    """One open stream: the publications it has not written yet, bounded."""

    environment: Environment
    revision: int  # the revision the client holds once everything written so far arrives
    limit: int
    pending: deque[Publication] = field(default_factory=deque)
    closed: str | None = None  # why it ended: "slow", "disconnect", "shutdown"
    sending: bool = False
    cut: bool = False  # the hub cancelled its blocked write (and only then may it uncancel)
    task: asyncio.Task[object] | None = None
    last_write: float = 0.0  # loop time of its last write
    heartbeat_due: bool = False
    _waiter: asyncio.Future[None] | None = None

    def offer(self, publication: Publication) -> None:
        if self.closed is not None:
            return
        if len(self.pending) >= self.limit:
            self.close("slow")
            return
        self.pending.append(publication)
        self._wake()

    def close(self, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = reason
        self._wake()
        if self.sending and reason != "disconnect" and self.task is not None:
            # Blocked writing to a socket that does not drain: waiting is what must stop.
            self.cut = True
            self.task.cancel()

    def beat(self) -> None:
        """A heartbeat is due (the hub's ticker found it silent for long enough)."""
        self.heartbeat_due = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self) -> deque[Publication]:
        """The publications waiting, once there are any; [] when a heartbeat is due first."""
        if not self.pending and self.closed is None and not self.heartbeat_due:
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        if self.closed is not None:
            raise Closed(self.closed)
        self.heartbeat_due = False
        taken, self.pending = self.pending, deque()
        return taken


class StreamHub:
    def __init__(
        self, snapshots: SnapshotService, metrics: Metrics, *, heartbeat_seconds: float = 15.0, backlog: int = 32
    ) -> None:
        self.snapshots = snapshots
        self.metrics = metrics
        self.heartbeat_seconds = heartbeat_seconds
        self.backlog = backlog
        self._subscribers: dict[Environment, set[Subscriber]] = {env: set() for env in Environment}
        # Recent revisions' documents and sizes, to diff from (documents only: a compiled
        # snapshot holds its evaluation memos too).
        self._history: dict[Environment, OrderedDict[int, tuple[Mapping[str, Any], int]]] = {
            env: OrderedDict() for env in Environment
        }
        self._catch_up: OrderedDict[tuple[Environment, int, int], bytes] = OrderedDict()
        self._shutting_down = False
        self._ticker: asyncio.Task[None] | None = None
        snapshots.on_new(self._published)

    async def _tick(self) -> None:
        """Heartbeats: one task for every stream (a timer per stream and per wait cost more, at
        thousands of streams, than the fan-out itself). A stream silent for `heartbeat_seconds`
        gets one within a tenth of that more (at most a second)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.heartbeat_seconds / 10, 1.0))
            silent_since = loop.time() - self.heartbeat_seconds
            for subscribers in self._subscribers.values():
                for subscriber in subscribers:
                    if subscriber.last_write <= silent_since and not subscriber.heartbeat_due:
                        subscriber.beat()

    # -- publishing -----------------------------------------------------------------------

    def _published(self, compiled: CompiledSnapshot) -> None:
        env = Environment(compiled.environment)
        history = self._history[env]
        previous = next(reversed(history), None)
        if previous is not None and previous >= compiled.revision:
            return
        delta = delta_frame(history[previous][0], compiled) if previous is not None else None
        publication = (
            Publication(compiled, previous, delta)
            if previous is not None and delta is not None
            else Publication(compiled, None, snapshot_frame(compiled))
        )
        self._remember(env, compiled)
        for subscriber in list(self._subscribers[env]):
            subscriber.offer(publication)

    def _remember(self, env: Environment, compiled: CompiledSnapshot) -> None:
        history = self._history[env]
        history[compiled.revision] = (compiled.document, len(compiled.body))
        size = sum(length for _, length in history.values())
        while len(history) > 1 and (len(history) > HISTORY_REVISIONS or size > HISTORY_BYTES):
            _, (_, length) = history.popitem(last=False)
            size -= length

    # -- connecting -----------------------------------------------------------------------

    def first_frame(self, current: CompiledSnapshot, last_event_id: int | None) -> bytes | None:
        """What a client connecting with `last_event_id` is sent first."""
        if last_event_id == current.revision:
            return None
        env = Environment(current.environment)
        held = self._history[env].get(last_event_id) if last_event_id is not None else None
        if held is None or last_event_id is None or last_event_id > current.revision:
            return snapshot_frame(current)
        key = (env, last_event_id, current.revision)
        frame = self._catch_up.get(key)
        if frame is None:
            # Clients reconnecting together mostly share a Last-Event-ID: one diff for all.
            frame = delta_frame(held[0], current) or snapshot_frame(current)
            self._catch_up[key] = frame
            if len(self._catch_up) > 16:
                self._catch_up.popitem(last=False)
        return frame

    def subscribe(self, env: Environment, revision: int) -> Subscriber:
        subscriber = Subscriber(env, revision, self.backlog)
        if self._shutting_down:
            subscriber.close("shutdown")
        self._subscribers[env].add(subscriber)
        self.metrics.stream_clients.labels(env.value).inc()
        if self._ticker is None and not self._shutting_down:
            self._ticker = asyncio.create_task(self._tick(), name="hotswap-stream-heartbeats")
        return subscriber

    def _unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers[subscriber.environment]:
            self._subscribers[subscriber.environment].discard(subscriber)
            self.metrics.stream_clients.labels(subscriber.environment.value).dec()
            self.metrics.stream_disconnects.labels(subscriber.closed or "error").inc()

    def clients(self, env: Environment) -> int:
        return len(self._subscribers[env])

    def shutdown(self) -> None:
        """End every stream (the process is stopping): clients reconnect, to another replica."""
        self._shutting_down = True
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for subscribers in self._subscribers.values():
            for subscriber in list(subscribers):
                subscriber.close("shutdown")

    # -- writing one stream ---------------------------------------------------------------

    async def run(self, env: Environment, last_event_id: int | None, send: Send, receive: Receive) -> None:
        """Write one client's stream until it leaves, falls behind or the process stops. The
        response has started; from here to the subscription nothing is awaited, so the first
        frame and the revisions queued after it join without a gap."""
        current = self.snapshots.peek(env)
        if current is None:  # the route made sure there is one; nothing to send without it
            return
        first = self.first_frame(current, last_event_id)
        subscriber = self.subscribe(env, current.revision)
        subscriber.task = asyncio.current_task()
        watcher = asyncio.create_task(_watch_disconnect(receive, subscriber))
        try:
            await self._write(subscriber, first or heartbeat_frame(subscriber.revision), send)
            while True:
                try:
                    taken = await subscriber.take()
                except Closed:
                    break
                if not taken:
                    await self._write(subscriber, heartbeat_frame(subscriber.revision), send)
                    continue
                frames = []
                for publication in taken:  # mostly one
                    if publication.revision <= subscriber.revision:
                        continue  # already sent: it was current when the client connected
                    frames.append(publication.frame_from(subscriber.revision))
                    subscriber.revision = publication.revision
                if frames:
                    await self._write(subscriber, frames[0] if len(frames) == 1 else b"".join(frames), send)
        except asyncio.CancelledError:
            if not subscriber.cut or subscriber.task is None:
                raise
            # Our own cancel of a write that was not draining: end this stream only.
            subscriber.cut = False
            subscriber.task.uncancel()
        except OSError:
            subscriber.close("disconnect")
        finally:
            watcher.cancel()
            self._unsubscribe(subscriber)
        if subscriber.closed == "shutdown":
            # End the response properly where the socket still takes it. A slow client's is
            # left unfinished: the server closes the connection, which is the point.
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}), 1.0)

    @staticmethod
    async def _write(subscriber: Subscriber, frame: bytes, send: Send) -> None:
        subscriber.sending = True
        try:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        finally:
            subscriber.sending = False
            subscriber.last_write = asyncio.get_running_loop().time()


async def _watch_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close("disconnect")
            return
