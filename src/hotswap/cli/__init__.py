"""`hotswap serve | migrate | worker | token ... | key ... | simulate`: the command-line
composition root.

Every command fails in one or two lines on stderr that name the problem and the fix, with a
non-zero exit; `hotswap --debug COMMAND` shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
from enum import StrEnum
from typing import Annotated

import typer

from hotswap.cli._support import Failure, debug_mode, err, load_settings, parse_ttl, reports_errors
from hotswap.cli.credentials import key_app, token_app
from hotswap.container import build_container
from hotswap.settings import Settings
from hotswap.storage import migrate as migrations
from hotswap.storage.engine import sqlite_path
from hotswap.storage.preflight import check_database

__all__ = ["app", "parse_ttl"]

app = typer.Typer(help="HotSwap: live-ops configuration for online games.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(key_app, name="key")


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="On an error, show the whole traceback")] = False,
) -> None:
    debug_mode.set(debug)


@app.command()
@reports_errors
def migrate() -> None:
    """Create or upgrade the database to this version's schema (HOTSWAP_DATABASE_URL)."""
    settings = load_settings()
    if sqlite_path(settings.database_url) is None:  # an SQLite file is created, a server must answer
        asyncio.run(check_database(settings.database_url, schema=False))
    migrations.upgrade(settings.database_url)
    err.print(f"database at migration {migrations.head_revision()}")


class Server(StrEnum):
    granian = "granian"
    uvicorn = "uvicorn"


@app.command()
@reports_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Defaults to HOTSWAP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to HOTSWAP_PORT")] = None,
    server: Annotated[
        Server, typer.Option(help="HTTP server: granian (the faster, see bench/player_query.py) or uvicorn")
    ] = Server.granian,
    reuse_port: Annotated[
        bool,
        typer.Option(
            "--reuse-port",
            help="Share the port with other servers on purpose (SO_REUSEPORT): replicas on PostgreSQL or Redis",
        ),
    ] = False,
) -> None:
    """Serve the API. On first start, creates the admin API key and prints it once."""
    settings = load_settings()
    host = host or settings.host
    port = port or settings.port
    asyncio.run(check_database(settings.database_url))
    listener = _listen(host, port, reuse_port=reuse_port, keep=server is Server.uvicorn)
    try:
        _serve(settings, host, port, listener, reuse_port=reuse_port)
    finally:
        if listener is not None:
            listener.close()


def _serve(settings: Settings, host: str, port: int, listener: socket.socket | None, *, reuse_port: bool) -> None:
    from hotswap.observability.logging import configure_logging

    if reuse_port and settings.is_sqlite and settings.redis_url is None:
        typer.echo(
            "note: on SQLite without HOTSWAP_REDIS_URL, servers sharing a port learn of each other's changes "
            f"only every HOTSWAP_SNAPSHOT_CHECK_SECONDS ({settings.snapshot_check_seconds:g} s)",
            err=True,
        )
    configure_logging(settings.log_level)
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
    if listener is not None:  # uvicorn serves on the socket bound above
        import uvicorn

        from hotswap.api import create_app

        config = uvicorn.Config(create_app(settings), host=host, port=port, log_config=None, access_log=False)
        uvicorn.Server(config).run(sockets=[listener])
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


def _listen(host: str, port: int, *, reuse_port: bool, keep: bool) -> socket.socket | None:
    """Bind the address, or fail with what to do. Granian's workers bind with SO_REUSEPORT, so a
    second server on a port in use would start without a word and the two would split the
    requests between two snapshots in memory: a port in use is refused here, unless shared on
    purpose. `keep`: return the bound socket to serve on (uvicorn); else close it (granian binds
    its own a moment later; two servers started in that same moment can both pass)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror} (check --host or HOTSWAP_HOST)") from exc
    listener = socket.socket(family, kind, proto)
    try:
        # As the servers do: a port left in TIME_WAIT by a server that just stopped is free.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(address)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise Failure(
                f"address {host}:{port} is in use; stop the other server or pick --port "
                "(--reuse-port shares it on purpose)"
            ) from exc
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    if keep:
        return listener
    listener.close()
    return None


@app.command()
@reports_errors
def worker() -> None:
    """Run the rollout worker and the webhook dispatcher on their own (set HOTSWAP_WORKER=false on
    the API processes then). Any number may run: exactly one advances a given deployment at a
    time, and each webhook delivery is sent by one of them."""
    from hotswap.observability.logging import configure_logging

    settings = load_settings()
    asyncio.run(check_database(settings.database_url))
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


@app.command()
@reports_errors
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
