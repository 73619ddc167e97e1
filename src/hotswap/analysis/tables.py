"""What game servers report about a deployment, kept as mergeable aggregates.

Every sample is folded into `metric_aggregates` on arrival (the request's own transaction), so a
judgement is a read of sums, can be recomputed after a restart, and does not depend on which
replica took the sample: count, sum and sum of squares (of the values, and of their logs for
positive values) per (deployment, arm, metric, window); per server too (`source`) for the
server-health metrics compared server by server. Latency-like metrics keep a quantile sketch
per row, merged under the row's lock. `deployment_units` remembers each player and server seen
under a deployment (its arm, first and last sample, whether the player complained, whether the
player was active before the deployment started), which the churn, complaint and sample-ratio
checks count. `player_activity` is every player's last sample, whatever the deployment: it says
who was active before a deployment began. `analysis_verdicts` keeps each stored look's verdict
with the numbers behind it.
"""

import sqlalchemy as sa

from hotswap.storage.metadata import metadata
from hotswap.storage.types import JSONType, UTCDateTime

metric_aggregates = sa.Table(
    "metric_aggregates",
    metadata,
    sa.Column("deployment_id", sa.String(40), primary_key=True),
    sa.Column("arm", sa.String(10), primary_key=True),  # canary | baseline
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("window_start", UTCDateTime(), primary_key=True),
    sa.Column("source", sa.String(200), primary_key=True),  # '' or, for per-server metrics, the server id
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Column("total", sa.Float(), nullable=False),
    sa.Column("total_sq", sa.Float(), nullable=False),
    sa.Column("log_count", sa.BigInteger(), nullable=False),  # values > 0 only
    sa.Column("log_total", sa.Float(), nullable=False),
    sa.Column("log_total_sq", sa.Float(), nullable=False),
    sa.Column("last_at", UTCDateTime(), nullable=False),  # the latest sample's time in the window
    sa.Column("sketch", JSONType(), nullable=True),  # QuantileSketch.to_json, latency-like metrics
)

deployment_units = sa.Table(
    "deployment_units",
    metadata,
    sa.Column("deployment_id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),  # player | server
    sa.Column("unit_id", sa.String(200), primary_key=True),
    sa.Column("arm", sa.String(10), nullable=False),  # the arm of its first sample
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("complained", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("existing", sa.Boolean(), nullable=False, server_default=sa.false()),  # active before it began
    sa.Index("ix_deployment_units_arm", "deployment_id", "kind", "arm"),
    sa.Index("ix_deployment_units_unit", "kind", "unit_id"),  # a player's erasure
)

player_activity = sa.Table(
    "player_activity",
    metadata,
    sa.Column("player_id", sa.String(200), primary_key=True),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
)

analysis_verdicts = sa.Table(
    "analysis_verdicts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("deployment_id", sa.String(40), nullable=False),
    sa.Column("step", sa.Integer(), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),  # SUCCESSFUL | PENDING | INCONCLUSIVE | ERROR | FAILED
    sa.Column("explanation", sa.Text(), nullable=False),
    sa.Column("detail", JSONType(), nullable=False),  # LookVerdict.to_json: every metric's numbers
    sa.Index("ix_analysis_verdicts_deployment", "deployment_id", "id"),
)
