"""Request and response bodies of the metrics routes."""

from __future__ import annotations

from datetime import datetime
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


class MetricsRead(CamelModel):
    deployment_id: str
    at: datetime
    outcome: str = Field(description="Successful, Pending, Inconclusive, Error or Failed.")
    action: str = Field(description="What the judge tells the rollout: continue, hold or rollback.")
    explanation: str
    judged: bool = Field(description="False while no metric was reported and the deployment does not require any.")
    arms: dict[str, dict[str, Any]] = Field(
        description="Per arm (canary, baseline): playerChurnRate, avgSessionDuration, playerComplaints, "
        "engagement, crashRate, fps and networkLatency quantiles, players, sessions."
    )
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
