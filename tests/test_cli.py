"""The command line: migrations, tokens and API keys against a throwaway SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import typer
from typer.testing import CliRunner, Result

from hotswap.auth.model import Role
from hotswap.auth.tokens import TokenCodec
from hotswap.cli import app, parse_ttl
from hotswap.container import build_container
from hotswap.core.clock import ManualClock
from hotswap.core.errors import Unauthorized
from hotswap.settings import DEV_JWT_SECRET, Settings
from hotswap.storage import migrate as migrations
from hotswap.tables import metadata

SECRET = "cli-test-secret-0123456789-0123456789-abcdef"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "x.db"


@pytest.fixture
def env(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # Only the variables below reach the CLI, whatever the shell running the tests exports.
    for name in Settings.model_fields:
        monkeypatch.delenv(f"HOTSWAP_{name.upper()}", raising=False)
    return {
        "HOTSWAP_ENV": "test",
        "HOTSWAP_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
        "HOTSWAP_JWT_SECRET": SECRET,
    }


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli(runner: CliRunner, env: dict[str, str]) -> CliRunnerCall:
    return CliRunnerCall(runner, env)


class CliRunnerCall:
    def __init__(self, runner: CliRunner, env: dict[str, str]) -> None:
        self.runner = runner
        self.env = env

    def __call__(self, *args: str, **extra_env: str) -> Result:
        return self.runner.invoke(app, list(args), env={**self.env, **extra_env})


@pytest.fixture
def migrated(cli: CliRunnerCall) -> None:
    result = cli("migrate")
    assert result.exit_code == 0, result.output


def said(result: Result) -> str:
    """Everything printed, with rich's box drawing and line wrapping folded into single spaces."""
    return " ".join(result.output.replace("│", " ").split())


def settings_for(env: dict[str, str]) -> Settings:
    return Settings(env="test", database_url=env["HOTSWAP_DATABASE_URL"], jwt_secret=env["HOTSWAP_JWT_SECRET"])


def tables_in(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def alembic_revision(db_path: Path) -> list[str]:
    with sqlite3.connect(db_path) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


# -- migrate --------------------------------------------------------------------------------


def test_migrate_creates_the_schema_at_head(cli: CliRunnerCall, db_path: Path) -> None:
    result = cli("migrate")
    assert result.exit_code == 0, result.output
    head = migrations.head_revision()
    assert head is not None
    assert alembic_revision(db_path) == [head]
    assert f"database at migration {head}" in said(result)
    assert set(metadata.tables) | {"alembic_version"} <= tables_in(db_path)


def test_migrate_twice_is_harmless(cli: CliRunnerCall, db_path: Path) -> None:
    first = cli("migrate")
    assert first.exit_code == 0, first.output
    tables = tables_in(db_path)
    second = cli("migrate")
    assert second.exit_code == 0, second.output
    assert tables_in(db_path) == tables
    assert alembic_revision(db_path) == [migrations.head_revision()]


def test_migrate_creates_the_database_directory(cli: CliRunnerCall, tmp_path: Path) -> None:
    nested = tmp_path / "nested" / "dir" / "h.db"
    result = cli("migrate", HOTSWAP_DATABASE_URL=f"sqlite+aiosqlite:///{nested}")
    assert result.exit_code == 0, result.output
    assert nested.exists()


def test_invalid_settings_stop_the_cli_with_a_message(cli: CliRunnerCall, db_path: Path) -> None:
    result = cli("migrate", HOTSWAP_ENV="production", HOTSWAP_JWT_SECRET=DEV_JWT_SECRET)
    assert result.exit_code == 2
    assert "invalid settings" in said(result)
    assert "development secret" in said(result)
    assert not db_path.exists()


# -- token create ---------------------------------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_token_create_prints_a_token_for_the_role_subject_and_ttl(cli: CliRunnerCall, env: dict[str, str]) -> None:
    result = cli("token", "create", "--role", "viewer", "--subject", "bob", "--ttl", "2h")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert "\n" not in token  # only the token, so `TOKEN=$(hotswap token create ...)` works

    claims = jwt.decode(token, SECRET, algorithms=["HS256"], issuer="hotswap")
    assert claims["role"] == "viewer"
    assert claims["sub"] == "bob"
    assert claims["exp"] - claims["iat"] == 2 * 3600

    # The server's own codec accepts it until the two hours are over, by its clock.
    issued_at = datetime.fromtimestamp(claims["iat"], UTC)
    clock = ManualClock(issued_at + timedelta(hours=2) - timedelta(seconds=1))
    codec = TokenCodec(SECRET, "HS256", "hotswap", clock)
    principal = codec.decode(token)
    assert (principal.subject, principal.role, principal.token_id) == ("bob", Role.VIEWER, claims["jti"])
    clock.advance(timedelta(seconds=1))
    with pytest.raises(Unauthorized, match="expired"):
        codec.decode(token)


@pytest.mark.usefixtures("migrated")
def test_token_create_records_the_token(cli: CliRunnerCall, db_path: Path) -> None:
    result = cli("token", "create", "--role", "operator", "--subject", "olivia")
    assert result.exit_code == 0, result.output
    jti = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], issuer="hotswap")["jti"]
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT subject, role FROM tokens WHERE jti = ?", (jti,)).fetchall()
    assert rows == [("olivia", "operator")]


