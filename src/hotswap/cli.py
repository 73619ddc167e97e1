"""`hotswap serve | migrate | token ... | key ...`: the command-line composition root."""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from hotswap.auth.model import Principal, Role
from hotswap.container import build_container
from hotswap.settings import Settings
from hotswap.storage import migrate as migrations

app = typer.Typer(help="HotSwap: live-ops configuration for online games.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)
key_app = typer.Typer(help="API keys (exchanged for tokens at POST /api/v1/auth/token).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(key_app, name="key")
err = Console(stderr=True, soft_wrap=True)
CLI = Principal(subject="cli", role=Role.ADMIN, token_id="-")

_TTL = re.compile(r"^(\d+)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_ttl(value: str) -> timedelta:
    """`3600`, `90m`, `12h`, `30d`, `52w`."""
    match = _TTL.match(value.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise typer.BadParameter("use a positive number with an optional unit s, m, h, d or w (e.g. 12h)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def migrate() -> None:
    """Apply the database migrations (HOTSWAP_DATABASE_URL)."""
    settings = _settings()
    migrations.upgrade(settings.database_url)
    err.print(f"database at migration {migrations.head_revision()}")


class Server(StrEnum):
    granian = "granian"
    uvicorn = "uvicorn"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Defaults to HOTSWAP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to HOTSWAP_PORT")] = None,
    server: Annotated[
        Server, typer.Option(help="HTTP server: granian (the faster, see bench/player_query.py) or uvicorn")
    ] = Server.granian,
) -> None:
    """Serve the API. On first start, creates the admin API key and prints it once."""
    from hotswap.observability.logging import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    host = host or settings.host
    port = port or settings.port
    if settings.bootstrap_admin:
        created = asyncio.run(_bootstrap(settings))
        if created is not None:
            base = f"http://{host}:{port}"
            err.print(
                "\n[bold green]First start: created the admin API key[/bold green] (shown once, keep it safe):\n"
                f"  {created}\n\nGet a bearer token with it:\n"
                f"  curl -s -X POST {base}/api/v1/auth/token -H 'content-type: application/json' "
                f'-d \'{{"apiKey": "{created}"}}\'\n'
                "or, on this machine: .venv/bin/hotswap token create --role admin --subject you\n"
            )
    if server is Server.uvicorn:
        import uvicorn

        from hotswap.api import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False)
        return
    from granian.constants import Interfaces, Loops, RuntimeModes
    from granian.log import LogLevels
    from granian.server import Server as Granian

    # One worker process: it builds the app from the same HOTSWAP_* environment. More API
    # processes are more replicas (each holds its snapshot, kept current by the change bus).
    Granian(
        "hotswap.api:served_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        runtime_mode=RuntimeModes.st,  # one runtime thread; the multi-threaded one can panic at shutdown
        websockets=False,
        # Granian's default (its backlog, 1,024) would hold every request past the 1,024th open
        # snapshot stream in a queue: heartbeats and queries included.
        backpressure=settings.max_concurrent_requests,
        # Granian's own lines go to the root logger, which the worker sets up as JSON.
        log_dictconfig={"loggers": {"_granian": {"propagate": True}, "granian.access": {"propagate": True}}},
        log_level=LogLevels(settings.log_level.lower()),
        respawn_failed_workers=True,
    ).serve()


@app.command()
def worker() -> None:
    """Run the rollout worker and the webhook dispatcher on their own (set HOTSWAP_WORKER=false on
    the API processes then). Any number may run: exactly one advances a given deployment at a
    time, and each webhook delivery is sent by one of them."""
    from hotswap.observability.logging import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    container = build_container(settings)
    # The rollout worker, the webhook dispatcher and the event scheduler: the background work an
    # API process does itself unless HOTSWAP_WORKER=false. The change bus tells it of timers that
    # API processes add (an event starting in a moment is not left to the next poll).
    await container.bus.start()
    container.start_workers()
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for stop in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop, stopping.set)
    err.print("rollout worker, webhook dispatcher and event scheduler running (Ctrl-C stops them)")
    try:
        await stopping.wait()
    finally:
        await container.aclose()  # each loop finishes the pass under way, then ends


async def _bootstrap(settings: Settings) -> str | None:
    container = build_container(settings)
    try:
        async with container.uow() as uow:
            created = await container.auth.bootstrap_admin(uow)
            await uow.commit()
        return None if created is None else created.api_key
    finally:
        await container.aclose()


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="admin, operator, approver, viewer or server")],
    subject: Annotated[str, typer.Option(help="Who the token is for (a person or a game server)")],
    ttl: Annotated[str | None, typer.Option(help="Lifetime, e.g. 3600, 12h, 30d (default by role)")] = None,
) -> None:
    """Sign a token and print it (only the token, so it can be captured: TOKEN=$(hotswap token create ...))."""
    settings = _settings()
    lifetime = parse_ttl(ttl) if ttl else None

    async def run() -> str:
        container = build_container(settings)
        try:
            async with container.uow() as uow:
                issued = await container.auth.issue_token(uow, CLI, subject=subject, role=role, ttl=lifetime)
                await uow.commit()
            return issued.token
        finally:
            await container.aclose()

    typer.echo(asyncio.run(run()))


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The token's id (its jti)")]) -> None:
    """Revoke a token by id."""
    settings = _settings()

    async def run() -> None:
        container = build_container(settings)
        try:
            async with container.uow() as uow:
                await container.auth.revoke_token(uow, CLI, token_id)
                await uow.commit()
        finally:
            await container.aclose()

    asyncio.run(run())
    err.print(f"revoked {token_id}")


