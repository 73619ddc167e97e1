"""live events: templates, instances with their versions and history, per-region windows, the
scheduler's timers, and each event's participants

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotswap.storage.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = hotswap.storage.types.JSONType
UTC = hotswap.storage.types.UTCDateTime


def _authored() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    ]


def upgrade() -> None:
    op.create_table(
        "event_templates",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("event_class", sa.String(20), nullable=False),
        sa.Column("objectives", JSON(), nullable=False),
        sa.Column("milestones", JSON(), nullable=False),
        sa.Column("progression", sa.String(50), nullable=True),
        sa.Column("theme", JSON(), nullable=True),
        sa.Column("layout", JSON(), nullable=True),
        sa.Column("requires_leaderboard", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("requires_clan", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("minimum_player_level", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("configuration", JSON(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_used_at", UTC(), nullable=True),
        *_authored(),
    )
    op.create_index("ix_event_templates_type", "event_templates", ["event_type", "id"])
    op.create_table(
        "live_events",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("environment", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("event_class", sa.String(20), nullable=False),
        sa.Column("template_id", sa.String(100), sa.ForeignKey("event_templates.id"), nullable=True),
        sa.Column("spec", JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("start_at", UTC(), nullable=False),
        sa.Column("end_at", UTC(), nullable=False),
        *_authored(),
    )
    op.create_index("ix_live_events_span", "live_events", ["environment", "start_at", "end_at"])
    op.create_index("ix_live_events_status", "live_events", ["environment", "status"])
    op.create_table(
        "live_event_versions",
        sa.Column("event_id", sa.String(100), sa.ForeignKey("live_events.id"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("spec", JSON(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "live_event_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("action", sa.String(40), nullable=True),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("region", sa.String(40), nullable=True),
        sa.Column("detail", JSON(), nullable=True),
    )
    op.create_index("ix_live_event_history_event", "live_event_history", ["event_id", "id"])
    op.create_table(
        "live_event_windows",
        sa.Column("event_id", sa.String(100), sa.ForeignKey("live_events.id"), primary_key=True),
        sa.Column("region", sa.String(40), primary_key=True),
        sa.Column("start_at", UTC(), nullable=False),
        sa.Column("end_at", UTC(), nullable=False),
        sa.Column("opened_at", UTC(), nullable=True),
        sa.Column("closed_at", UTC(), nullable=True),
    )
    op.create_table(
        "event_timers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), sa.ForeignKey("live_events.id"), nullable=False),
        sa.Column("region", sa.String(40), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("due_at", UTC(), nullable=False),
        sa.Column("next_at", UTC(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", UTC(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
    )
    op.create_index("ix_event_timers_next", "event_timers", ["state", "next_at"])
    op.create_index("ix_event_timers_event", "event_timers", ["event_id", "state"])
    op.create_table(
        "event_participants",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("player_id", sa.String(200), primary_key=True),
        sa.Column("first_at", UTC(), nullable=False),
        sa.Column("last_at", UTC(), nullable=False),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("purchases", sa.BigInteger(), nullable=False),
        sa.Column("revenue", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_participants")
    op.drop_index("ix_event_timers_event", table_name="event_timers")
    op.drop_index("ix_event_timers_next", table_name="event_timers")
    op.drop_table("event_timers")
    op.drop_table("live_event_windows")
    op.drop_index("ix_live_event_history_event", table_name="live_event_history")
    op.drop_table("live_event_history")
    op.drop_table("live_event_versions")
    op.drop_index("ix_live_events_status", table_name="live_events")
    op.drop_index("ix_live_events_span", table_name="live_events")
    op.drop_table("live_events")
    op.drop_index("ix_event_templates_type", table_name="event_templates")
    op.drop_table("event_templates")
