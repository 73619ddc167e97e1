import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

players = sa.Table(
    "players",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    # What the game tells us: country, region, platform, level, ...
    sa.Column("attributes", JSONType(), nullable=False),
    # What the service maintains from the player's activity.
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("last_seen", UTCDateTime(), nullable=False),
    sa.Column("sessions", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("total_spend", sa.Numeric(18, 4, asdecimal=False), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    sa.Index("ix_players_last_seen", "last_seen"),
)
