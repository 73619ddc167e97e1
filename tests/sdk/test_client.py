"""The public surface (pinned), what importing the SDK pulls in, and the thread-backed `Client`
against a real `hotswap serve` process."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import hotswap.sdk
from hotswap.sdk import AsyncClient, Client, Options, Session
from hotswap.settings import Settings
from tests.helpers import wait_until_sync
from tests.test_serve import HOTSWAP, _free_port, _run

READS = {"config", "value", "evaluate", "active_events", "revision"}
CLIENT = READS | {"ready", "on_change", "session", "track", "dropped_samples", "options", "start"}


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_the_public_names_are_pinned() -> None:
    assert sorted(hotswap.sdk.__all__) == ["AsyncClient", "Client", "Context", "Evaluation", "Options", "Session"]
    assert _public(Client) == CLIENT | {"close"}
    assert _public(AsyncClient) == CLIENT | {"aclose"}
    assert _public(Session) == READS
    for name in (READS - {"revision"}) | {"on_change", "session", "track"}:
        member = getattr(Client, name)
        assert inspect.signature(member) == inspect.signature(getattr(AsyncClient, name)), name
    assert inspect.iscoroutinefunction(AsyncClient.start)
    assert not inspect.iscoroutinefunction(Client.start)
    assert {f for f in Options.__dataclass_fields__} >= {
        "url", "token", "environment", "streaming", "poll_interval", "reconnect_initial", "reconnect_max",
        "stream_idle_timeout", "request_timeout", "start_timeout", "bootstrap", "cache_path", "server_id",
        "region", "register", "heartbeat_interval", "track_batch_size", "track_flush_interval",
        "track_max_pending", "transport", "now",
    }  # fmt: skip


def test_importing_the_sdk_imports_no_server_framework() -> None:
    code = (
        "import sys, json, hotswap.sdk\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'sqlalchemy', 'redis', 'starlette', 'pydantic', 'pydantic_settings', 'msgspec', 'asyncpg'}"
        " or m.startswith(('hotswap.configs', 'hotswap.delivery', 'hotswap.settings', 'hotswap.api')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)  # noqa: S603
    assert json.loads(done.stdout) == []


# -- against a running server ------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    ours = {f"HOTSWAP_{name.upper()}" for name in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    return clean | {
        "HOTSWAP_ENV": "test",
        "HOTSWAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "HOTSWAP_JWT_SECRET": "sdk-test-secret-0123456789-0123456789-abcd",
        "HOTSWAP_BOOTSTRAP_ADMIN": "false",
    }


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """A `hotswap serve` process: its URL, a server token and an operator token."""
    _run("migrate", env=env)
    server_token = _run("token", "create", "--role", "server", "--subject", "gs-1", env=env)
    operator_token = _run("token", "create", "--role", "operator", "--subject", "olivia", env=env)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603
        [HOTSWAP, "serve", "--port", str(port)],
        env=env | {"HOTSWAP_STREAM_HEARTBEAT_SECONDS": "0.5"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_sync(lambda: _answers(url) or process.poll() is not None, "the server to start", seconds=30)
        assert process.poll() is None, "the server exited"
        yield url, server_token, operator_token
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _release(url: str, token: str, name: str, data: dict[str, Any], version: str, *, create: bool) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
        if create:
            r = http.post("/api/v1/configs", json={"name": name, "environment": "Staging"})
            assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/configs/{name}/versions", json={"configData": data, "version": version})
        assert r.status_code == 201, r.text
        r = http.post(f"/api/v1/configs/{name}/releases", json={"version": version})
        assert r.status_code == 201, r.text


def _options(url: str, token: str, **overrides: Any) -> Options:
    values: dict[str, Any] = {
        "url": url,
        "token": token,
        "environment": "Staging",
        "reconnect_initial": 0.05,
        "reconnect_max": 0.2,
        "poll_interval": 0.2,
        "start_timeout": 10.0,
    }
    return Options(**(values | overrides))


def test_a_game_server_follows_a_running_hotswap(served: tuple[str, str, str], tmp_path: Path) -> None:
    url, server_token, operator_token = served
    _release(url, operator_token, "shop", {"price": 10}, "1.0.0", create=True)
    cache = tmp_path / "hotswap.json"
    seen: list[tuple[str, int, str]] = []
    with Client(_options(url, server_token, cache_path=cache)) as hs:
        hs.on_change("shop", lambda name, revision: seen.append((name, revision, threading.current_thread().name)))
        assert hs.ready
        assert hs.config("shop") == {"price": 10}
        with hs.session() as match:
            _release(url, operator_token, "shop", {"price": 12}, "1.0.1", create=False)
            wait_until_sync(lambda: hs.config("shop") == {"price": 12}, "the change over the stream")
            assert match.config("shop") == {"price": 10}
        wait_until_sync(lambda: seen, "the listener")
        assert seen == [("shop", hs.revision, "hotswap-sdk")]
        wait_until_sync(lambda: cache.exists() and json.loads(cache.read_text())["revision"] == hs.revision)
        revision = hs.revision

    # HotSwap is gone (nothing listens on this port): a restarted game server serves the cache.
    with Client(_options(f"http://127.0.0.1:{_free_port()}", server_token, cache_path=cache)) as restarted:
        assert (restarted.revision, restarted.config("shop")) == (revision, {"price": 12})
        restarted.track("fps", 60.0)  # never raises, whatever the network does


def test_start_never_raises_when_hotswap_is_unreachable() -> None:
    hs = Client(_options(f"http://127.0.0.1:{_free_port()}", "token", start_timeout=0.2))
    hs.start()
    assert not hs.ready
    assert hs.value("shop", "price", default=5) == 5
    hs.close()
    hs.close()  # twice is harmless
