"""Fleet membership: the game server registers (`POST /api/v1/servers`) and then heartbeats
(`PUT /api/v1/servers/{serverId}/heartbeat`) every `heartbeat_interval`, and at once after each
new revision, reporting the environment, the revision applied and the config versions it runs
(for its own context). A heartbeat answered 404 (the registry forgot the server) registers it
again. Failures are logged and retried at the next beat.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from hotswap.sdk._state import State
from hotswap.sdk._updates import describe, wait_either
from hotswap.sdk.options import Options
from hotswap.targeting.snapshot import Context

log = logging.getLogger("hotswap.sdk")

SERVERS_PATH = "/api/v1/servers"
CONFIG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")  # what the heartbeat accepts
MAX_CONFIG_VERSIONS = 200
_JSON = {"Content-Type": "application/json"}


def heartbeat_body(environment: str, state: State, context: Context, at: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {"environment": environment}
    snapshot = state.snapshot
    if snapshot is None:
        return body
    body["appliedRevision"] = snapshot.revision
    results = snapshot.evaluate(context, at)["configs"]
    versions = {
        name: str(result["version"])
        for name, result in results.items()
        if CONFIG_NAME.fullmatch(name) and result.get("version") is not None and 0 < len(str(result["version"])) <= 100
    }
    if len(versions) <= MAX_CONFIG_VERSIONS:  # the registry holds at most 200: send all or none
        body["configVersions"] = versions
    return body


class Fleet:
    def __init__(
        self,
        options: Options,
        state: State,
        http: httpx.AsyncClient,
        closing: asyncio.Event,
        context: Context,
        now: Callable[[], datetime],
    ) -> None:
        assert options.server_id is not None
        self.options = options
        self.state = state
        self.http = http
        self.closing = closing
        self.context = context
        self.now = now
        self.registered = False
        self.beats = 0  # heartbeats the registry took
        self.reported: int | None = None  # the revision the last heartbeat reported
        self.first_attempt = asyncio.Event()  # registration was tried once (metrics wait for it)
        self._wake = asyncio.Event()
        self._beat_path = f"{SERVERS_PATH}/{quote(options.server_id, safe='')}/heartbeat"

    def revision_applied(self) -> None:
        """A new revision is being served: report it now rather than at the next beat."""
        self._wake.set()

    async def run(self) -> None:
        while not self.closing.is_set():
            self._wake.clear()
            try:
                if not self.registered:
                    await self._register()
                if self.registered and not self.closing.is_set():
                    await self._beat()
            except Exception as exc:
                what = "heartbeat" if self.registered else "registration"
                log.warning("hotswap: fleet: %s failed: %s: %s", what, type(exc).__name__, exc)
            finally:
                self.first_attempt.set()
            await wait_either(self._wake, self.closing, self.options.heartbeat_interval)

    async def _register(self) -> None:
        o = self.options
        body = {
            "id": o.server_id,
            "game": o.game,
            "region": o.region,
            "build": o.build,
            "capacity": o.capacity,
            "labels": dict(o.labels),
        }
        r = await self.http.post(SERVERS_PATH, content=orjson.dumps(body), headers=_JSON)
        if r.status_code in (200, 201):
            self.registered = True
            log.info("hotswap: registered game server %s in %s", o.server_id, o.region)
        else:
            log.warning("hotswap: registering game server %s failed: %s", o.server_id, describe(r))

    async def _beat(self) -> None:
        body = heartbeat_body(self.options.environment, self.state, self.context, self.now())
        r = await self.http.put(
            self._beat_path, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )
        if r.status_code == 200:
            self.beats += 1
            self.reported = body.get("appliedRevision")
        elif r.status_code == 404:
            log.warning("hotswap: the fleet registry does not know %s: registering again", self.options.server_id)
            self.registered = False
            self._wake.set()
        else:
            log.warning("hotswap: heartbeat of %s failed: %s", self.options.server_id, describe(r))
