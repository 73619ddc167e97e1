"""config versions keep the effective data they were written with

A version's effective data (its parent's data deep-merged with its own) used to be computed on
every read, so a change to a parent silently changed what its children served, Production
included, without an approval. It is now computed once, when the version is written, and stored
with the id of the parent version it was merged from.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotswap.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("config_versions") as batch:
        batch.add_column(sa.Column("effective_data", hotswap.storage.types.JSONType(), nullable=True))
        batch.add_column(sa.Column("parent_version_id", sa.String(length=64), nullable=True))
    # Versions written before this revision keep their own data as their effective data.
    op.execute("UPDATE config_versions SET effective_data = data")
    with op.batch_alter_table("config_versions") as batch:
        batch.alter_column("effective_data", existing_type=hotswap.storage.types.JSONType(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("config_versions") as batch:
        batch.drop_column("parent_version_id")
        batch.drop_column("effective_data")
