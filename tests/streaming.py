"""An httpx transport that runs an ASGI app in-process and streams its response.

httpx's own `ASGITransport` collects the whole body before it returns the response, so an
endless Server-Sent Events stream would never return. This one hands the response back at
`http.response.start` and yields body chunks as the app sends them; closing the response tells
the app the client went away (`http.disconnect`), as a real server does. `max_buffered` bounds
the chunks waiting for the client: past it the app's `send` waits, which is how a slow client
looks to an app behind a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

_END = object()


class _Body(httpx.AsyncByteStream):
    def __init__(self, chunks: asyncio.Queue[Any], disconnected: asyncio.Event, task: asyncio.Task[None]) -> None:
        self._chunks = chunks
        self._disconnected = disconnected
        self._task = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks.empty():
                if self._task.done():
                    return  # the app ended without finishing its response: the connection closes
                getter = asyncio.ensure_future(self._chunks.get())
                await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    continue
                chunk = getter.result()
            else:
                chunk = self._chunks.get_nowait()
            if chunk is _END:
                return
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk

    async def aclose(self) -> None:
        self._disconnected.set()
        if not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except TimeoutError:  # an app that ignores the disconnect: stop it as a server would
                self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


class StreamingASGITransport(httpx.AsyncBaseTransport):
    def __init__(self, app: Any, *, client: tuple[str, int] = ("127.0.0.1", 123), max_buffered: int = 0) -> None:
        self.app = app
        self.client = client
        self.max_buffered = max_buffered
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": self.client,
            "root_path": "",
        }
        chunks: asyncio.Queue[Any] = asyncio.Queue(self.max_buffered)
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = asyncio.get_running_loop().create_future()
        disconnected = asyncio.Event()
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if disconnected.is_set():
                raise OSError("the client went away")
            if message["type"] == "http.response.start":
                started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await chunks.put(message["body"])
                if not message.get("more_body", False):
                    await chunks.put(_END)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                else:
                    with contextlib.suppress(asyncio.QueueFull):
                        chunks.put_nowait(httpx.ReadError("the app failed mid-response"))
                if not isinstance(exc, Exception):
                    raise
            else:
                if not started.done():
                    started.set_exception(RuntimeError("the app returned without a response"))
                with contextlib.suppress(asyncio.QueueFull):
                    chunks.put_nowait(_END)

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_Body(chunks, disconnected, task), request=request)

    async def aclose(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
