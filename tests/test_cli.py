"""The command line: migrations, tokens and API keys against a throwaway SQLite file."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
import typer
from typer.testing import CliRunner, Result

from hotswap.auth.model import Principal, Role
from hotswap.auth.tokens import TokenCodec
from hotswap.cli import app, parse_ttl
from hotswap.container import build_container
from hotswap.core.clock import ManualClock
from hotswap.core.errors import Unauthorized
from hotswap.settings import DEV_JWT_SECRET, Settings
from hotswap.storage import migrate as migrations
from hotswap.storage.preflight import DatabaseUnusable
from hotswap.tables import metadata

SECRET = "cli-test-secret-0123456789-0123456789-abcdef"
CLI = Principal(subject="cli", role=Role.ADMIN, token_id="-")


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
def test_token_create_stores_the_subject_canonical_and_refuses_invisible_characters(
    cli: CliRunnerCall, db_path: Path
) -> None:
    result = cli("token", "create", "--role", "operator", "--subject", "  Olivia ")
    assert result.exit_code == 0, result.output
    assert jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"], issuer="hotswap")["sub"] == "olivia"
    assert "for 'olivia'" in said(result)
    refused = cli("token", "create", "--role", "operator", "--subject", "oli\u200bvia")
    assert refused.exit_code != 0
    assert refused.stdout.strip() == ""
    assert "U+200B" in said(refused)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT subject FROM tokens").fetchall() == [("olivia",)]


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


# -- errors that say what to do ---------------------------------------------------------------


def lines_of(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_clear_line(result: Result, *needles: str, code: int = 1) -> str:
    """Exit `code`, one line on stderr holding every needle, nothing on stdout, no traceback."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    [line] = lines_of(result)
    for needle in needles:
        assert needle in line, line
    assert result.stdout == ""
    assert "Traceback" not in result.output
    return line


def test_a_command_before_migrate_says_to_migrate_and_creates_nothing(cli: CliRunnerCall, tmp_path: Path) -> None:
    nested = tmp_path / "not-yet" / "hotswap.db"
    result = cli("token", "create", "--role", "admin", "--subject", "ada", HOTSWAP_DATABASE_URL=f"sqlite:///{nested}")
    assert_one_clear_line(result, f"no database at {nested}", "run `hotswap migrate`")
    assert not nested.parent.exists()


def test_the_default_database_is_not_created_in_another_directory(
    cli: CliRunnerCall, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("token", "list", HOTSWAP_DATABASE_URL=None)  # type: ignore[arg-type]
    assert_one_clear_line(result, f"no database at {tmp_path / 'data' / 'hotswap.db'}", "run `hotswap migrate`")
    assert list(tmp_path.iterdir()) == []


def test_a_database_without_tables_says_to_migrate(cli: CliRunnerCall, db_path: Path) -> None:
    sqlite3.connect(db_path).close()  # an empty SQLite file
    for command in (["token", "list"], ["key", "create", "--role", "admin", "--name", "k"], ["token", "revoke", "x"]):
        result = cli(*command)
        assert_one_clear_line(result, "has no tables: run `hotswap migrate`")
    assert tables_in(db_path) == set()


def test_a_database_behind_the_code_says_to_migrate(cli: CliRunnerCall, env: dict[str, str], db_path: Path) -> None:
    migrations.upgrade(env["HOTSWAP_DATABASE_URL"], "0001")
    result = cli("token", "list")
    assert_one_clear_line(result, "is at migration 0001", f"needs {migrations.head_revision()}", "hotswap migrate")


def test_a_database_ahead_of_the_code_says_so(cli: CliRunnerCall, db_path: Path) -> None:
    assert cli("migrate").exit_code == 0
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    result = cli("token", "list")
    assert_one_clear_line(result, "at migration 9999_from_the_future", "does not know")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://admin:hunter2@db.internal/hotswap", "'mysql' is not supported"),
        ("notaurl", "not a database URL ('notaurl')"),
        ("postgresql+psycopg2://admin:hunter2@db/hotswap", "'psycopg2' driver is not installed"),
        ("sqlite+pysqlite:///x.db", "'pysqlite' driver is not installed"),
    ],
)
@pytest.mark.parametrize("command", [["migrate"], ["token", "list"]])
def test_an_unusable_database_url_names_the_accepted_forms(
    cli: CliRunnerCall, url: str, needle: str, command: list[str]
) -> None:
    result = cli(*command, HOTSWAP_DATABASE_URL=url)
    line = assert_one_clear_line(
        result,
        "HOTSWAP_DATABASE_URL",
        needle,
        "sqlite+aiosqlite:///path/to/hotswap.db",
        "postgresql+asyncpg://user:password@host:5432/dbname",
        code=2,
    )
    assert "hunter2" not in line


