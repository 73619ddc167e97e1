import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import UTCDateTime

# API keys: long-lived secrets exchanged for short-lived JWTs (POST /api/v1/auth/token).
# Only a SHA-256 of the 256-bit random secret is stored; a slow KDF buys nothing for
# secrets of that entropy and would cost every exchange.
credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

# Every token this service signs, so it can be listed and revoked by its `jti`.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("issued_by", sa.String(200), nullable=False),
    sa.Column("credential_id", sa.String(64), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_by", sa.String(200), nullable=True),
    sa.Index("ix_tokens_subject", "subject"),
)
