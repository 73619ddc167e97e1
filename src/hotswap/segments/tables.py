import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

segments = sa.Table(
    "segments",
    metadata,
    # A slug chosen by the team (`vip`, `new-players`): how rules and `$inSegment` refer to it.
    sa.Column("id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("condition", JSONType(), nullable=False),
    sa.Column("builtin", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
)
