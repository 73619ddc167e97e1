"""One typed settings object, read from HOTSWAP_* environment variables at the composition root.

Pure code never reads settings; the app factory, the CLI and tests build a `Settings` and pass
what each part needs.
"""

from __future__ import annotations

from typing import Literal

from limits import parse as parse_rate
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hotswap.storage.engine import normalize_database_url

# Development only: a production start with this secret is refused (see `_refuse_dev_secret`).
DEV_JWT_SECRET = "hotswap-development-secret-do-not-use-in-production"

Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOTSWAP_", extra="ignore")

    # -- runtime
    env: Environment = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: str = "INFO"
    data_dir: str = "./data"

    # -- storage and shared infrastructure
    database_url: str = "sqlite+aiosqlite:///./data/hotswap.db"
    redis_url: str | None = None
    database_echo: bool = False
    # How often each process compares the stored snapshot revisions with the ones it holds, to
    # catch up on a missed change-bus message (0 turns the check off; tests drive it by hand).
    snapshot_check_seconds: float = Field(default=5.0, ge=0)
    # The snapshot stream: a heartbeat when nothing else was sent for this long, and how many
    # revisions a client may fall behind (its socket not draining) before it is disconnected.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    stream_backlog: int = Field(default=32, ge=1, le=10_000)

    # -- auth
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    jwt_issuer: str = "hotswap"
    token_ttl_seconds: int = Field(default=3600, gt=0)
    server_token_ttl_seconds: int = Field(default=365 * 24 * 3600, gt=0)
    bootstrap_admin: bool = True
    # The OpenAPI document and its viewers need a token unless this is set (only /health and
    # /ready are public by default; the token exchange takes an API key instead of a token).
    public_docs: bool = False

    # -- fleet
    # A game server is healthy while its last heartbeat is at most this old.
    server_heartbeat_timeout_seconds: float = Field(default=30.0, gt=0)
    # The rollout worker runs in each API process unless false (then run `hotswap worker`).
    worker: bool = True
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    # A failing scheduled event transition is retried after 1x, 2x and 4x this, then dead-lettered.
    event_retry_seconds: float = Field(default=1.0, gt=0, le=3600)
    # A player active before a deployment who has not played for this long since is churned.
    churn_horizon_seconds: float = Field(default=86_400.0, gt=0)

    # -- webhooks
    # Receivers on private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) and loopback
    # addresses are refused unless this is set: a webhook URL is chosen by whoever holds the admin
    # role, and must not become a way to reach the services inside the network. Cloud metadata,
    # link-local, multicast and reserved addresses are refused whatever this says.
    webhook_allow_private_networks: bool = False

    # -- request limits
    rate_limit_per_token: str = "600/minute"
    rate_limit_per_address: str = "1200/minute"
    rate_limit_enabled: bool = True
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    # Requests one API process handles at once (granian's backpressure). Each open snapshot
    # stream is one for as long as it lasts, so this bounds the game servers a replica can
    # stream to, with room left for the other requests.
    max_concurrent_requests: int = Field(default=16_384, ge=64)

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        # Here, so the server and every command refuse a URL with the same message, before
        # anything connects (an unsupported driver is otherwise a long traceback at first use).
        return normalize_database_url(value)

    @field_validator("rate_limit_per_token", "rate_limit_per_address")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        parse_rate(value)  # raises ValueError with a readable message
        return value

    @model_validator(mode="after")
    def _refuse_dev_secret(self) -> Settings:
        if self.env == "production" and self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            raise ValueError("HOTSWAP_JWT_SECRET is the development secret; set a strong secret to run in production")
        # RFC 7518 3.2: an HMAC key at least as long as the hash output (PyJWT warns otherwise).
        needed = {"HS256": 32, "HS384": 48, "HS512": 64}[self.jwt_algorithm]
        if len(self.jwt_secret.get_secret_value().encode()) < needed:
            raise ValueError(f"HOTSWAP_JWT_SECRET must be at least {needed} bytes for {self.jwt_algorithm}")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def settings_problems(exc: ValidationError) -> list[str]:
    """One line per refused setting, named by its variable (`HOTSWAP_DATABASE_URL: ...`), without
    the value, which may hold a password or a secret."""
    lines = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = error.get("loc") or ()
        lines.append(f"HOTSWAP_{str(loc[0]).upper()}: {message}" if loc else message)
    return lines
