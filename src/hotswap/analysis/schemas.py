"""Request and response bodies of the metrics routes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from hotswap.analysis.ingest import EVENT_ID, MAX_BATCH
from hotswap.web.schemas import CamelModel, InputModel

SAMPLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["serverId", "metric"],
    "properties": {
        "serverId": {"type": "string", "description": "A registered game server."},
        "region": {"type": "string", "description": "Its region (id or alias); must be the one it registered in."},
        "playerId": {"type": "string"},
        "deploymentId": {"type": "string", "description": "Leave out (with arm) to record activity only."},
        "arm": {"type": "string", "enum": ["canary", "baseline"], "description": "Required with deploymentId."},
        "eventId": {
            "type": "string",
            "pattern": EVENT_ID.pattern,
            "description": "A live event the player takes part in (requires playerId; with or without "
            "deploymentId): counts the player as a participant, and a purchase towards the event's revenue, "
            "when the sample was taken inside the event's window in the server's region.",
        },
        "metric": {
            "type": "string",
            "description": "session_start, session_end (value: seconds), crash, disconnect, complaint, purchase "
            "(value: amount), fps, network_latency, server_tick_rate, server_error_rate, engagement_score, "
            "feedback_rating, or a custom name.",
        },
        "value": {"type": "number"},
        "count": {"type": "integer", "minimum": 1, "maximum": 1000000},
        "at": {"type": "string", "format": "date-time", "description": "When it happened; default: now."},
    },
    "additionalProperties": False,
}


class MetricBatch(InputModel):
    samples: list[Any] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        json_schema_extra={"items": SAMPLE_SCHEMA},
        description="Each sample is checked on its own: the good ones are stored even when others are not.",
    )


class IngestRead(CamelModel):
    accepted: int
    rejected: int = 0
    outside_event_window: int = Field(
        default=0,
        description="Stored samples tagged with an eventId that did not count towards the event: taken "
        "before its window opened or after it closed in their server's region.",
    )


class QuantilesRead(CamelModel):
    mean: float
    p50: float
    p90: float
    p99: float


_CHURN = (
    "Of the players active before the deployment who played under it at least a churn horizon ago, the fraction "
    "not seen since (0.021 = 2.1%); null while none is old enough to count."
)
_DURATION = "The mean session length (session_end values) as an ISO 8601 duration to the second, e.g. PT7M6S."
_DURATION_SECONDS = "The mean session length in seconds."
_COMPLAINTS = "Players who sent at least one complaint."
_ENGAGEMENT = "The mean engagement_score."


class ArmRead(CamelModel):
    """One arm's numbers since the deployment started. A rate or a mean without its denominator
    is null: crashes without sessions have no crash rate, no session_end no mean duration."""

    players: int = Field(description="Players seen on this arm.")
    sessions: int = Field(description="session_start samples.")
    player_churn_rate: float | None = Field(description=_CHURN)
    avg_session_duration: timedelta | None = Field(description=_DURATION)
    avg_session_duration_seconds: float | None = Field(description=_DURATION_SECONDS)
    player_complaints: int = Field(description=_COMPLAINTS)
    engagement: float | None = Field(description=_ENGAGEMENT)
    crashes: int = Field(description="crash samples.")
    crash_rate: float | None = Field(
        description="Crashes per session, what the judge holds against its gates (a session crashes at most once: "
        "crashes beyond the sessions reported are left out); null without sessions."
    )
    fps: QuantilesRead | None = Field(description="Frame rate: mean and quantiles.")
    network_latency: QuantilesRead | None = Field(description="Latency in ms: mean and quantiles.")


class MetricsRead(CamelModel):
    """The judge's look at a deployment. The canary arm's churn, session duration, complaints and
    engagement are at the top level too (the same numbers as `arms.canary`), for a glance."""

    deployment_id: str
    at: datetime
    outcome: str = Field(description="Successful, Pending, Inconclusive, Error or Failed.")
    action: str = Field(description="What the judge tells the rollout: continue, hold or rollback.")
    explanation: str
    judged: bool = Field(description="False while no metric was reported and the deployment does not require any.")
    player_churn_rate: float | None = Field(description="On the canary arm. " + _CHURN)
    avg_session_duration: timedelta | None = Field(description="On the canary arm. " + _DURATION)
    avg_session_duration_seconds: float | None = Field(description="On the canary arm. " + _DURATION_SECONDS)
    player_complaints: int = Field(description="On the canary arm. " + _COMPLAINTS)
    engagement: float | None = Field(description="On the canary arm. " + _ENGAGEMENT)
    arms: dict[str, ArmRead] = Field(description="Per arm: canary and baseline. Null: no data for that number.")
    metrics: list[dict[str, Any]] = Field(
        description="Per metric: both arms' levels, canary minus baseline with its interval, the verdict and why."
    )
    sample_ratio: dict[str, Any] | None = None
    policy: dict[str, Any]


class VerdictRead(CamelModel):
    id: int
    step: int
    at: datetime
    outcome: str
    explanation: str
    detail: dict[str, Any]
