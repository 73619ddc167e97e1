"""metrics: per-window aggregates of what game servers report, units seen per deployment,
players' activity, and the canary judge's verdicts

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotswap.storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = hotswap.storage.types.JSONType
UTC = hotswap.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "metric_aggregates",
        sa.Column("deployment_id", sa.String(40), primary_key=True),
        sa.Column("arm", sa.String(10), primary_key=True),
        sa.Column("metric", sa.String(64), primary_key=True),
        sa.Column("window_start", UTC(), primary_key=True),
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("total_sq", sa.Float(), nullable=False),
        sa.Column("log_count", sa.BigInteger(), nullable=False),
        sa.Column("log_total", sa.Float(), nullable=False),
        sa.Column("log_total_sq", sa.Float(), nullable=False),
        sa.Column("last_at", UTC(), nullable=False),
        sa.Column("sketch", JSON(), nullable=True),
    )
    op.create_table(
        "deployment_units",
        sa.Column("deployment_id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("unit_id", sa.String(200), primary_key=True),
        sa.Column("arm", sa.String(10), nullable=False),
        sa.Column("first_seen_at", UTC(), nullable=False),
        sa.Column("last_seen_at", UTC(), nullable=False),
        sa.Column("complained", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("existing", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_deployment_units_arm", "deployment_units", ["deployment_id", "kind", "arm"])
    op.create_table(
        "player_activity",
        sa.Column("player_id", sa.String(200), primary_key=True),
        sa.Column("first_seen_at", UTC(), nullable=False),
        sa.Column("last_seen_at", UTC(), nullable=False),
    )
    op.create_table(
        "analysis_verdicts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deployment_id", sa.String(40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("detail", JSON(), nullable=False),
    )
    op.create_index("ix_analysis_verdicts_deployment", "analysis_verdicts", ["deployment_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_analysis_verdicts_deployment", table_name="analysis_verdicts")
    op.drop_table("analysis_verdicts")
    op.drop_table("player_activity")
    op.drop_index("ix_deployment_units_arm", table_name="deployment_units")
    op.drop_table("deployment_units")
    op.drop_table("metric_aggregates")
