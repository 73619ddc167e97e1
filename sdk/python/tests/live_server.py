"""The server the SDK's tests run against: a real `hotswap serve` process (one per test session,
started by conftest.py), on a scratch SQLite file and a free port, with a server token and an
operator token made by the CLI, as an operator sets one up; and the operator's requests.

These tests import nothing of the server: they also run where only the `hotswap-sdk` wheel is
installed (scripts/sdk-check), with the server started from another environment. Which `hotswap`
command starts it: `HOTSWAP_SDK_TEST_HOTSWAP` if set, else the one installed beside this Python
(the main suite's virtualenv). Without either, the tests fail rather than skip, so they cannot
quietly stop running.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ENVIRONMENT = "Staging"  # Production would need approvals for every change the tests make


@dataclass(frozen=True, slots=True)
class Server:
    url: str
    server_token: str  # the `server` role: what a game server holds
    operator_token: str  # to change configs while a game server follows them

    def operator(self) -> httpx.Client:
        return httpx.Client(base_url=self.url + "/api/v1", headers={"Authorization": f"Bearer {self.operator_token}"})


def hotswap_command() -> str:
    named = os.environ.get("HOTSWAP_SDK_TEST_HOTSWAP")
    if named:
        return named
    beside = Path(sys.executable).parent / "hotswap"
    if beside.exists():
        return str(beside)
    pytest.fail(
        "no HotSwap server to test the SDK against: set HOTSWAP_SDK_TEST_HOTSWAP to the `hotswap` command "
        "of an installed server (scripts/sdk-check does)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(condition: Callable[[], object], what: str, seconds: float = 20.0) -> None:
    """Poll `condition` until it holds (a real server and a background thread: there is no event
    to await); fail at the deadline."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def release(server: Server, name: str, data: dict[str, Any], version: str, *, create: bool) -> None:
    """Make `version` of config `name` (holding `data`) live in the test environment."""
    with server.operator() as http:
        if create:
            r = http.post("/configs", json={"name": name, "environment": ENVIRONMENT})
            assert r.status_code == 201, r.text
        r = http.post(f"/configs/{name}/versions", json={"configData": data, "version": version})
        assert r.status_code == 201, r.text
        r = http.post(f"/configs/{name}/releases", json={"version": version})
        assert r.status_code == 201, r.text


def set_rules(server: Server, name: str, rules: list[dict[str, Any]]) -> None:
    with server.operator() as http:
        r = http.put(f"/configs/{name}/targeting", json={"rules": rules})
        assert r.status_code == 200, r.text


def revision(server: Server) -> int:
    """The test environment's snapshot revision on the server now: a client holding it has seen
    every change made so far."""
    r = httpx.get(
        server.url + "/api/v1/snapshot",
        params={"environment": ENVIRONMENT},
        headers={"Authorization": f"Bearer {server.server_token}"},
    )
    assert r.status_code == 200, r.text
    found: int = r.json()["revision"]
    return found