@pytest.mark.usefixtures("migrated")
@pytest.mark.parametrize(("role", "seconds"), [("viewer", 3600), ("server", 365 * 24 * 3600)])
def test_token_lifetime_defaults_by_role(cli: CliRunnerCall, role: str, seconds: int) -> None:
    result = cli("token", "create", "--role", role, "--subject", "fleet-eu")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], issuer="hotswap")
    assert claims["exp"] - claims["iat"] == seconds


@pytest.mark.usefixtures("migrated")
def test_token_create_uses_the_configured_secret(cli: CliRunnerCall) -> None:
    result = cli("token", "create", "--role", "admin", "--subject", "ada")
    assert result.exit_code == 0, result.output
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(result.stdout.strip(), DEV_JWT_SECRET, algorithms=["HS256"])


@pytest.mark.usefixtures("migrated")
def test_token_create_refuses_an_unknown_role(cli: CliRunnerCall) -> None:
    result = cli("token", "create", "--role", "root", "--subject", "bob")
    assert result.exit_code != 0
    assert "--role" in said(result)
    assert "root" in said(result)


@pytest.mark.usefixtures("migrated")
@pytest.mark.parametrize("ttl", ["0", "-5", "2x", "1.5h", "h", "two hours"])
def test_token_create_refuses_an_invalid_ttl(cli: CliRunnerCall, ttl: str, db_path: Path) -> None:
    result = cli("token", "create", "--role", "viewer", "--subject", "bob", "--ttl", ttl)
    assert result.exit_code != 0
    assert "positive number" in said(result)
    assert result.stdout.count(".") < 2  # no token was printed
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM tokens").fetchone() == (0,)


@pytest.mark.usefixtures("migrated")
def test_token_create_refuses_a_blank_subject(cli: CliRunnerCall) -> None:
    result = cli("token", "create", "--role", "viewer", "--subject", "   ")
    assert result.exit_code != 0
    assert result.stdout.strip() == ""


def test_token_create_needs_role_and_subject(cli: CliRunnerCall) -> None:
    result = cli("token", "create", "--subject", "bob")
    assert result.exit_code != 0
    assert "--role" in said(result)


@pytest.mark.usefixtures("migrated")
def test_token_revoke_marks_the_token_revoked(cli: CliRunnerCall, db_path: Path) -> None:
    created = cli("token", "create", "--role", "viewer", "--subject", "bob")
    jti = jwt.decode(created.stdout.strip(), SECRET, algorithms=["HS256"], issuer="hotswap")["jti"]
    result = cli("token", "revoke", jti)
    assert result.exit_code == 0, result.output
    assert f"revoked {jti}" in said(result)
    with sqlite3.connect(db_path) as conn:
        [(revoked_at,)] = conn.execute("SELECT revoked_at FROM tokens WHERE jti = ?", (jti,)).fetchall()
    assert revoked_at is not None


# -- key create -----------------------------------------------------------------------------


@pytest.mark.usefixtures("migrated")
def test_key_create_prints_a_working_api_key(cli: CliRunnerCall, env: dict[str, str]) -> None:
    result = cli("key", "create", "--role", "server", "--name", "fleet-eu")
    assert result.exit_code == 0, result.output
    api_key = result.stdout.strip()
    assert api_key.startswith("hsk_key_")
    assert "." in api_key

    async def exchange() -> tuple[str, Role]:
        container = build_container(settings_for(env))
        try:
            async with container.uow() as uow:
                issued = await container.auth.exchange_api_key(uow, api_key)
                await uow.commit()
            return issued.subject, issued.role
        finally:
            await container.aclose()

    assert asyncio.run(exchange()) == ("fleet-eu", Role.SERVER)


@pytest.mark.usefixtures("migrated")
def test_each_key_is_different(cli: CliRunnerCall) -> None:
    first = cli("key", "create", "--role", "viewer", "--name", "a").stdout.strip()
    second = cli("key", "create", "--role", "viewer", "--name", "a").stdout.strip()
    assert first.startswith("hsk_")
    assert second.startswith("hsk_")
    assert first != second


def test_key_create_refuses_an_unknown_role(cli: CliRunnerCall) -> None:
    result = cli("key", "create", "--role", "superuser", "--name", "x")
    assert result.exit_code != 0
    assert "--role" in said(result)


# -- ttl parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("45s", 45),
        ("90m", 90 * 60),
        ("2h", 7200),
        ("12H", 12 * 3600),
        (" 30d ", 30 * 86400),
        ("52w", 52 * 7 * 86400),
    ],
)
def test_parse_ttl_understands_units(text: str, seconds: int) -> None:
    assert parse_ttl(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0", "0h", "-1", "1.5h", "h", "10y", "1 h", "2hh"])
def test_parse_ttl_refuses_anything_else(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="positive number"):
        parse_ttl(text)


def test_no_command_prints_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert "migrate" in said(result)
    assert "token" in said(result)
