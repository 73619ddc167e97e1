"""The edge of every request: request id, access log, metrics, body limit, rate limits, authentication.

A pure ASGI middleware (not BaseHTTPMiddleware) so streaming responses pass through untouched.
Authentication happens here, before any body is parsed, so an unauthenticated request is a
401 whatever it carries, and no route can forget it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hotswap.auth.service import Authenticator
from hotswap.core.errors import (
    FieldError,
    HotSwapError,
    InvalidInput,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from hotswap.observability.logging import request_id_var
from hotswap.observability.prometheus import Metrics
from hotswap.web.inbound import check_body, check_path, header, is_json_type
from hotswap.web.problems import problem_response
from hotswap.web.ratelimit import RateLimiter

access_log = logging.getLogger("hotswap.access")
log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        rate_limiter: RateLimiter | None,
        metrics: Metrics,
        max_body_bytes: int,
        is_public: Callable[[str], bool],
        is_unlimited: Callable[[str], bool] = lambda _path: False,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.rate_limiter = rate_limiter
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.is_public = is_public
        # Exempt from the per-address limit (probes). Public is not exempt: the token exchange
        # takes a secret from anonymous callers and must not allow unlimited guessing.
        self.is_unlimited = is_unlimited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("x-request-id", request_id)
            await send(message)

        try:
            try:
                receive = await self._gate(scope, receive)
            except HotSwapError as refusal:
                await problem_response(refusal, scope.get("path"))(scope, receive, send_with_id)
                return
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.http_requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.http_latency.labels(scope["method"], template).observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope.get("path"),
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": (scope.get("client") or ("-",))[0],
                    "principal": _principal_subject(scope),
                },
            )
            request_id_var.reset(token)

    async def _gate(self, scope: Scope, receive: Receive) -> Receive:
        receive = await self._limit_body(scope, receive)
        path: str = scope.get("path", "")
        public = self.is_public(path)
        if self.rate_limiter is not None and not self.is_unlimited(path):
            client = (scope.get("client") or ("unknown",))[0]
            await self._rate("address", str(client))
        if public:
            return await self._check_input(scope, receive)
        headers = dict(scope["headers"])
        raw = headers.get(b"authorization")
        try:
            principal = await self.authenticator.authenticate(raw.decode("latin-1") if raw else None)
        except Unauthorized as refusal:
            self.metrics.auth_failures.labels("missing" if raw is None else refusal.reason).inc()
            raise
        except (DBAPIError, OSError, TimeoutError) as exc:  # the token check reads the store
            log.error("token check failed: the database is not reachable: %s", exc)
            raise Unavailable("The database is not reachable right now.", headers={"Retry-After": "5"}) from exc
        scope.setdefault("state", {})["principal"] = principal
        if self.rate_limiter is not None:
            await self._rate("token", principal.token_id)
        return await self._check_input(scope, receive)  # after authentication: strangers learn nothing but 401

    async def _check_input(self, scope: Scope, receive: Receive) -> Receive:
        """The path and query, and a JSON body, as `web.inbound` requires them; the body is read
        here (bounded) and replayed to the route, which parses what was checked."""
        try:
            _refuse_nul(scope)
            check_path(scope)
        except InvalidInput:
            self.metrics.input_refused.labels("path").inc()
            raise
        if scope["method"] not in _BODY_METHODS:
            return receive
        content_type = header(scope, b"content-type")
        if content_type is not None and not is_json_type(content_type):
            return receive  # the route answers 415 if it takes a body
        body = await read_body(receive, self.max_body_bytes)
        if body:
            try:
                await check_body(body)
            except InvalidInput:
                self.metrics.input_refused.labels("body").inc()
                raise
        return _replay(body, receive)

    async def _rate(self, scope_name: str, key: str) -> None:
        assert self.rate_limiter is not None
        try:
            refusal = await self.rate_limiter.hit(scope_name, key)
        except Exception as exc:
            # Fail open: serving without limits for a while beats refusing every request.
            log.error("rate limiter unavailable, request let through: %s", exc)
            self.metrics.rate_limiter_errors.inc()
            return
        if refusal is not None:
            self.metrics.rate_limited.labels(scope_name).inc()
            raise RateLimited(
                f"Rate limit of {refusal.limit} per {scope_name} exceeded; retry in {refusal.retry_after} s.",
                headers={"Retry-After": str(refusal.retry_after)},
                extra={"limitScope": scope_name},
            )

    async def _limit_body(self, scope: Scope, receive: Receive) -> Receive:
        if scope["method"] not in _BODY_METHODS:
            return receive
        length = dict(scope["headers"]).get(b"content-length")
        too_large = PayloadTooLarge(f"The request body exceeds {self.max_body_bytes} bytes.")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > self.max_body_bytes:
                raise too_large
            if declared >= 0:
                return _counting_receive(receive, self.max_body_bytes, too_large)
        # No usable length (chunked): read it here, bounded, and replay it to the app.
        return _replay(await read_body(receive, self.max_body_bytes), receive)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app `body` (already read), then whatever comes next."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refused (413) as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _counting_receive(receive: Receive, limit: int, error: HotSwapError) -> Receive:
    """Guard against a client that sends more than its Content-Length declared."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise error
        return message

    return counted


def _principal_subject(scope: Scope) -> str | None:
    principal = scope.get("state", {}).get("principal")
    return getattr(principal, "subject", None)


def _refuse_nul(scope: Scope) -> None:
    """NUL cannot be stored in PostgreSQL text; refuse it in the path or query up front, by name."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    for part, value in (("path", raw_path), ("query", scope.get("query_string", b""))):
        if b"\x00" in value or b"%00" in value.lower():
            raise InvalidInput(
                f"The {part} contains a NUL character.", errors=[FieldError(part, "must not contain NUL characters")]
            )
