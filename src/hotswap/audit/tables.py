import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import BigIntPK, JSONType, UTCDateTime

audit_records = sa.Table(
    "audit_records",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("actor_role", sa.String(20), nullable=False),
    sa.Column("action", sa.String(100), nullable=False),
    sa.Column("target_type", sa.String(50), nullable=False),
    sa.Column("target_id", sa.String(200), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("before_ref", sa.String(200), nullable=True),
    sa.Column("after_ref", sa.String(200), nullable=True),
    sa.Column("details", JSONType(), nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Index("ix_audit_records_target", "target_type", "target_id"),
    sa.Index("ix_audit_records_actor", "actor"),
    sa.Index("ix_audit_records_at", "at"),
)
