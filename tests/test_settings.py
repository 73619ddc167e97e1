"""Settings: read from HOTSWAP_* variables, validated at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hotswap.settings import DEV_JWT_SECRET, Settings, settings_problems

STRONG_SECRET = "prod-secret-0123456789-0123456789-abcdef-0123456789-0123456789-abcdef"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the shell running the tests exports must not leak into these settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"HOTSWAP_{name.upper()}", raising=False)


def test_defaults_serve_sqlite_under_data_on_port_8080() -> None:
    settings = Settings()
    assert settings.env == "development"
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.data_dir == "./data"
    assert settings.database_url == "sqlite+aiosqlite:///./data/hotswap.db"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    assert settings.jwt_algorithm == "HS256"
    assert settings.token_ttl_seconds == 3600
    assert settings.server_token_ttl_seconds == 365 * 24 * 3600
    assert settings.rate_limit_enabled
    assert settings.public_docs is False


def test_reads_hotswap_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_PORT", "9090")
    monkeypatch.setenv("HOTSWAP_DATABASE_URL", "postgresql+asyncpg://db/hotswap")
    monkeypatch.setenv("HOTSWAP_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("HOTSWAP_JWT_ALGORITHM", "HS512")
    monkeypatch.setenv("HOTSWAP_TOKEN_TTL_SECONDS", "600")
    monkeypatch.setenv("HOTSWAP_RATE_LIMIT_PER_TOKEN", "10/second")
    monkeypatch.setenv("HOTSWAP_RATE_LIMIT_ENABLED", "false")
    settings = Settings()
    assert settings.port == 9090
    assert settings.database_url == "postgresql+asyncpg://db/hotswap"
    assert not settings.is_sqlite
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.jwt_secret.get_secret_value() == STRONG_SECRET
    assert settings.jwt_algorithm == "HS512"
    assert settings.token_ttl_seconds == 600
    assert settings.rate_limit_per_token == "10/second"
    assert settings.rate_limit_enabled is False


def test_webhooks_reach_private_networks_only_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().webhook_allow_private_networks is False
    monkeypatch.setenv("HOTSWAP_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
    assert Settings().webhook_allow_private_networks is True


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9999")
    assert Settings().port == 8080


def test_unknown_hotswap_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_NOT_A_SETTING", "x")
    assert Settings().port == 8080


def test_secret_is_not_shown_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", STRONG_SECRET)
    settings = Settings()
    assert STRONG_SECRET not in repr(settings)
    assert STRONG_SECRET not in str(settings.model_dump())


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", "production")
    with pytest.raises(ValidationError, match="development secret"):
        Settings()


def test_production_refuses_the_development_secret_given_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", "production")
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", DEV_JWT_SECRET)
    with pytest.raises(ValidationError, match="development secret"):
        Settings()


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_production_refuses_a_short_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", "production")
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", secret)
    with pytest.raises(ValidationError, match="at least 32 bytes for HS256"):
        Settings()


def test_production_accepts_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", "production")
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", "x" * 32)
    assert Settings().env == "production"


@pytest.mark.parametrize("env", ["development", "test"])
def test_other_environments_allow_the_development_secret(env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", env)
    assert Settings().jwt_secret.get_secret_value() == DEV_JWT_SECRET


@pytest.mark.parametrize(("algorithm", "needed"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
@pytest.mark.parametrize("env", ["development", "test", "production"])
def test_every_environment_refuses_a_key_shorter_than_the_hash(
    env: str, algorithm: str, needed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", env)
    monkeypatch.setenv("HOTSWAP_JWT_ALGORITHM", algorithm)
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", "k" * (needed - 1))
    with pytest.raises(ValidationError, match=f"at least {needed} bytes for {algorithm}"):
        Settings()
    monkeypatch.setenv("HOTSWAP_JWT_SECRET", "k" * needed)
    assert Settings().jwt_algorithm == algorithm


def test_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_ENV", "staging")
    with pytest.raises(ValidationError, match="env"):
        Settings()


@pytest.mark.parametrize("variable", ["HOTSWAP_RATE_LIMIT_PER_TOKEN", "HOTSWAP_RATE_LIMIT_PER_ADDRESS"])
@pytest.mark.parametrize("value", ["lots", "10 per fortnight", "", "/minute"])
def test_invalid_rate_limit_is_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=variable.removeprefix("HOTSWAP_").lower()):
        Settings()


@pytest.mark.parametrize("value", ["100/minute", "5 per second", "1000/hour", "10/second;100/minute"])
def test_valid_rate_limits_are_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HOTSWAP_RATE_LIMIT_PER_ADDRESS", value)
    assert Settings().rate_limit_per_address == value


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HOTSWAP_PORT", "0"),
        ("HOTSWAP_PORT", "70000"),
        ("HOTSWAP_PORT", "http"),
        ("HOTSWAP_TOKEN_TTL_SECONDS", "0"),
        ("HOTSWAP_SERVER_TOKEN_TTL_SECONDS", "-1"),
        ("HOTSWAP_MAX_BODY_BYTES", "0"),
        ("HOTSWAP_JWT_ALGORITHM", "none"),
        ("HOTSWAP_JWT_ALGORITHM", "RS256"),
    ],
)
def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_keyword_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_PORT", "9090")
    assert Settings(port=7000).port == 7000


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite+aiosqlite:///./data/hotswap.db", "sqlite+aiosqlite:///./data/hotswap.db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////abs/path/x.db", "sqlite+aiosqlite:////abs/path/x.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        (" sqlite:///x.db\n", "sqlite+aiosqlite:///x.db"),
        ("postgresql+asyncpg://u:p@db:5432/hotswap", "postgresql+asyncpg://u:p@db:5432/hotswap"),
        ("postgresql://u:p@db:5432/hotswap", "postgresql+asyncpg://u:p@db:5432/hotswap"),
        ("postgres://u:p%40ss@db/hotswap", "postgresql+asyncpg://u:p%40ss@db/hotswap"),
        ("postgres://u@db/hotswap?sslmode=require", "postgresql+asyncpg://u@db/hotswap?ssl=require"),
    ],
)
def test_database_urls_without_a_driver_get_ours(monkeypatch: pytest.MonkeyPatch, given: str, used: str) -> None:
    monkeypatch.setenv("HOTSWAP_DATABASE_URL", given)
    assert Settings().database_url == used


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("mysql://admin:hunter2@db/hotswap", "'mysql' is not supported: HotSwap runs on SQLite or PostgreSQL"),
        ("mssql+pyodbc://admin:hunter2@db/hotswap", "'mssql' is not supported"),
        ("postgresql+psycopg://admin:hunter2@db/hotswap", "the 'psycopg' driver is not installed"),
        ("sqlite+pysqlite:///x.db", "the 'pysqlite' driver is not installed: HotSwap reaches sqlite with aiosqlite"),
        ("notaurl", "not a database URL ('notaurl')"),
        ("", "not a database URL ('')"),
        ("admin:hunter2@db/hotswap", "not a database URL;"),
    ],
)
def test_an_unusable_database_url_is_refused_with_the_accepted_forms(
    monkeypatch: pytest.MonkeyPatch, given: str, reason: str
) -> None:
    monkeypatch.setenv("HOTSWAP_DATABASE_URL", given)
    with pytest.raises(ValidationError) as caught:
        Settings()
    [line] = settings_problems(caught.value)
    assert line.startswith("HOTSWAP_DATABASE_URL: ")
    assert reason in line
    assert line.endswith(
        "use sqlite+aiosqlite:///path/to/hotswap.db or postgresql+asyncpg://user:password@host:5432/dbname"
    )
    assert "hunter2" not in line


def test_settings_problems_name_each_variable_once_without_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOTSWAP_PORT", "http")
    monkeypatch.setenv("HOTSWAP_RATE_LIMIT_PER_TOKEN", "lots")
    with pytest.raises(ValidationError) as caught:
        Settings()
    problems = settings_problems(caught.value)
    assert [p.partition(":")[0] for p in problems] == ["HOTSWAP_PORT", "HOTSWAP_RATE_LIMIT_PER_TOKEN"]
    assert not [p for p in problems if "Value error" in p or "input_value" in p]
