"""Regions and game servers.

`game_servers` takes a heartbeat per server every few seconds: it has no index on the columns a
heartbeat writes, so PostgreSQL can update those rows in place (HOT) and SQLite touches one b-tree.
"""

import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

regions = sa.Table(
    "regions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),  # canonical: upper case
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("time_zone", sa.String(100), nullable=False),
    sa.Column("rollout_order", sa.Integer(), nullable=False),
    # Lower-case names it also answers to. Unique across regions (ids included): the service
    # checks that with the table locked for region writes (see the repository).
    sa.Column("aliases", JSONType(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
)

game_servers = sa.Table(
    "game_servers",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # as the game names it; case-sensitive
    sa.Column("game", sa.String(200), nullable=False),
    # A region with registered servers cannot be deleted: the key is the net under the check.
    sa.Column("region", sa.String(40), sa.ForeignKey("regions.id"), nullable=False),
    sa.Column("labels", JSONType(), nullable=False),
    sa.Column("build", sa.String(100), nullable=False),
    sa.Column("capacity", sa.Integer(), nullable=False),
    sa.Column("registered_at", UTCDateTime(), nullable=False),
    sa.Column("registered_by", sa.String(200), nullable=False),
    # What heartbeats write.
    sa.Column("last_heartbeat_at", UTCDateTime(), nullable=False),
    sa.Column("player_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("health", JSONType(), nullable=False),
    sa.Column("environment", sa.String(20), nullable=True),
    sa.Column("applied_revision", sa.BigInteger(), nullable=True),
    sa.Column("config_versions", JSONType(), nullable=False),
    sa.Index("ix_game_servers_region", "region", "id"),
)
