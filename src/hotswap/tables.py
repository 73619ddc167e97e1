"""Every slice's tables on the one MetaData: what Alembic compares migrations against."""

from hotswap.analysis import tables as analysis_tables
from hotswap.approvals import tables as approvals_tables
from hotswap.audit import tables as audit_tables
from hotswap.auth import tables as auth_tables
from hotswap.configs import tables as configs_tables
from hotswap.event_templates import tables as event_templates_tables
from hotswap.events import tables as events_tables
from hotswap.fleet import tables as fleet_tables
from hotswap.players import tables as players_tables
from hotswap.rollouts import tables as rollouts_tables
from hotswap.segments import tables as segments_tables
from hotswap.storage import revisions as revisions_tables
from hotswap.storage.metadata import metadata
from hotswap.webhooks import tables as webhooks_tables

__all__ = [
    "analysis_tables",
    "approvals_tables",
    "audit_tables",
    "auth_tables",
    "configs_tables",
    "event_templates_tables",
    "events_tables",
    "fleet_tables",
    "metadata",
    "players_tables",
    "revisions_tables",
    "rollouts_tables",
    "segments_tables",
    "webhooks_tables",
]
