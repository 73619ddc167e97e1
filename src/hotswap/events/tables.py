"""Live events: instances, their versions and history, per-region windows, and the scheduler's
timers (which are also its dead-letter list)."""

import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

live_events = sa.Table(
    "live_events",
    metadata,
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("environment", sa.String(20), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("event_type", sa.String(50), nullable=False),
    sa.Column("event_class", sa.String(20), nullable=False),
    sa.Column("template_id", sa.String(100), sa.ForeignKey("event_templates.id"), nullable=True),
    # The served content of the current version: display name, description, configuration,
    # objectives, milestones, theme, segment, regions, variants, times (see events.model.Spec).
    sa.Column("spec", JSONType(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    # The UTC span over every region's window: what the scheduling rules and the calendar use.
    sa.Column("start_at", UTCDateTime(), nullable=False),
    sa.Column("end_at", UTCDateTime(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    sa.Index("ix_live_events_span", "environment", "start_at", "end_at"),
    sa.Index("ix_live_events_status", "environment", "status"),
)

live_event_versions = sa.Table(
    "live_event_versions",
    metadata,
    sa.Column("event_id", sa.String(100), sa.ForeignKey("live_events.id"), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("spec", JSONType(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

# Every transition, version and override of an event, in order: its replayable history.
live_event_history = sa.Table(
    "live_event_history",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # created, transition, version, window, override
    sa.Column("action", sa.String(40), nullable=True),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=True),
    sa.Column("version", sa.Integer(), nullable=True),
    sa.Column("region", sa.String(40), nullable=True),
    sa.Column("detail", JSONType(), nullable=True),
    sa.Index("ix_live_event_history_event", "event_id", "id"),
)

# One window per target region for region-local events, else one with region "" (everywhere).
# A window is served once the scheduler (or an operator) opened it and until it is closed.
live_event_windows = sa.Table(
    "live_event_windows",
    metadata,
    sa.Column("event_id", sa.String(100), sa.ForeignKey("live_events.id"), primary_key=True),
    sa.Column("region", sa.String(40), primary_key=True),
    sa.Column("start_at", UTCDateTime(), nullable=False),
    sa.Column("end_at", UTCDateTime(), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
)

# The scheduler's work: open or close a window at an absolute instant. `state` pending -> done,
# or -> dead after the last retry (the dead-letter list), or -> superseded when the event's
# times change or it is cancelled. A replayed dead letter is pending again.
event_timers = sa.Table(
    "event_timers",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(100), sa.ForeignKey("live_events.id"), nullable=False),
    sa.Column("region", sa.String(40), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),  # open, close
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("next_at", UTCDateTime(), nullable=False),  # due_at, or when the next retry is
    sa.Column("state", sa.String(12), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Index("ix_event_timers_next", "state", "next_at"),
    sa.Index("ix_event_timers_event", "event_id", "state"),
)

# Who took part in an event, from the metric samples game servers tag with its id: what the
# event's participation, conversion and revenue are computed from.
event_participants = sa.Table(
    "event_participants",
    metadata,
    sa.Column("event_id", sa.String(100), primary_key=True),
    sa.Column("player_id", sa.String(200), primary_key=True),
    sa.Column("first_at", UTCDateTime(), nullable=False),
    sa.Column("last_at", UTCDateTime(), nullable=False),
    sa.Column("samples", sa.BigInteger(), nullable=False),
    sa.Column("purchases", sa.BigInteger(), nullable=False),
    sa.Column("revenue", sa.Float(), nullable=False),
    sa.Index("ix_event_participants_player", "player_id"),  # a player's erasure
)
