"""fleet: regions (with the default ones) and registered game servers

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import hotswap.storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out here rather than imported: a migration must keep meaning what it meant when it ran.
DEFAULT_REGIONS = [
    {
        "id": "NA-WEST",
        "display_name": "North America West",
        "time_zone": "America/Los_Angeles",
        "rollout_order": 1,
        "aliases": ["us-west", "na-west"],
    },
    {
        "id": "NA-EAST",
        "display_name": "North America East",
        "time_zone": "America/New_York",
        "rollout_order": 2,
        "aliases": ["us-east", "na-east"],
    },
    {
        "id": "EU-WEST",
        "display_name": "Europe West",
        "time_zone": "Europe/London",
        "rollout_order": 3,
        "aliases": ["eu-west"],
    },
    {
        "id": "EU-EAST",
        "display_name": "Europe East",
        "time_zone": "Europe/Berlin",
        "rollout_order": 4,
        "aliases": ["eu-east", "eu-central"],
    },
    {
        "id": "APAC",
        "display_name": "Asia Pacific",
        "time_zone": "Asia/Singapore",
        "rollout_order": 5,
        "aliases": ["apac", "ap-southeast", "asia"],
    },
]


def upgrade() -> None:
    regions = op.create_table(
        "regions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=100), nullable=False),
        sa.Column("rollout_order", sa.Integer(), nullable=False),
        sa.Column("aliases", hotswap.storage.types.JSONType(), nullable=False),
        sa.Column("created_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
    )
    op.create_table(
        "game_servers",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("game", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("labels", hotswap.storage.types.JSONType(), nullable=False),
        sa.Column("build", sa.String(length=100), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("registered_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.Column("last_heartbeat_at", hotswap.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("player_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("health", hotswap.storage.types.JSONType(), nullable=False),
        sa.Column("environment", sa.String(length=20), nullable=True),
        sa.Column("applied_revision", sa.BigInteger(), nullable=True),
        sa.Column("config_versions", hotswap.storage.types.JSONType(), nullable=False),
        sa.ForeignKeyConstraint(["region"], ["regions.id"], name=op.f("fk_game_servers_region_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game_servers")),
    )
    with op.batch_alter_table("game_servers") as batch:
        batch.create_index("ix_game_servers_region", ["region", "id"], unique=False)

    now = datetime.now(UTC)
    op.bulk_insert(
        regions,
        [
            {**r, "created_at": now, "created_by": "system", "updated_at": now, "updated_by": "system", "revision": 1}
            for r in DEFAULT_REGIONS
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("game_servers") as batch:
        batch.drop_index("ix_game_servers_region")
    op.drop_table("game_servers")
    op.drop_table("regions")
