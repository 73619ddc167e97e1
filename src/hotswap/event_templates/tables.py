"""Event templates, with how often each was used."""

import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

event_templates = sa.Table(
    "event_templates",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("event_type", sa.String(50), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("event_class", sa.String(20), nullable=False),
    sa.Column("objectives", JSONType(), nullable=False),
    sa.Column("milestones", JSONType(), nullable=False),
    sa.Column("progression", sa.String(50), nullable=True),
    sa.Column("theme", JSONType(), nullable=True),
    sa.Column("layout", JSONType(), nullable=True),
    sa.Column("requires_leaderboard", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("requires_clan", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("minimum_player_level", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("configuration", JSONType(), nullable=False),  # an instance's configuration starts from it
    sa.Column("duration_seconds", sa.Integer(), nullable=True),  # an instance's default length
    sa.Column("usage_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    sa.Index("ix_event_templates_type", "event_type", "id"),
)