@key_app.command("create")
def key_create(
    role: Annotated[Role, typer.Option()],
    name: Annotated[str, typer.Option(help="A name for the key, e.g. a game server fleet")],
) -> None:
    """Create an API key and print it once."""
    settings = _settings()

    async def run() -> str:
        container = build_container(settings)
        try:
            async with container.uow() as uow:
                created = await container.auth.create_credential(uow, CLI, name=name, role=role)
                await uow.commit()
            return created.api_key
        finally:
            await container.aclose()

    typer.echo(asyncio.run(run()))


@app.command()
def simulate(
    scenario: Annotated[
        str, typer.Argument(help="A scenario in scenarios/ (e.g. crashy-balance-patch) or a path to a YAML file")
    ],
    url: Annotated[
        str | None, typer.Option(help="A running HotSwap server (real time; needs --token). Default: embedded")
    ] = None,
    token: Annotated[str | None, typer.Option(help="With --url: an operator's or admin's token")] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="Simulated seconds per real second, embedded only (default: the scenario's in the live view, "
            "as fast as it goes with --no-live)",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: the scenario's)")] = None,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="The live view, or plain lines for CI and logs")
    ] = True,
    scale: Annotated[float, typer.Option(min=0.01, max=100, help="Multiply the scenario's players")] = 1.0,
) -> None:
    """Simulate game servers and players, deploy a config with a strategy, and watch the canary
    judge promote or roll it back. Exits 1 when the run does not end as the scenario expects."""
    import tempfile
    from pathlib import Path

    from hotswap.simulator import console

    loaded = console.load_or_exit(scenario, scale, err)
    if url is not None:
        raise typer.Exit(console.run_remote(loaded, url, token, seed=seed, live=live))
    with tempfile.TemporaryDirectory(prefix="hotswap-simulate-") as directory:
        database_url = f"sqlite+aiosqlite:///{Path(directory) / 'hotswap.db'}"
        migrations.upgrade(database_url)
        settings = Settings(**console.embedded_settings(loaded, database_url))
        code = console.run_embedded(
            loaded, lambda clock: build_container(settings, clock=clock), speed=speed, seed=seed, live=live
        )
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