def test_the_plain_sqlite_url_is_accepted(cli: CliRunnerCall, db_path: Path) -> None:
    plain = f"sqlite:///{db_path}"
    assert cli("migrate", HOTSWAP_DATABASE_URL=plain).exit_code == 0
    result = cli("token", "create", "--role", "viewer", "--subject", "bob", HOTSWAP_DATABASE_URL=plain)
    assert result.exit_code == 0, result.output
    assert [row[0] for row in sqlite3.connect(db_path).execute("SELECT subject FROM tokens")] == ["bob"]


def _port_nobody_listens_on() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+asyncpg"])
@pytest.mark.parametrize("command", [["migrate"], ["token", "list"], ["worker"]])
def test_an_unreachable_database_is_one_line_without_the_password(
    cli: CliRunnerCall, scheme: str, command: list[str]
) -> None:
    url = f"{scheme}://hotswap:hunter2@127.0.0.1:{_port_nobody_listens_on()}/hotswap"
    result = cli(*command, HOTSWAP_DATABASE_URL=url)
    line = assert_one_clear_line(result, "cannot connect to the database at postgresql+asyncpg://hotswap:***@127.0.0.1")
    assert "HOTSWAP_DATABASE_URL" in line
    assert "hunter2" not in result.output


def test_debug_shows_the_traceback(cli: CliRunnerCall) -> None:
    result = cli("--debug", "token", "list")
    assert result.exit_code == 1
    assert isinstance(result.exception, DatabaseUnusable)
    assert "run `hotswap migrate`" in str(result.exception)


@pytest.mark.usefixtures("migrated")
def test_revoking_an_unknown_token_says_where_the_ids_are(cli: CliRunnerCall) -> None:
    result = cli("token", "revoke", "tok_nope")
    assert_one_clear_line(result, "no token with id 'tok_nope'", "`hotswap token list` shows the ids")


@pytest.mark.usefixtures("migrated")
def test_revoking_an_unknown_key_says_where_the_ids_are(cli: CliRunnerCall) -> None:
    result = cli("key", "revoke", "key_nope")
    assert_one_clear_line(result, "no API key with id 'key_nope'", "`hotswap key list` shows the ids")


# -- listing and revoking by id ----------------------------------------------------------------


def audit_of(db_path: Path, action: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db_path) as conn:
        query = "SELECT actor, target_id, summary FROM audit_records WHERE action = ? ORDER BY id"
        return list(conn.execute(query, (action,)))


@pytest.mark.usefixtures("migrated")
def test_token_create_tells_the_id_to_revoke_it_by(cli: CliRunnerCall, db_path: Path) -> None:
    created = cli("token", "create", "--role", "viewer", "--subject", "bob")
    jti = jwt.decode(created.stdout.strip(), SECRET, algorithms=["HS256"], issuer="hotswap")["jti"]
    assert f"revoke it with: hotswap token revoke {jti}" in created.stderr

    first = cli("token", "revoke", jti)
    assert first.exit_code == 0, first.output
    assert first.stderr.strip() == f"revoked {jti}"
    again = cli("token", "revoke", jti)
    assert again.exit_code == 0, again.output
    assert again.stderr.strip() == f"{jti} was revoked already"
    assert audit_of(db_path, "token.revoke") == [("cli", jti, f"revoked token {jti}")]  # once


@pytest.mark.usefixtures("migrated")
def test_token_list_shows_ids_and_states_but_never_a_token(
    cli: CliRunnerCall, env: dict[str, str], db_path: Path
) -> None:
    kept = cli("token", "create", "--role", "operator", "--subject", "olivia", "--ttl", "2h").stdout.strip()
    gone = cli("token", "create", "--role", "server", "--subject", "gs-1").stdout.strip()
    kept_id, gone_id = (jwt.decode(t, SECRET, algorithms=["HS256"], issuer="hotswap")["jti"] for t in (kept, gone))
    assert cli("token", "revoke", gone_id).exit_code == 0
    expired_id = issue_token_at(env, datetime.now(UTC) - timedelta(days=2), "old-timer")

    listed = cli("token", "list")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "SUBJECT", "ROLE", "ISSUED", "AT", "EXPIRES", "AT", "STATUS"]
    by_id = {row.split()[0]: row.split() for row in rows}
    assert set(by_id) == {kept_id, expired_id}  # revoked ones only with --all
    assert by_id[kept_id][1:3] == ["olivia", "operator"]
    assert by_id[kept_id][-1] == "active"
    assert by_id[expired_id][-1] == "expired"
    assert kept not in listed.output
    assert kept.split(".")[2] not in listed.output

    everything = cli("token", "list", "--all", "--json")
    records = {r["id"]: r for r in map(json.loads, everything.stdout.splitlines())}
    assert set(records) == {kept_id, gone_id, expired_id}
    assert records[gone_id]["status"] == "revoked"
    assert records[gone_id]["revokedAt"].endswith("Z")
    assert records[kept_id]["revokedAt"] is None
    assert records[kept_id]["issuedBy"] == "cli"
    text = cli("token", "list", "--all").stdout
    assert f"revoked {records[gone_id]['revokedAt']}" in text

    only = cli("token", "list", "--subject", "olivia", "--json").stdout.splitlines()
    assert [json.loads(line)["id"] for line in only] == [kept_id]


