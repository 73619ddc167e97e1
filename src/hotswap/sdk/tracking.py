"""`track`: metric samples, batched in the background to `POST /api/v1/metrics`.

Each sample says which deployment arm its context was evaluated under, so the analysis slice
can compare canary and baseline. Memory is bounded: at most `track_max_pending` samples wait;
beyond that new ones are dropped and counted (`dropped_samples`). A batch that could not be
sent (network, 5xx, 429) goes back to the front of the queue, as far as the bound allows, and is
sent at the next flush; one the server refuses (a 4xx) would be refused again: it is counted as
dropped, and so are the samples a 422 names. Each reason a sample is dropped for (the server's,
e.g. "serverId: no game server 'gs-1' is registered", or the SDK's own) is logged as a warning
the first time it comes up: once, not per sample, since a game server tracks thousands a minute.

`track(..., event=...)` tags the call with a live event (`eventId`): the server then counts the
context's player as a participant, and a purchase towards the event's revenue. The server counts
every tagged sample, so when one call makes a sample per deployment arm only the first carries
the event: a purchase counts once in the event's revenue however many rollouts the player is in.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from hotswap.sdk._updates import describe
from hotswap.targeting.snapshot import Context

log = logging.getLogger("hotswap.sdk")

METRICS_PATH = "/api/v1/metrics"
# What `analysis.ingest` counts rather than measures: these carry `count`, never `value`.
COUNTERS = frozenset({"session_start", "crash", "disconnect", "complaint"})
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
# A live event's id, as `analysis.ingest.EVENT_ID` checks it (repeated: the SDK imports no server
# module; a test keeps the two equal).
EVENT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")
MAX_COUNT = 1_000_000
_RETRY = frozenset({408, 425, 429})
# A reason names ids (a server, a deployment, an event): a few in practice. The bound keeps a
# client that meets a new one per sample from growing without end; past it, reasons are not logged.
MAX_REASONS = 1000
_FULL = "more samples wait than track_max_pending allows (the server is unreachable or slow)"
_SAMPLE_FIELD = re.compile(r"^body\.samples\[\d+\]\.?")

Sample = dict[str, Any]


def samples_for(
    metric: str,
    value: float,
    context: Context,
    server_id: str,
    at: datetime,
    configs: Mapping[str, Any],
    config: str | None,
    units: Mapping[str, str] | None = None,
    *,
    event: str | None = None,
) -> list[Sample]:
    """The samples one `track` call makes: one per deployment the context was evaluated under
    (in `configs`, an evaluation's results; only `config`'s when given), else one without.
    `event` goes on the first of them only (the server counts each tagged sample).

    `units` maps a deployment to the attribute naming its units (`playerId`, `serverId`): a
    context without one is no unit of that deployment (it is served the baseline, but is not
    part of the comparison), so its sample carries no arm for it."""
    sample: Sample = {"serverId": server_id, "metric": metric, "at": _iso(at)}
    if context.player_id is not None:
        sample["playerId"] = context.player_id
    if metric in COUNTERS:
        count = round(value)
        if count < 1:
            return []  # nothing happened
        sample["count"] = min(count, MAX_COUNT)
    else:
        sample["value"] = float(value)
    chosen = [configs.get(config)] if config is not None else list(configs.values())
    arms: dict[tuple[str, str], None] = {}
    attributes = context.targeting_attributes() if units else {}
    for result in chosen:
        rollout = result.get("rollout") if isinstance(result, Mapping) else None
        if isinstance(rollout, Mapping) and isinstance(rollout.get("id"), str) and isinstance(rollout.get("arm"), str):
            unit = units.get(rollout["id"]) if units else None
            if unit is not None and attributes.get(unit) in (None, ""):
                continue
            arms[(rollout["id"], rollout["arm"])] = None
    samples = [{**sample, "deploymentId": deployment, "arm": arm} for deployment, arm in arms] or [sample]
    if event is not None:
        samples[0]["eventId"] = event
    return samples


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_sample(metric: str, value: float, event: str | None = None) -> str | None:
    """Why the server would refuse this sample, or None. (Whether `event` names a live event
    only the server knows: it refuses an unknown one, and the tracker counts it as dropped.)"""
    if not isinstance(metric, str) or not METRIC_NAME.fullmatch(metric):
        return f"{metric!r} is not a metric name (lower case letters, digits and _ . : -, up to 64)"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"the value of {metric} must be a finite number, not {value!r}"
    if event is not None and (not isinstance(event, str) or not EVENT_ID.fullmatch(event)):
        return f"{event!r} is not a live event id (lower case letters, digits and . _ -, up to 100)"
    return None


class Tracker:
    """The bounded queue of samples waiting to be sent. `add` is called from game threads, the
    flush from the client's loop: a lock guards the queue (held for a few list operations)."""

    def __init__(self, batch_size: int, max_pending: int) -> None:
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.dropped = 0
        self.sent = 0  # samples the server stored
        self.wake: Callable[[], None] = lambda: None  # nudges the flusher (set by the client)
        self._pending: deque[Sample] = deque()
        self._lock = threading.Lock()
        self._nudged = False
        self._reasons: set[str] = set()  # why samples were dropped, each logged once

    @property
    def pending(self) -> int:
        return len(self._pending)

    def drop(self, count: int, reason: str) -> None:
        """Count `count` samples as dropped, and log `reason` the first time it comes up."""
        with self._lock:
            first = self._count_dropped(count, reason)
        if first:
            self._warn(reason)

    def _count_dropped(self, count: int, reason: str) -> bool:
        """Under the lock: count them; whether `reason` is new (and to be logged)."""
        self.dropped += count
        if count <= 0 or reason in self._reasons or len(self._reasons) >= MAX_REASONS:
            return False
        self._reasons.add(reason)
        return True

    @staticmethod
    def _warn(reason: str) -> None:
        log.warning("hotswap: %s; dropped (logged once for this reason; dropped_samples counts them all)", reason)

    def add(self, samples: list[Sample]) -> None:
        first = False
        with self._lock:
            room = max(0, self.max_pending - len(self._pending))
            if len(samples) > room:
                first = self._count_dropped(len(samples) - room, _FULL)
                samples = samples[:room]
            self._pending.extend(samples)
            nudge = len(self._pending) >= self.batch_size and not self._nudged
            if nudge:
                self._nudged = True
        if first:
            self._warn(_FULL)
        if nudge:
            self.wake()

    def take(self) -> list[Sample]:
        with self._lock:
            self._nudged = False
            n = min(self.batch_size, len(self._pending))
            return [self._pending.popleft() for _ in range(n)]

    def give_back(self, batch: list[Sample]) -> None:
        """A batch that failed goes back in front, as much of it as the bound allows."""
        with self._lock:
            room = max(0, self.max_pending - len(self._pending))
            kept = batch[:room]
            first = self._count_dropped(len(batch) - len(kept), _FULL)
            self._pending.extendleft(reversed(kept))
        if first:
            self._warn(_FULL)

    async def flush(self, http: httpx.AsyncClient) -> bool:
        """Send every full or partial batch waiting; False when one failed (it waits for the next)."""
        while True:
            batch = self.take()
            if not batch:
                return True
            if not await self._post(http, batch):
                self.give_back(batch)
                return False

    async def _post(self, http: httpx.AsyncClient, batch: list[Sample]) -> bool:
        """Whether the batch is done with (stored, or refused for good)."""
        try:
            r = await http.post(
                METRICS_PATH, content=orjson.dumps({"samples": batch}), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            log.warning("hotswap: sending %d samples failed (%s); retrying at the next flush", len(batch), exc)
            return False
        if r.status_code == 200:
            self.sent += len(batch)
            return True
        if r.status_code >= 500 or r.status_code in _RETRY:
            log.warning("hotswap: sending %d samples failed (%s); retrying at the next flush", len(batch), describe(r))
            return False
        accepted = _accepted(r) if r.status_code == 422 else 0
        self.sent += accepted
        refused = len(batch) - accepted
        log.debug("hotswap: the server refused %d of %d samples (%s)", refused, len(batch), describe(r))
        reasons = _reasons(r) if r.status_code == 422 else {}
        if sum(reasons.values()) != refused:  # refused as a whole (a 403, a batch too large): one reason
            reasons = {"; ".join(reasons) or describe(r): refused}
        for reason, count in reasons.items():
            self.drop(count, f"the server refused a tracked sample: {reason}")
        return True


def _accepted(response: httpx.Response) -> int:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return 0
    accepted = body.get("accepted") if isinstance(body, dict) else None
    return accepted if isinstance(accepted, int) and not isinstance(accepted, bool) else 0


def _reasons(response: httpx.Response) -> dict[str, int]:
    """How many samples a 422 refused for each reason, a reason being the problem's message for
    the field the sample is refused on (without its index: many samples share one reason)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    errors = body.get("errors") if isinstance(body, dict) else None
    counts: dict[str, int] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        where = _SAMPLE_FIELD.sub("", str(error.get("field") or ""))
        reason = f"{where}: {error.get('message')}" if where else str(error.get("message"))
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def deployment_units(document: Mapping[str, Any]) -> dict[str, str]:
    """Each rollout's deployment id -> the attribute its units are hashed on."""
    out: dict[str, str] = {}
    for rollout in document.get("rollouts") or []:
        if isinstance(rollout, Mapping) and isinstance(rollout.get("id"), str):
            attribute = rollout.get("hashAttribute", "playerId")
            out[rollout["id"]] = attribute if isinstance(attribute, str) else "playerId"
    return out
