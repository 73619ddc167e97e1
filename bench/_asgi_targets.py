"""ASGI apps that bench/player_query.py serves under uvicorn and granian (factories).

- `hotswap_app`: the real app, as `hotswap serve` builds it from HOTSWAP_* variables.
- `bare_app`: the floor: an ASGI callable that answers every request with fixed bytes of the
  size given in BENCH_BODY_BYTES, after reading the request body, and does nothing else.
- `fanout_app`: the real app, plus the floor of a stream (bench/propagation.py): a bare
  Server-Sent Events fan-out. `GET /bench/bare-stream` holds a connection open;
  `POST /bench/bare-fire` writes one fixed event (its number and the instant it was fired) to
  every open one, and answers with that number and instant.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from hotswap.api import served_app as hotswap_app

__all__ = ["bare_app", "fanout_app", "hotswap_app"]


def bare_app() -> Any:
    size = int(os.environ.get("BENCH_BODY_BYTES", "1024"))
    body = b'{"x":"' + b"a" * max(size - 8, 0) + b'"}'
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    done = {"type": "http.response.body", "body": body}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send(start)
        await send(done)

    return app


def fanout_app() -> Any:
    app = hotswap_app()
    connections: set[asyncio.Queue[bytes]] = set()
    fired = 0
    stream_start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
    }

    async def bare_stream(receive: Any, send: Any) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        connections.add(queue)
        gone = asyncio.ensure_future(_disconnected(receive, queue))
        try:
            await send(stream_start)
            await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
            while chunk := await queue.get():  # b"": the client left
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            connections.discard(queue)
            gone.cancel()

    async def bare_fire(send: Any) -> None:
        nonlocal fired
        fired += 1
        at = time.time()
        event = b"event: bare\nid: %d\ndata: %.6f\n\n" % (fired, at)
        for queue in connections:
            queue.put_nowait(event)
        body = b'{"seq":%d,"at":%.6f,"connections":%d}' % (fired, at, len(connections))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/bare-stream":
            await bare_stream(receive, send)
        elif scope["type"] == "http" and scope["path"] == "/bench/bare-fire":
            await bare_fire(send)
        else:
            await app(scope, receive, send)

    return wrapped


async def _disconnected(receive: Any, queue: asyncio.Queue[bytes]) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    queue.put_nowait(b"")
