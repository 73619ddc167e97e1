"""deployments: rollouts with their stored plan and next look, the decision log, webhooks

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hotswap.storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("status IN ('PendingApproval', 'Running', 'Paused')")
JSON = hotswap.storage.types.JSONType
UTC = hotswap.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("environment", sa.String(length=20), nullable=False),
        sa.Column("subject_kind", sa.String(length=10), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("profile_id", sa.String(length=40), nullable=True),
        sa.Column("version_id", sa.String(length=40), nullable=True),
        sa.Column("version", sa.String(length=100), nullable=True),
        sa.Column("baseline_version_id", sa.String(length=40), nullable=True),
        sa.Column("strategy", sa.String(length=20), nullable=False),
        sa.Column("unit_kind", sa.String(length=10), nullable=False),
        sa.Column("seed", sa.String(length=80), nullable=False),
        sa.Column("spec", JSON(), nullable=False),
        sa.Column("plan", JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_started_at", UTC(timezone=True), nullable=True),
        sa.Column("step_times", JSON(), nullable=False),
        sa.Column("due_at", UTC(timezone=True), nullable=True),
        sa.Column("approval_id", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.Column("finished_at", UTC(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("fence", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("holds_exposure", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
    )
    with op.batch_alter_table("deployments") as batch:
        batch.create_index(
            "ix_deployments_open_subject",
            ["environment", "subject_kind", "subject"],
            unique=True,
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        )
        batch.create_index("ix_deployments_due", ["due_at"], unique=False)
        batch.create_index("ix_deployments_status", ["status", "created_at"], unique=False)
    op.create_table(
        "deployment_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("deployment_id", sa.String(length=40), nullable=False),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("from_step", sa.Integer(), nullable=True),
        sa.Column("to_step", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("snapshot_revision", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["deployment_id"], ["deployments.id"], name=op.f("fk_deployment_log_deployment_id_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment_log")),
    )
    with op.batch_alter_table("deployment_log") as batch:
        batch.create_index("ix_deployment_log_deployment", ["deployment_id", "id"], unique=False)
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("events", JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("payload", JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", UTC(timezone=True), nullable=True),
        sa.Column("last_attempt_at", UTC(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("delivered_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_deliveries_webhook_id_webhooks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.create_index("ix_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False)
        batch.create_index("ix_webhook_deliveries_webhook", ["webhook_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_webhook")
        batch.drop_index("ix_webhook_deliveries_due")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    with op.batch_alter_table("deployment_log") as batch:
        batch.drop_index("ix_deployment_log_deployment")
    op.drop_table("deployment_log")
    with op.batch_alter_table("deployments") as batch:
        batch.drop_index("ix_deployments_status")
        batch.drop_index("ix_deployments_due")
        batch.drop_index("ix_deployments_open_subject")
    op.drop_table("deployments")
