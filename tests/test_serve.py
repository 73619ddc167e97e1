"""`hotswap serve` as `make run` starts it: a real server process on a scratch SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hotswap.settings import Settings

HOTSWAP = str(Path(sys.executable).parent / "hotswap")  # our own entry point, not user input


def _run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([HOTSWAP, *args], env=env, check=True, capture_output=True, text=True)  # noqa: S603
    return done.stdout.strip()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v for k, v in os.environ.items() if k.upper() not in {f"HOTSWAP_{n.upper()}" for n in Settings.model_fields}
    }
    return {
        **clean,
        "HOTSWAP_ENV": "test",
        "HOTSWAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "HOTSWAP_JWT_SECRET": "serve-test-secret-0123456789-0123456789-abc",
        "HOTSWAP_BOOTSTRAP_ADMIN": "false",
    }


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_serve_answers_and_stops_cleanly(server: str, env: dict[str, str]) -> None:
    _run("migrate", env=env)
    token = _run("token", "create", "--role", "server", "--subject", "gs-1", env=env)
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603
        [HOTSWAP, "serve", "--port", str(port), "--server", server],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    stopping = False
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30  # start-up: poll until it answers
        while True:
            try:
                health = httpx.get(url + "/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok"}
        headers = {"Authorization": f"Bearer {token}"}
        snapshot = httpx.get(url + "/api/v1/snapshot?environment=Staging", headers=headers)
        assert snapshot.status_code == 200
        assert snapshot.json()["environment"] == "Staging"
        answer = httpx.post(url + "/api/v1/evaluate?environment=Staging", headers=headers, json={"playerId": "p1"})
        assert answer.status_code == 200
        assert answer.json()["configs"] == {}
        # An open snapshot stream does not hold the process: the stop ends it cleanly.
        with httpx.stream("GET", url + "/api/v1/stream?environment=Staging", headers=headers, timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "event: snapshot"
            process.send_signal(signal.SIGTERM)
            stopping = True
            rest = list(lines)  # returns when the server ends the response
        assert rest[0] == "id: 1"
        assert rest[-1] == ""
    finally:
        if not stopping:
            process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    if server == "uvicorn":  # it shuts down, then re-raises the signal it caught
        assert process.returncode == -signal.SIGTERM, output.decode()
        assert b"Application shutdown complete" in output
    else:
        assert process.returncode == 0, output.decode()


def test_worker_runs_and_stops_cleanly(env: dict[str, str]) -> None:
    _run("migrate", env=env)
    process = subprocess.Popen(  # noqa: S603
        [HOTSWAP, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    first = process.stdout.readline()  # blocks until it is up (or has died)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert b"rollout worker, webhook dispatcher and event scheduler running" in first, first + output
    assert process.returncode == 0, output.decode()
