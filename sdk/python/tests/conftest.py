"""One `hotswap serve` process for the session (see live_server.py for which one)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from live_server import Server, answers, free_port, hotswap_command, wait_for


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    command = hotswap_command()
    scratch = tmp_path_factory.mktemp("hotswap-server")
    # The server's settings come from the environment: only ours, none of the caller's.
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HOTSWAP_")} | {
        "HOTSWAP_ENV": "test",
        "HOTSWAP_DATABASE_URL": f"sqlite+aiosqlite:///{scratch / 'hotswap.db'}",
        "HOTSWAP_JWT_SECRET": "sdk-live-test-secret-0123456789-0123456789",
        "HOTSWAP_BOOTSTRAP_ADMIN": "false",
    }

    def cli(*args: str) -> str:
        done = subprocess.run([command, *args], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"hotswap {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        return done.stdout.strip()

    cli("migrate")
    server_token = cli("token", "create", "--role", "server", "--subject", "gs-live")
    operator_token = cli("token", "create", "--role", "operator", "--subject", "olivia")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = scratch / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [command, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log
        )
        try:
            wait_for(lambda: process.poll() is not None or answers(url), "the server to start", seconds=60)
            assert process.poll() is None, f"the server exited:\n{log_path.read_text()}"
            yield Server(url, server_token, operator_token)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
