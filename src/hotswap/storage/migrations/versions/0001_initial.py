"""initial schema: auth, audit, approvals, configs

Revision ID: 0001
Revises:
Create Date: 2026-11-23 14:29:31.763127
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import hotswap.storage.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "approvals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=50), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column(
            "requested_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column(
            "decided_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint(
            "subject_type",
            "subject_id",
            name=op.f("uq_approvals_subject_type_subject_id"),
        ),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index("ix_approvals_status", ["status"], unique=False)

    op.create_table(
        "audit_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=200), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("before_ref", sa.String(length=200), nullable=True),
        sa.Column("after_ref", sa.String(length=200), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_records")),
    )
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.create_index("ix_audit_records_actor", ["actor"], unique=False)
        batch_op.create_index("ix_audit_records_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_records_target", ["target_type", "target_id"], unique=False)

    op.create_table(
        "config_profiles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("environment", sa.String(length=20), nullable=False),
        sa.Column("service_type", sa.String(length=100), nullable=True),
        sa.Column("schema_version", sa.String(length=50), nullable=True),
        sa.Column(
            "json_schema",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("game_id", sa.String(length=200), nullable=True),
        sa.Column("config_type", sa.String(length=100), nullable=True),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("live_version_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column(
            "updated_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column(
            "archived_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["config_profiles.id"],
            name=op.f("fk_config_profiles_parent_id_config_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_config_profiles_name")),
    )
    with op.batch_alter_table("config_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_config_profiles_game_id", ["game_id"], unique=False)

    op.create_table(
        "credentials",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column(
            "revoked_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
    )
    op.create_table(
        "tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column(
            "issued_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "expires_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("credential_id", sa.String(length=64), nullable=True),
        sa.Column(
            "revoked_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_tokens")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index("ix_tokens_subject", ["subject"], unique=False)

    op.create_table(
        "config_versions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("checksum", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["config_profiles.id"],
            name=op.f("fk_config_versions_profile_id_config_profiles"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_versions")),
        sa.UniqueConstraint("profile_id", "seq", name=op.f("uq_config_versions_profile_id_seq")),
        sa.UniqueConstraint("profile_id", "version", name=op.f("uq_config_versions_profile_id_version")),
    )
    op.create_table(
        "config_releases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("previous_version_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column(
            "requested_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=False,
        ),
        sa.Column(
            "decided_at",
            hotswap.storage.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("approval_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["config_profiles.id"],
            name=op.f("fk_config_releases_profile_id_config_profiles"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["config_versions.id"],
            name=op.f("fk_config_releases_version_id_config_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_config_releases")),
    )
    with op.batch_alter_table("config_releases", schema=None) as batch_op:
        batch_op.create_index("ix_config_releases_profile", ["profile_id", "requested_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("config_releases", schema=None) as batch_op:
        batch_op.drop_index("ix_config_releases_profile")

    op.drop_table("config_releases")
    op.drop_table("config_versions")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_tokens_subject")

    op.drop_table("tokens")
    op.drop_table("credentials")
    with op.batch_alter_table("config_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_config_profiles_game_id")

    op.drop_table("config_profiles")
    with op.batch_alter_table("audit_records", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_records_target")
        batch_op.drop_index("ix_audit_records_at")
        batch_op.drop_index("ix_audit_records_actor")

    op.drop_table("audit_records")
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_approvals_status")

    op.drop_table("approvals")
