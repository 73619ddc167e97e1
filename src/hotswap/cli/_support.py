"""What every command shares: settings, a checked database, and errors as one line."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from hotswap.auth.model import Principal, Role
from hotswap.container import Container, build_container
from hotswap.core.errors import HotSwapError
from hotswap.settings import Settings, settings_problems
from hotswap.storage.preflight import DatabaseUnusable, check_database

err = Console(stderr=True, soft_wrap=True)
CLI = Principal(subject="cli", role=Role.ADMIN, token_id="-")
T = TypeVar("T")
Command = TypeVar("Command", bound=Callable[..., Any])

_TTL = re.compile(r"^(\d+)([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# `hotswap --debug`: set by the group's callback before each command runs.
debug_mode: ContextVar[bool] = ContextVar("hotswap_cli_debug", default=False)


class Failure(Exception):
    """A command that cannot go on; the message names the problem and the fix."""


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def reports_errors(command: Command) -> Command:
    """Turn what a command raises into one line on stderr and exit 1 (the traceback with --debug)."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own: a chosen exit code, Ctrl-C, a bad option
        except Exception as exc:
            if debug_mode.get():
                raise
            raise _fail(_describe(exc)) from None

    return run  # type: ignore[return-value]


def _describe(exc: Exception) -> str:
    if isinstance(exc, Failure | DatabaseUnusable):
        return str(exc)
    if isinstance(exc, HotSwapError):
        return exc.detail
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first} (hotswap --debug ... shows the traceback)"


def parse_ttl(value: str) -> timedelta:
    """`3600`, `90m`, `12h`, `30d`, `52w`."""
    match = _TTL.match(value.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise typer.BadParameter("use a positive number with an optional unit s, m, h, d or w (e.g. 12h)")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for line in settings_problems(exc):
            typer.echo(f"invalid settings: {line}", err=True)
        raise typer.Exit(2) from None


def with_container(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    """Run `work` on a container over a database that is there and migrated (checked first, so
    that a missing or unmigrated one is a message, and nothing is created)."""

    async def run() -> T:
        await check_database(settings.database_url)
        container = build_container(settings)
        try:
            return await work(container)
        finally:
            await container.aclose()

    return asyncio.run(run())
