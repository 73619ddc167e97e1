"""How the simulator reaches HotSwap: its HTTP API (the same calls a game server and an operator
make), and how time passes. Embedded: the app in this process over httpx's ASGI transport, a
`ManualClock` moved tick by tick and the rollout worker run by hand after each tick, so a run is
as fast as the machine and exactly reproducible. Remote: a running server, in real time, whose
own worker advances the deployment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import orjson

from hotswap.api import create_app
from hotswap.auth.model import Principal, Role
from hotswap.container import Container
from hotswap.core.clock import Clock, ManualClock

Headers = dict[str, str]
ContainerFactory = Callable[[Clock], Container]


class SimulationError(RuntimeError):
    """HotSwap refused a call the simulation needs (the message says which and why)."""


class TimeSource(Protocol):
    def now(self) -> datetime: ...

    async def tick(self, delta: timedelta) -> None:
        """Let `delta` pass."""
        ...

    async def settle(self) -> None:
        """Let the rollout worker do what is due now."""
        ...


@dataclass
class ManualTime:
    clock: ManualClock
    container: Container

    def now(self) -> datetime:
        return self.clock.now()

    async def tick(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    async def settle(self) -> None:
        await self.container.worker.run_due()


class RealTime:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def tick(self, delta: timedelta) -> None:
        await asyncio.sleep(delta.total_seconds())

    async def settle(self) -> None:
        """The server's own worker advances deployments."""


class Api:
    """The calls the simulation makes, as an operator (configs, deployments) and as the fleet."""

    def __init__(self, client: httpx.AsyncClient, operator: Headers, fleet: Headers) -> None:
        self.client = client
        self.operator = operator
        self.fleet = fleet

    async def _call(
        self,
        method: str,
        path: str,
        headers: Headers,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> httpx.Response:
        content = None
        if body is not None:  # orjson: batches of thousands of samples encode several times faster
            content, headers = orjson.dumps(body), headers | {"Content-Type": "application/json"}
        try:
            r = await self.client.request(method, path, headers=headers, content=content, params=params)
        except httpx.HTTPError as exc:
            raise SimulationError(f"{method} {path}: {exc}") from exc
        if r.status_code not in ok:
            raise SimulationError(f"{method} {path} answered {r.status_code}: {_problem(r)}")
        return r

    async def _json(self, method: str, path: str, headers: Headers, **kw: Any) -> dict[str, Any]:
        found: dict[str, Any] = (await self._call(method, path, headers, **kw)).json()
        return found

    async def create_config(self, name: str, environment: str) -> None:
        await self._call("POST", "/api/v1/configs", self.operator, body={"name": name, "environment": environment})

    async def add_version(self, name: str, version: str, data: Any) -> None:
        body = {"configData": data, "version": version}
        await self._call("POST", f"/api/v1/configs/{name}/versions", self.operator, body=body)

    async def release(self, name: str, version: str) -> None:
        await self._call("POST", f"/api/v1/configs/{name}/releases", self.operator, body={"version": version})

    async def register(self, server_id: str, game: str, region: str, build: str) -> None:
        body = {"id": server_id, "game": game, "region": region, "build": build}
        await self._call("POST", "/api/v1/servers", self.fleet, body=body)

    async def deregister(self, server_id: str) -> None:
        await self._call("DELETE", f"/api/v1/servers/{server_id}", self.fleet, ok=(200, 204, 404))

    async def heartbeats(self, bodies: dict[str, dict[str, Any]]) -> None:
        """Every server's heartbeat at once, as a fleet sends them (the server writes them together)."""
        await asyncio.gather(
            *(
                self._call("PUT", f"/api/v1/servers/{server_id}/heartbeat", self.fleet, body=body, ok=(200, 204))
                for server_id, body in bodies.items()
            )
        )

    async def report(self, samples: list[dict[str, Any]]) -> int:
        """Send one batch; the number of samples stored."""
        r = await self._call("POST", "/api/v1/metrics", self.fleet, body={"samples": samples}, ok=(200, 422))
        if r.status_code == 422:
            raise SimulationError(f"POST /api/v1/metrics refused samples: {_problem(r)}")
        return int(r.json().get("accepted", len(samples)))

    async def snapshot(self, environment: str, etag: str | None) -> tuple[dict[str, Any] | None, str | None]:
        """The environment's snapshot document, or None when it is still `etag`'s."""
        headers = self.fleet | ({"If-None-Match": etag} if etag else {})
        r = await self._call("GET", "/api/v1/snapshot", headers, params={"environment": environment}, ok=(200, 304))
        if r.status_code == 304:
            return None, etag
        document: dict[str, Any] = r.json()
        return document, r.headers.get("etag")

    async def deploy(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._json("POST", "/api/v1/deployments", self.operator, body=body)

    async def deployment(self, deployment_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/api/v1/deployments/{deployment_id}", self.operator)

    async def metrics(self, deployment_id: str) -> dict[str, Any]:
        return await self._json("GET", f"/api/v1/deployments/{deployment_id}/metrics", self.operator)

    async def verdicts(self, deployment_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The judge's stored verdicts, newest first."""
        path = f"/api/v1/deployments/{deployment_id}/verdicts"
        found = await self._json("GET", path, self.operator, params={"limit": str(limit)})
        return list(found.get("items") or [])

    async def cancel(self, deployment_id: str) -> None:
        await self._call("POST", f"/api/v1/deployments/{deployment_id}/cancel", self.operator, body={}, ok=(200, 409))


def _problem(r: httpx.Response) -> str:
    try:
        doc = r.json()
    except ValueError:
        return r.text[:300]
    if not isinstance(doc, dict):
        return r.text[:300]
    detail = str(doc.get("detail") or doc.get("title") or r.text[:300])
    errors = doc.get("errors") or []
    named = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors[:5] if isinstance(e, dict))
    return f"{detail} ({named})" if named else detail


@asynccontextmanager
async def embedded(
    make_container: ContainerFactory, start: datetime, lifetime: timedelta
) -> AsyncIterator[tuple[Api, ManualTime]]:
    """The app in this process on a migrated, empty store, with its clock at `start`. Its
    background work stays off: the caller moves the clock and runs the worker."""
    clock = ManualClock(start)
    container = make_container(clock)
    try:
        app = create_app(container.settings, container=container)
        operator = await _token(container, Role.OPERATOR, "simulator", lifetime)
        fleet = await _token(container, Role.SERVER, "simulated-fleet", lifetime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.simulated") as client:
            yield Api(client, operator, fleet), ManualTime(clock, container)
    finally:
        await container.aclose()


@asynccontextmanager
async def remote(url: str, token: str) -> AsyncIterator[tuple[Api, RealTime]]:
    """A running server; `token` (operator or admin) acts both as the operator and as the fleet."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=30.0) as client:
        yield Api(client, headers, headers), RealTime()


async def _token(container: Container, role: Role, subject: str, lifetime: timedelta) -> Headers:
    async with container.uow() as uow:
        issued = await container.auth.issue_token(
            uow, Principal("simulator", Role.ADMIN, "-"), subject=subject, role=role, ttl=lifetime
        )
        await uow.commit()
    return {"Authorization": f"Bearer {issued.token}"}
