"""The lean path for the routes game servers and players hit at volume (see DESIGN.md, "The hot
paths are lean").

A pure ASGI middleware in front of everything else, FastAPI's own `__call__` included (see
`HotPathApp`): for its few routes it authenticates (the
authenticator's cache makes that a dict lookup), bounds and reads the body, calls the handler
and sends the bytes it returns. No routing table scan, no dependency graph, no per-request
access-log line for successes (metrics still count every request; failures are logged). Every
other request passes through untouched to the FastAPI app and its edge middleware.

Hot routes are not rate limited: they read only memory. Their protection is the token, the
body limit and the load balancer.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotswap.auth.model import Permission, Principal
from hotswap.auth.service import Authenticator
from hotswap.core.errors import Forbidden, HotSwapError, InvalidInput, Unauthorized, Unavailable
from hotswap.observability.logging import request_id_var
from hotswap.observability.prometheus import Metrics
from hotswap.web.inbound import check_body, check_path, require_json_type
from hotswap.web.middleware import read_body
from hotswap.web.problems import problem_response

access_log = logging.getLogger("hotswap.access")
log = logging.getLogger(__name__)


@dataclass(slots=True)
class HotRequest:
    scope: Scope
    principal: Principal
    body: bytes
    path_param: str | None
    _query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        """The query string; a repeated name keeps its last value."""
        if self._query is None:
            raw: bytes = self.scope.get("query_string", b"")
            if not raw:
                self._query = {}
            elif b"%" in raw or b"+" in raw:
                self._query = dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
            else:  # nothing to unquote (`environment=Production`): split it, a tenth of the time
                pairs = (part.partition("=") for part in raw.decode("latin-1").split("&") if part)
                self._query = {name: value for name, _, value in pairs}
        return self._query

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.scope["headers"]:
            if key == name:
                return bytes(value)
        return None


# A streamed body: called after the response start has gone, it sends the body itself (each
# message with more_body) and returns when the stream ends; it watches `receive` for the
# client's disconnect.
BodyWriter = Callable[[Send, Receive], Awaitable[None]]


@dataclass(slots=True)
class HotResponse:
    body: bytes
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    media_type: bytes = b"application/json"
    stream: BodyWriter | None = None


Handler = Callable[[HotRequest], Awaitable[HotResponse]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """`path` is exact, or `prefix{param}suffix` with one parameter (a single path segment)."""

    method: str
    path: str
    permission: Permission
    handler: Handler
    template: str = ""

    @property
    def param_field(self) -> str:
        """The field a bad path names: the parameter, the route's only non-literal segment."""
        return f"path.{self.path.partition('{')[2].partition('}')[0]}" if "{" in self.path else "path"

    def match(self, path: str) -> tuple[bool, str | None]:
        if "{" not in self.path:
            return path == self.path, None
        prefix, _, rest = self.path.partition("{")
        suffix = rest.partition("}")[2]
        if len(path) > len(prefix) + len(suffix) and path.startswith(prefix) and path.endswith(suffix):
            middle = path[len(prefix) : len(path) - len(suffix)]
            if "/" not in middle:
                return True, middle
        return False, None


class HotPathMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Sequence[HotRoute],
        authenticator: Authenticator,
        metrics: Metrics,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.routes = tuple(routes)
        self.exact = {(r.method, r.path): r for r in routes if "{" not in r.path}
        self.patterns = tuple(r for r in routes if "{" in r.path)
        self.authenticator = authenticator
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Request ids: a random per-process prefix and a counter, unique across replicas and
        # cheaper than a uuid4 per request.
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _observe(self, method: str, template: str, status: int, elapsed: float) -> None:
        series = self._series.get((method, template, status))
        if series is None:
            series = (
                self.metrics.http_requests.labels(method, template, str(status)),
                self.metrics.http_latency.labels(method, template),
            )
            self._series[(method, template, status)] = series
        series[0].inc()
        series[1].observe(elapsed)

    def _find(self, method: str, path: str) -> tuple[HotRoute | None, str | None]:
        route = self.exact.get((method, path))
        if route is not None:
            return route, None
        for candidate in self.patterns:
            if candidate.method == method:
                matched, param = candidate.match(path)
                if matched:
                    return candidate, param
        return None, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, param = self._find(scope["method"], scope["path"])
        if route is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        token = request_id_var.set(request_id)
        status = 500
        principal: Principal | None = None
        try:
            try:
                principal = await self._authenticate(scope)
                if not principal.can(route.permission):
                    raise Forbidden(
                        f"The {principal.role.value} role may not do this (needs {route.permission.value})."
                    )
                body = await self._checked_input(scope, receive, route)
                response = await route.handler(HotRequest(scope, principal, body, param))
            except HotSwapError as error:
                status = error.status
                await problem_response(error, scope["path"])(scope, receive, _with_request_id(send, request_id))
                return
            except Exception:
                # In front of Starlette's error middleware: a bug here is logged and answered here.
                log.exception("unhandled error on a hot route", extra={"route": route.path})
                status = 500
                failure = HotSwapError("The server failed to handle this request.")
                await problem_response(failure, scope["path"])(scope, receive, _with_request_id(send, request_id))
                return
            status = response.status
            headers = [
                (b"content-type", response.media_type),
                (b"x-request-id", request_id.encode()),
                *response.headers,
            ]
            if response.stream is not None:
                await send({"type": "http.response.start", "status": status, "headers": headers})
                try:
                    await response.stream(send, receive)
                except Exception:  # the response has started: no problem document can follow
                    log.exception("a streamed response failed", extra={"route": route.path})
                return
            headers.append((b"content-length", str(len(response.body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": response.body})
        finally:
            elapsed = time.perf_counter() - started
            template = route.template or route.path
            self._observe(scope["method"], template, status, elapsed)
            if status >= 400:
                access_log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": (scope.get("client") or ("-",))[0],
                        "principal": principal.subject if principal else None,
                    },
                )
            request_id_var.reset(token)

    async def _checked_input(self, scope: Scope, receive: Receive, route: HotRoute) -> bytes:
        """The body, read and checked as every route's is (`web.inbound`), and the path."""
        part = "path"
        try:
            check_path(scope, route.param_field)
            body = await read_body(receive, self.max_body_bytes) if route.method != "GET" else b""
            if body.strip():  # whitespace alone is no body (a bare heartbeat)
                part = "body"
                require_json_type(scope)
                await check_body(body)
        except InvalidInput:
            self.metrics.input_refused.labels(part).inc()
            raise
        return body

    async def _authenticate(self, scope: Scope) -> Principal:
        raw = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                raw = value
                break
        try:
            return await self.authenticator.authenticate(raw.decode("latin-1") if raw else None)
        except Unauthorized as refusal:
            self.metrics.auth_failures.labels("missing" if raw is None else refusal.reason).inc()
            raise
        except (DBAPIError, OSError, TimeoutError) as exc:  # a cache miss reads the store
            log.error("token check failed: the database is not reachable: %s", exc)
            raise Unavailable("The database is not reachable right now.", headers={"Retry-After": "5"}) from exc


class HotPathApp(FastAPI):
    """FastAPI with the hot routes answered first, before FastAPI's own per-request work (its
    telemetry check reads the environment three times a request) and Starlette's whole
    middleware stack (error, telemetry, body-limit and edge layers give the hot routes nothing
    they lack). `install_hot_path` sets the routes; until then this is plain FastAPI."""

    hot_path: HotPathMiddleware | None = None

    def install_hot_path(self, **options: Any) -> None:
        self.hot_path = HotPathMiddleware(partial(FastAPI.__call__, self), **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot_path is None:
            await super().__call__(scope, receive, send)
        else:
            await self.hot_path(scope, receive, send)


def _with_request_id(send: Send, request_id: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
        await send(message)

    return wrapped
