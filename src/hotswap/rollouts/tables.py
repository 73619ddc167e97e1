"""Deployments and their decision log.

A deployment row is the whole state the worker needs: the plan is stored at creation (a restart
resumes the same steps), and `due_at` is the absolute instant of its next look, so no timer
lives only in memory.
"""

import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

# Statuses in which a deployment holds its config: at most one such deployment per config.
OPEN_STATUSES = ("PendingApproval", "Running", "Paused")
_OPEN = sa.text("status IN ('PendingApproval', 'Running', 'Paused')")

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("environment", sa.String(20), nullable=False),
    sa.Column("subject_kind", sa.String(10), nullable=False),  # config | event
    sa.Column("subject", sa.String(200), nullable=False),  # the config's name or the event's id
    sa.Column("profile_id", sa.String(40), nullable=True),
    sa.Column("version_id", sa.String(40), nullable=True),  # what is rolled out
    sa.Column("version", sa.String(100), nullable=True),
    sa.Column("baseline_version_id", sa.String(40), nullable=True),  # what was live when it started
    sa.Column("strategy", sa.String(20), nullable=False),
    sa.Column("unit_kind", sa.String(10), nullable=False),
    sa.Column("seed", sa.String(80), nullable=False),
    sa.Column("spec", JSONType(), nullable=False),  # the request, normalised
    sa.Column("plan", JSONType(), nullable=False),  # the steps, fixed at creation
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),  # index of the current step; -1 before the first
    sa.Column("step_started_at", UTCDateTime(), nullable=True),
    sa.Column("step_times", JSONType(), nullable=False),  # actual start instant of each step reached
    sa.Column("due_at", UTCDateTime(), nullable=True),  # when the worker looks next; null: nothing to do
    sa.Column("approval_id", sa.String(40), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),  # why it ended (rollback, cancel, failure)
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("revision", sa.Integer(), nullable=False, server_default="1"),
    sa.Column("fence", sa.BigInteger(), nullable=False, server_default="0"),  # highest lease token seen
    # Succeeded without reaching everyone (target regions, servers or segments): its last step's
    # exposure stays in the snapshot until a later deployment of the config reaches everyone.
    sa.Column("holds_exposure", sa.Boolean(), nullable=False, server_default=sa.false()),
    # The worker's failed attempts in a row at advancing it; at `MAX_FAILURES` it is Failed.
    sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Index(
        "ix_deployments_open_subject",
        "environment",
        "subject_kind",
        "subject",
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    ),
    sa.Index("ix_deployments_due", "due_at"),
    sa.Index("ix_deployments_status", "status", "created_at"),
)

deployment_log = sa.Table(
    "deployment_log",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("deployment_id", sa.String(40), sa.ForeignKey("deployments.id"), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),  # a person's subject, or `worker`
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("from_status", sa.String(20), nullable=True),
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("from_step", sa.Integer(), nullable=True),
    sa.Column("to_step", sa.Integer(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("snapshot_revision", sa.BigInteger(), nullable=True),
    sa.Index("ix_deployment_log_deployment", "deployment_id", "id"),
)
