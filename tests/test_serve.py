"""`hotswap serve` as `make run` starts it: a real server process on a scratch SQLite file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from hotswap.cli import app
from hotswap.settings import Settings
from hotswap.storage import migrate as migrations

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


def _refusal(result: Result) -> str:
    """The one line on stderr of a serve that refused to start, with a non-zero exit."""
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def serve(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """`hotswap serve ARGS` in this process, for the refusals that come before any server starts."""
    for name in Settings.model_fields:  # only `env` reaches it, whatever the shell exports
        monkeypatch.delenv(f"HOTSWAP_{name.upper()}", raising=False)

    def run(*args: str, **extra_env: str) -> Result:
        return CliRunner().invoke(app, ["serve", *args], env={**env, **extra_env})

    return run


def test_a_second_server_on_a_port_in_use_exits_with_one_line(env: dict[str, str]) -> None:
    _run("migrate", env=env)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(  # noqa: S603
            [HOTSWAP, "serve", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert done.stderr == (
        f"error: address 127.0.0.1:{port} is in use; stop the other server or pick --port "
        "(--reuse-port shares it on purpose)\n"
    )


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
@pytest.mark.parametrize("shared", [False, True], ids=["plain", "shared"])
def test_serve_refuses_a_port_in_use(
    serve: Callable[..., Result], env: dict[str, str], server: str, shared: bool
) -> None:
    # Shared: what a running HotSwap on granian holds, a socket bound with SO_REUSEPORT. Another
    # socket with the option could join it; the check binds without it, so it is refused too.
    migrations.upgrade(env["HOTSWAP_DATABASE_URL"])
    with socket.socket() as taken:
        if shared:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _refusal(serve("--port", str(port), "--server", server))
    assert line == (
        f"error: address 127.0.0.1:{port} is in use; stop the other server or pick --port "
        "(--reuse-port shares it on purpose)"
    )


def test_serve_refuses_a_host_it_cannot_listen_on(serve: Callable[..., Result], env: dict[str, str]) -> None:
    migrations.upgrade(env["HOTSWAP_DATABASE_URL"])
    line = _refusal(serve("--host", "no-such-host.invalid", "--port", str(_free_port())))
    assert line.startswith("error: cannot listen on no-such-host.invalid:")
    assert "check --host or HOTSWAP_HOST" in line


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_serve_shares_a_port_when_asked(server: str, env: dict[str, str]) -> None:
    # Bound with SO_REUSEPORT but not listening: it shares the port and takes no connections,
    # so every request reaches the server under test.
    _run("migrate", env=env)
    with socket.socket() as sharing:
        sharing.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sharing.bind(("127.0.0.1", 0))
        port = sharing.getsockname()[1]
        process = subprocess.Popen(  # noqa: S603
            [HOTSWAP, "serve", "--port", str(port), "--server", server, "--reuse-port"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/health"
            deadline = time.monotonic() + 30  # start-up: poll until it answers
            while True:
                try:
                    assert httpx.get(url, timeout=1).json() == {"status": "ok"}
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "the server exited"
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert b"servers sharing a port learn of each other's changes only every" in output


def test_serve_before_migrate_says_to_migrate_and_creates_nothing(serve: Callable[..., Result], tmp_path: Path) -> None:
    line = _refusal(serve("--port", str(_free_port())))
    assert line == (
        f"error: no database at {tmp_path / 'serve.db'}: run `hotswap migrate` first to create it, "
        "or set HOTSWAP_DATABASE_URL to the database you meant"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://a@b/c", "invalid settings: HOTSWAP_DATABASE_URL: 'mysql' is not supported"),
        ("postgresql://hotswap@127.0.0.1:{port}/x", "error: cannot connect to the database at postgresql+asyncpg://"),
    ],
)
def test_serve_with_an_unusable_database_is_one_line(serve: Callable[..., Result], url: str, needle: str) -> None:
    line = _refusal(serve("--port", str(_free_port()), HOTSWAP_DATABASE_URL=url.format(port=_free_port())))
    assert line.startswith(needle)
