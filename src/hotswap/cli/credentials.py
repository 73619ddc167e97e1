"""`hotswap token ...` and `hotswap key ...`: sign, list and revoke bearer tokens and API keys.
Lists never show a secret (a key's is not even stored); revocations are audited like the API's."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

import typer

from hotswap.auth.model import Role
from hotswap.auth.service import API_KEY_PREFIX
from hotswap.cli._support import CLI, Failure, err, load_settings, parse_ttl, reports_errors, with_container
from hotswap.container import Container
from hotswap.core.errors import NotFound

token_app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)
key_app = typer.Typer(help="API keys (exchanged for tokens at POST /api/v1/auth/token).", no_args_is_help=True)


@token_app.command("create")
@reports_errors
def token_create(
    role: Annotated[Role, typer.Option(help="admin, operator, approver, viewer or server")],
    subject: Annotated[str, typer.Option(help="Who the token is for (a person or a game server)")],
    ttl: Annotated[str | None, typer.Option(help="Lifetime, e.g. 3600, 12h, 30d (default by role)")] = None,
) -> None:
    """Sign a token. Prints only the token on stdout (TOKEN=$(hotswap token create ...)); its id,
    which `hotswap token revoke` takes, goes to stderr."""
    settings = load_settings()
    lifetime = parse_ttl(ttl) if ttl else None

    async def work(container: Container) -> Any:
        async with container.uow() as uow:
            issued = await container.auth.issue_token(uow, CLI, subject=subject, role=role, ttl=lifetime)
            await uow.commit()
        return issued

    issued = with_container(settings, work)
    typer.echo(issued.token)
    typer.echo(
        f"token {issued.jti} for {issued.subject!r} ({issued.role.value}), expires {_when(issued.expires_at)}; "
        f"revoke it with: hotswap token revoke {issued.jti}",
        err=True,
    )


@token_app.command("list")
@reports_errors
def token_list(
    subject: Annotated[str | None, typer.Option(help="Only this subject's tokens")] = None,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked tokens")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line, for scripts")] = False,
) -> None:
    """The tokens issued (never the tokens themselves): id, subject, role, issued, expiry, revocation."""
    settings = load_settings()

    async def work(container: Container) -> tuple[list[Any], datetime]:
        async with container.uow(read_only=True) as uow:
            rows = await container.auth.list_tokens(uow, subject=subject, include_revoked=include_revoked, limit=limit)
        return rows, container.clock.now()

    rows, now = with_container(settings, work)
    listed = [
        {
            "id": r.jti,
            "subject": r.subject,
            "role": r.role,
            "issuedAt": _when(r.issued_at),
            "expiresAt": _when(r.expires_at),
            "issuedBy": r.issued_by,
            "status": "revoked" if r.revoked_at else "expired" if r.expires_at <= now else "active",
            "revokedAt": _when(r.revoked_at),
        }
        for r in rows
    ]
    _show(listed, ["id", "subject", "role", "issuedAt", "expiresAt", "status"], as_json, "no tokens")


@token_app.command("revoke")
@reports_errors
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (tok_...; see hotswap token list)")],
) -> None:
    """Revoke a token by id (audited)."""
    settings = load_settings()

    async def work(container: Container) -> bool:
        async with container.uow() as uow:
            changed = await container.auth.revoke_token(uow, CLI, token_id)
            await uow.commit()
        return changed

    try:
        changed = with_container(settings, work)
    except NotFound:
        raise Failure(f"no token with id {token_id!r}; `hotswap token list` shows the ids") from None
    err.print(f"revoked {token_id}" if changed else f"{token_id} was revoked already")


@key_app.command("create")
@reports_errors
def key_create(
    role: Annotated[Role, typer.Option()],
    name: Annotated[str, typer.Option(help="A name for the key, e.g. a game server fleet")],
) -> None:
    """Create an API key. Prints only the key on stdout, once; its id, which `hotswap key revoke`
    takes, goes to stderr."""
    settings = load_settings()

    async def work(container: Container) -> Any:
        async with container.uow() as uow:
            created = await container.auth.create_credential(uow, CLI, name=name, role=role)
            await uow.commit()
        return created

    created = with_container(settings, work)
    typer.echo(created.api_key)
    typer.echo(
        f"API key {created.id} {created.name!r} ({created.role.value}); "
        f"revoke it with: hotswap key revoke {created.id}",
        err=True,
    )


@key_app.command("list")
@reports_errors
def key_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many, newest first")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line, for scripts")] = False,
) -> None:
    """The API keys (never their secrets, which are not stored): id, name, role, created, revocation."""
    settings = load_settings()

    async def work(container: Container) -> list[Any]:
        async with container.uow(read_only=True) as uow:
            return await container.auth.list_credentials(uow, include_revoked=include_revoked, limit=limit)

    listed = [
        {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "createdAt": _when(r.created_at),
            "createdBy": r.created_by,
            "status": "revoked" if r.revoked_at else "active",
            "revokedAt": _when(r.revoked_at),
        }
        for r in with_container(settings, work)
    ]
    _show(listed, ["id", "name", "role", "createdAt", "createdBy", "status"], as_json, "no API keys")


@key_app.command("revoke")
@reports_errors
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...; see hotswap key list)")],
) -> None:
    """Revoke an API key by id, and every token issued from it (audited)."""
    settings = load_settings()
    # The key itself (hsk_<id>.<secret>) names its id: take that too rather than refuse it.
    credential_id = key_id.removeprefix(API_KEY_PREFIX).partition(".")[0]

    async def work(container: Container) -> bool:
        async with container.uow() as uow:
            changed = await container.auth.revoke_credential(uow, CLI, credential_id)
            await uow.commit()
        return changed

    try:
        changed = with_container(settings, work)
    except NotFound:
        raise Failure(f"no API key with id {credential_id!r}; `hotswap key list` shows the ids") from None
    err.print(
        f"revoked API key {credential_id} and the tokens issued from it"
        if changed
        else f"API key {credential_id} was revoked already"
    )


def _show(records: list[dict[str, str | None]], columns: list[str], as_json: bool, empty: str) -> None:
    """JSON lines, or a table of `columns` (a revoked status shows when; `-` marks nothing)."""
    if as_json:
        for record in records:
            typer.echo(json.dumps(record))
    elif not records:
        typer.echo(empty, err=True)
    else:
        rows = [{c: "-" if r[c] is None else str(r[c]) for c in columns} for r in records]
        for row, record in zip(rows, records, strict=True):
            if record.get("revokedAt"):
                row["status"] = f"revoked {record['revokedAt']}"
        _print_table(rows, columns)


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_table(rows: list[dict[str, str]], columns: list[str]) -> None:
    """Aligned columns on stdout under a header (`createdBy` heads CREATED BY)."""
    header = {c: re.sub(r"([A-Z])", r" \1", c).upper() for c in columns}
    widths = {c: max([len(header[c]), *(len(r[c]) for r in rows)]) for c in columns}
    for row in [header, *rows]:
        typer.echo("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())
