"""ASGI apps that bench/player_query.py serves under uvicorn and granian (factories).

- `hotswap_app`: the real app, as `hotswap serve` builds it from HOTSWAP_* variables.
- `bare_app`: the floor: an ASGI callable that answers every request with fixed bytes of the
  size given in BENCH_BODY_BYTES, after reading the request body, and does nothing else.
"""

from __future__ import annotations

import os
from typing import Any

from hotswap.api import served_app as hotswap_app

__all__ = ["bare_app", "hotswap_app"]


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
