import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import UTCDateTime

snapshot_revisions = sa.Table(
    "snapshot_revisions",
    metadata,
    # One row per environment. Every commit that changes what the environment's snapshot holds
    # bumps it in the same transaction, so revisions strictly increase across processes and
    # restarts, and a compile reads contents and revision in one consistent transaction.
    sa.Column("environment", sa.String(20), primary_key=True),
    sa.Column("revision", sa.BigInteger(), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
)
