"""Running real `hotswap serve` replicas in tests, and reading their snapshot stream without the
SDK (tests/delivery/test_replicas.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from hotswap.targeting.delta import apply_delta

HOTSWAP = str(Path(sys.executable).parent / "hotswap")  # our own entry point, not user input
SECRET = "replica-test-secret-0123456789-0123456789-abc"
ENVIRONMENT = "Staging"
START_WAIT = 30.0  # seconds a replica may take to answer
WAIT = 10.0  # seconds a change may take to reach a stream: generous, a deadline, never a sleep
STOP_WAIT = 10.0  # seconds a replica may take to exit on SIGTERM, streams open


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([HOTSWAP, *args], env=env, check=True, capture_output=True, text=True)  # noqa: S603
    return done.stdout.strip()


@dataclass(frozen=True)
class Tokens:
    server: dict[str, str]  # a game server's headers
    operator: dict[str, str]


class Replica:
    """One `hotswap serve` process; its output goes to a file (a pipe nobody reads would fill
    up and block it)."""

    def __init__(self, env: dict[str, str], port: int, log: Path, server: str = "granian") -> None:
        self.env = env
        self.port = port
        self.log = log
        self.server = server
        self.url = f"http://127.0.0.1:{port}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        assert not _answers(self.port), f"something still listens on port {self.port}"
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                HOTSWAP,
                "serve",
                "--port",
                str(self.port),
                "--server",
                self.server,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: `kill` reaches granian's workers too
            )
        deadline = asyncio.get_running_loop().time() + START_WAIT
        async with httpx.AsyncClient(base_url=self.url, timeout=1) as client:
            while True:
                try:
                    if (await client.get("/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.process.returncode is None, f"the replica exited:\n{self.output()}"
                assert asyncio.get_running_loop().time() < deadline, f"the replica did not start:\n{self.output()}"
                await asyncio.sleep(0.1)  # polling for start-up, not timing anything

    async def stop(self) -> int:
        """SIGTERM, as an orchestrator sends it, then wait for the exit of the whole process
        group: the main process's status (asserting it all came within STOP_WAIT)."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_WAIT):
                status = await self.process.wait()
                await self._group_gone()
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"no exit within {STOP_WAIT} s of SIGTERM:\n{self.output()}") from None
        return status

    async def kill(self) -> None:
        """SIGKILL to the whole process group (killing granian's main process alone would leave
        its worker serving), then wait until it is gone."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()
        async with asyncio.timeout(STOP_WAIT):
            await self._group_gone()

    async def _group_gone(self) -> None:
        assert self.process is not None
        while True:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            await asyncio.sleep(0.02)  # a worker's exit has no event to wait on from here

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


Replicas = Callable[..., Awaitable[Replica]]


class StreamReader:
    """A bare stream client (no SDK): holds the document by applying each event to it."""

    def __init__(self, url: str, headers: dict[str, str], environment: str = ENVIRONMENT) -> None:
        self.url = url
        self.headers = headers
        self.environment = environment
        self.document: dict[str, Any] | None = None
        self.revisions: list[int] = []  # of the events that changed the document, in order
        self.ended = asyncio.Event()  # the stream is over
        self.clean_end: bool | None = None  # whether the server ended the response properly
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def revision(self) -> int | None:
        return None if self.document is None else int(self.document["revision"])

    async def __aenter__(self) -> StreamReader:
        self._task = asyncio.create_task(self._read())
        await self.wait_for(lambda: self.document is not None)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self) -> None:
        timeout = httpx.Timeout(10, read=None)
        params = {"environment": self.environment}
        try:
            async with (
                httpx.AsyncClient(base_url=self.url, timeout=timeout) as client,
                client.stream("GET", "/api/v1/stream", params=params, headers=self.headers) as r,
            ):
                assert r.status_code == 200, await r.aread()
                assert r.headers["content-type"].startswith("text/event-stream")
                fields: dict[str, str] = {}
                try:
                    async for line in r.aiter_lines():
                        if line:
                            name, _, value = line.partition(":")
                            fields[name] = value.removeprefix(" ")
                            continue
                        await self._apply(fields)
                        fields = {}
                    self.clean_end = True
                except (httpx.RemoteProtocolError, httpx.ReadError):  # the connection was cut
                    self.clean_end = False
        finally:
            self.ended.set()
            async with self._changed:
                self._changed.notify_all()

    async def _apply(self, fields: dict[str, str]) -> None:
        event, data = fields.get("event"), orjson.loads(fields.get("data", "null"))
        if event == "snapshot":
            self.document = data
        elif event == "delta":
            assert self.document is not None, "a delta before any snapshot"
            self.document = apply_delta(self.document, data)
        else:
            assert event == "heartbeat", fields
            return
        assert self.document is not None
        assert fields.get("id") == str(self.document["revision"]), fields.get("id")
        self.revisions.append(int(self.document["revision"]))
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate() or self.ended.is_set()), WAIT)
        if not predicate():
            assert self._task is not None
            if self._task.done() and self._task.exception() is not None:
                raise AssertionError("the stream failed") from self._task.exception()
            raise AssertionError("the stream ended first")

    async def wait_for_revision(self, revision: int) -> None:
        await self.wait_for(lambda: (self.revision or 0) >= revision)


async def release(url: str, headers: dict[str, str], name: str, data: Any, version: str, *, create: bool) -> None:
    """Create (when asked), add a version and release it in Staging: a new live revision."""
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        if create:
            r = await client.post("/api/v1/configs", json={"name": name, "environment": ENVIRONMENT})
            assert r.status_code == 201, r.text
        r = await client.post(f"/api/v1/configs/{name}/versions", json={"configData": data, "version": version})
        assert r.status_code == 201, r.text
        r = await client.post(f"/api/v1/configs/{name}/releases", json={"version": version})
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "Applied", r.text


async def served_snapshot(url: str, headers: dict[str, str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        r = await client.get("/api/v1/snapshot", params={"environment": ENVIRONMENT})
        assert r.status_code == 200, r.text
        document: dict[str, Any] = r.json()
        assert r.headers["x-snapshot-revision"] == str(document["revision"])
        return document
