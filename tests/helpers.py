"""Small helpers the API tests share."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx

from hotswap.auth.model import Role
from hotswap.auth.repository import AuthRepository

if TYPE_CHECKING:
    from hotswap.container import Container

Auth = Callable[..., Awaitable[dict[str, str]]]
CountRows = Callable[[str], Awaitable[int]]
Headers = dict[str, str]


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with this status and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


def fields(body: dict[str, Any]) -> list[str]:
    """The failing fields a problem names."""
    return [e["field"] for e in body.get("errors", [])]


def sha256_of(data: Any) -> str:
    """An independent computation of the canonical checksum: sorted keys, no whitespace."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def codes(responses: list[httpx.Response]) -> list[int]:
    """The statuses of requests sent at once, sorted; none may be a server error."""
    for r in responses:
        assert r.status_code < 500, r.text
    return sorted(r.status_code for r in responses)


async def wait_until(condition: Callable[[], object], what: str = "the condition", seconds: float = 10.0) -> None:
    """Wait for `condition()` to hold, giving the loop a turn between looks; fail at the deadline.
    For state that background tasks change (no event to await): a deadline, not a timed sleep."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


def wait_until_sync(condition: Callable[[], object], what: str = "the condition", seconds: float = 20.0) -> None:
    """`wait_until` for code outside an event loop (a thread, another process)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


async def token_as_spelled(
    container: Container, role: str, subject: str, ttl: timedelta = timedelta(days=60)
) -> dict[str, str]:
    """Headers for a token recorded with `subject` exactly as written, as tokens were recorded
    before subjects were stored canonical: a database from then holds such tokens, and the rows
    they wrote (authors, requesters) in that spelling."""
    issued = container.auth.codec.issue(subject, Role(role), ttl)
    async with container.uow() as uow:
        await AuthRepository(uow.conn).add_token(
            {
                "jti": issued.jti,
                "subject": subject,
                "role": role,
                "issued_at": issued.issued_at,
                "expires_at": issued.expires_at,
                "issued_by": "test-setup",
                "credential_id": None,
            }
        )
        await uow.commit()
    return {"Authorization": f"Bearer {issued.token}"}


async def send_raw(
    app: Any,
    method: str,
    raw_path: bytes,
    *,
    body: bytes = b"",
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
    query: bytes = b"",
) -> tuple[int, dict[str, str], bytes, BaseException | None]:
    """One request straight to an ASGI app, its path byte for byte as an HTTP server passes it
    (`path` is the percent-decoded `raw_path`, bad UTF-8 replaced, as uvicorn and granian do;
    httpx would resolve `.` and `..` itself). Returns the status, headers, body and whatever
    escaped the app (answered 500, as a server would)."""
    wire = [(b"host", b"hotswap.test"), *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    if content_type is not None:
        wire.append((b"content-type", content_type.encode()))
    if method != "GET":
        wire.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "query_string": query,
        "root_path": "",
        "headers": wire,
        "client": ("10.1.2.3", 5555),
        "server": ("hotswap.test", 80),
    }
    sent_body = False
    done = asyncio.Event()
    status, answer_headers, answer_body = 0, {}, b""
    escaped: BaseException | None = None

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def respond(message: dict[str, Any]) -> None:
        nonlocal status, answer_headers, answer_body
        if message["type"] == "http.response.start":
            status = message["status"]
            answer_headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer_body += message.get("body", b"")
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, respond)
    except Exception as exc:  # what escapes the app is a server error, as the server would log it
        escaped = exc
        status = status or 500
    done.set()
    return status, answer_headers, answer_body, escaped