def issue_token_at(env: dict[str, str], at: datetime, subject: str) -> str:
    """A token issued (by the server's own service) at `at`, an hour long: expired now if `at` is past."""

    async def issue() -> str:
        container = build_container(settings_for(env), clock=ManualClock(at))
        try:
            async with container.uow() as uow:
                issued = await container.auth.issue_token(
                    uow, CLI, subject=subject, role=Role.VIEWER, ttl=timedelta(hours=1)
                )
                await uow.commit()
            return issued.jti
        finally:
            await container.aclose()

    return asyncio.run(issue())


@pytest.mark.usefixtures("migrated")
def test_lists_of_nothing_say_so(cli: CliRunnerCall) -> None:
    for command, said_ in ((["token", "list"], "no tokens"), (["key", "list"], "no API keys")):
        result = cli(*command)
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        assert result.stderr.strip() == said_


@pytest.mark.usefixtures("migrated")
def test_key_list_shows_ids_but_never_a_secret(cli: CliRunnerCall, db_path: Path) -> None:
    created = cli("key", "create", "--role", "server", "--name", "eu-fleet")
    api_key = created.stdout.strip()
    key_id = api_key.removeprefix("hsk_").partition(".")[0]
    assert f"revoke it with: hotswap key revoke {key_id}" in created.stderr
    with sqlite3.connect(db_path) as conn:
        [(secret_hash,)] = conn.execute("SELECT secret_hash FROM credentials")

    listed = cli("key", "list")
    assert listed.exit_code == 0, listed.output
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "ROLE", "CREATED", "AT", "CREATED", "BY", "STATUS"]
    assert row.split()[:3] == [key_id, "eu-fleet", "server"]
    assert row.split()[-2:] == ["cli", "active"]
    [record] = map(json.loads, cli("key", "list", "--json").stdout.splitlines())
    assert record["id"] == key_id
    assert record["revokedAt"] is None
    for shown in (listed.output, json.dumps(record)):
        assert api_key.partition(".")[2] not in shown
        assert secret_hash not in shown


@pytest.mark.usefixtures("migrated")
@pytest.mark.parametrize("given", ["id", "whole key"])
def test_key_revoke_locks_out_the_key_and_its_tokens_and_is_audited(
    cli: CliRunnerCall, env: dict[str, str], db_path: Path, given: str
) -> None:
    api_key = cli("key", "create", "--role", "server", "--name", "eu-fleet").stdout.strip()
    key_id = api_key.removeprefix("hsk_").partition(".")[0]
    issued = exchange(env, api_key)

    result = cli("key", "revoke", key_id if given == "id" else api_key)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"revoked API key {key_id} and the tokens issued from it"
    with pytest.raises(Unauthorized):
        exchange(env, api_key)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT revoked_at IS NOT NULL FROM tokens WHERE jti = ?", (issued,)).fetchone() == (1,)
    assert audit_of(db_path, "credential.revoke") == [
        ("cli", key_id, f"revoked API key {key_id} and the 1 token(s) issued from it")
    ]
    assert cli("key", "list").stderr.strip() == "no API keys"
    [record] = map(json.loads, cli("key", "list", "--all", "--json").stdout.splitlines())
    assert record["status"] == "revoked"

    again = cli("key", "revoke", key_id)
    assert again.exit_code == 0
    assert again.stderr.strip() == f"API key {key_id} was revoked already"
    assert len(audit_of(db_path, "credential.revoke")) == 1


def exchange(env: dict[str, str], api_key: str) -> str:
    async def run() -> str:
        container = build_container(settings_for(env))
        try:
            async with container.uow() as uow:
                issued = await container.auth.exchange_api_key(uow, api_key)
                await uow.commit()
            return issued.jti
        finally:
            await container.aclose()

    return asyncio.run(run())
