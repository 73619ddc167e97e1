"""What the SDK tests share: options for the in-process app, transports that fail on demand,
and waiting for a condition with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hotswap.sdk import Options
from tests.helpers import Headers

BASE_URL = "http://hotswap.test"


def token_of(headers: Headers) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def options(transport: httpx.AsyncBaseTransport, headers: Headers, **overrides: Any) -> Options:
    """Options for a client of the in-process app: Staging (Production needs approvals), small
    intervals, and a fixed jitter source."""
    values: dict[str, Any] = {
        "url": BASE_URL,
        "token": token_of(headers),
        "environment": "Staging",
        "transport": transport,
        "reconnect_initial": 0.01,
        "reconnect_max": 0.05,
        "poll_interval": 0.05,
        "stream_idle_timeout": 10.0,
        "start_timeout": 10.0,
        "track_flush_interval": 0.05,
        "heartbeat_interval": 0.05,
        "random": lambda: 0.5,
    }
    return Options(**(values | overrides))


class _Cuttable(httpx.AsyncByteStream):
    """A response body that fails (as a dropped connection does) once `cut` is set."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self.inner = inner
        self.cut = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunks = self.inner.__aiter__()
        while True:
            chunk = asyncio.ensure_future(anext(chunks))
            cut = asyncio.ensure_future(self.cut.wait())
            done, _ = await asyncio.wait({chunk, cut}, return_when=asyncio.FIRST_COMPLETED)
            if chunk not in done:
                chunk.cancel()
                raise httpx.ReadError("the connection was cut")
            cut.cancel()
            try:
                yield chunk.result()
            except StopAsyncIteration:
                return

    async def aclose(self) -> None:
        await self.inner.aclose()


class FlakyTransport(httpx.AsyncBaseTransport):
    """Passes requests to `inner` until told the server is `down` (connections refused), or a
    path is `refused` (answered with that status); `cut()` drops the open streams. Every
    request is recorded."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.refused: dict[str, int] = {}
        self.requests: list[httpx.Request] = []
        self.responses: list[tuple[str, int]] = []
        self._open: list[_Cuttable] = []

    def paths(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]

    def statuses(self, path: str) -> list[int]:
        return [status for p, status in self.responses if p == path]

    def cut(self) -> None:
        for body in self._open:
            body.cut.set()
        self._open.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        status = self.refused.get(request.url.path)
        if status is not None:
            self.responses.append((request.url.path, status))
            return httpx.Response(status, json={"status": status, "title": "refused", "detail": "refused by the test"})
        response = await self.inner.handle_async_request(request)
        self.responses.append((request.url.path, response.status_code))
        if request.url.path == "/api/v1/stream":
            assert isinstance(response.stream, httpx.AsyncByteStream)
            body = _Cuttable(response.stream)
            self._open.append(body)
            return httpx.Response(response.status_code, headers=response.headers, stream=body, request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class ScriptedStream(httpx.AsyncBaseTransport):
    """Answers the first `len(script)` stream requests itself (each with its bytes, then the
    stream stays open and silent, or ends when `end` is set), and everything else from `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, script: list[bytes], *, end: bool = False) -> None:
        self.inner = inner
        self.script = list(script)
        self.end = end
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/stream" and self.script:
            body = self.script.pop(0)
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=_Silent(body, self.end), request=request
            )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Silent(httpx.AsyncByteStream):
    def __init__(self, body: bytes, end: bool) -> None:
        self.body = body
        self.end = end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body
        if not self.end:
            await asyncio.Event().wait()  # open and silent until the client gives up on it
