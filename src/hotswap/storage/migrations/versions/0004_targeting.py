"""targeting: segments (with the built-in ones), players, snapshot revisions, config rules

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import hotswap.storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration must keep meaning what it meant when it ran.
BUILTIN_SEGMENTS = [
    {
        "id": "vip",
        "name": "VIP players",
        "description": "Players who have spent at least 100 in total.",
        "condition": {"totalSpend": {"$gte": 100}},
    },
    {
        "id": "new-players",
        "name": "New players",
        "description": "Players who installed less than 7 days ago.",
        "condition": {"daysSinceInstall": {"$lt": 7}},
    },
    {
        "id": "inactive-players",
        "name": "Inactive players",
        "description": "Players who have not logged in for 14 days or more.",
        "condition": {"daysSinceLastLogin": {"$gte": 14}},
    },
]


def upgrade() -> None:
    segments = op.create_table(
        "segments",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("condition", hotswap.storage.types.JSONType(), nullable=False),
        sa.Column("builtin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    op.create_table(
        "players",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("attributes", hotswap.storage.types.JSONType(), nullable=False),
        sa.Column("first_seen", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sessions", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "total_spend", sa.Numeric(precision=18, scale=4, asdecimal=False), server_default="0", nullable=False
        ),
        sa.Column("created_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_players")),
    )
    with op.batch_alter_table("players") as batch:
        batch.create_index("ix_players_last_seen", ["last_seen"], unique=False)
    revisions = op.create_table(
        "snapshot_revisions",
        sa.Column("environment", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("environment", name=op.f("pk_snapshot_revisions")),
    )
    with op.batch_alter_table("config_profiles") as batch:
        batch.add_column(sa.Column("targeting", hotswap.storage.types.JSONType(), nullable=True))

    now = datetime.now(UTC)
    op.bulk_insert(
        segments,
        [
            {**s, "builtin": True, "created_at": now, "created_by": "system", "updated_at": now, "updated_by": "system"}
            for s in BUILTIN_SEGMENTS
        ],
    )
    # One row per environment from the start: a bump is then always a plain UPDATE.
    op.bulk_insert(
        revisions,
        [{"environment": env, "revision": 1, "changed_at": now} for env in ("Development", "Staging", "Production")],
    )


def downgrade() -> None:
    with op.batch_alter_table("config_profiles") as batch:
        batch.drop_column("targeting")
    op.drop_table("snapshot_revisions")
    with op.batch_alter_table("players") as batch:
        batch.drop_index("ix_players_last_seen")
    op.drop_table("players")
    op.drop_table("segments")
