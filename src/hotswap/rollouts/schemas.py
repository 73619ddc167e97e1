"""Request and response bodies of the deployments API.

`DeploymentCreate` takes a config rollout by region (`configName`, `strategy`, `targetRegions`,
`canaryPercentage`, `evaluationPeriod` as ISO 8601), a config rollout to named game servers
(`configName`, `configVersion`, `strategy`, `targetInstances`, `canaryPercentage`,
`healthCheckEnabled`) and a live event's rollout to players (`eventId`, `regions`,
`rolloutStrategy`, `targetPlayerPercentage`), plus the options each strategy has. The
synonyms (`regions` for `targetRegions`, ...) are there because game teams' tools send both.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from hotswap.rollouts.requests import DeploymentRequest
from hotswap.rollouts.subjects import SubjectRequest
from hotswap.web.schemas import CamelModel, InputModel

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
UnitId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RegionId = Annotated[str, StringConstraints(min_length=1, max_length=40)]
SegmentId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Percentage = Annotated[float, Field(gt=0, le=100)]
Period = Annotated[timedelta, Field(description="An ISO 8601 duration, e.g. PT30M, or seconds.")]
MAX_UNITS = 10_000


class DeploymentCreate(InputModel):
    """What to roll out (a config version, or a live event), how, and to whom."""

    config_name: Name | None = Field(default=None, description="The config to roll out.")
    config_version: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default=None, description="Its version; default: the newest version, if it is not live already."
    )
    event_id: Name | None = Field(default=None, description="A live event to roll out instead.")
    strategy: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        default=None, description="Direct, Canary, BlueGreen, Rolling, Geographic or Segmented."
    )
    rollout_strategy: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        default=None, description="Another name for `strategy`."
    )
    unit_kind: Literal["servers", "players"] | None = Field(
        default=None,
        description="What a step exposes: whole game servers, or players by hash. Default: servers for a "
        "config, players for an event or when `targetPlayerPercentage` is given.",
    )
    target_regions: list[RegionId] | None = Field(default=None, max_length=100)
    regions: list[RegionId] | None = Field(
        default=None, max_length=100, description="Another name for `targetRegions`."
    )
    target_instances: list[UnitId] | None = Field(
        default=None, max_length=MAX_UNITS, description="Named game servers: steps pick among them."
    )
    canary_percentage: Percentage | None = Field(default=None, description="The first canary step, in percent.")
    target_player_percentage: Percentage | None = Field(
        default=None, description="A player rollout's `canaryPercentage`."
    )
    steps: list[Percentage] | None = Field(
        default=None, min_length=1, max_length=20, description="Custom canary steps in percent, increasing."
    )
    evaluation_period: Period | None = Field(default=None, description="How long each step is watched.")
    health_check_enabled: bool = Field(default=True, description="Judge each step before going on.")
    analysis: dict[str, Any] | None = Field(
        default=None,
        description="The canary judge's policy over the defaults: `alpha`, `sampleRatioThreshold`, `metrics` "
        '(e.g. [{"metric": "crash", "critical": 0.2}, {"metric": "engagement", "enabled": false}]) and '
        "`requireMetrics` (hold when no metric is reported).",
    )
    batch_size: Annotated[int, Field(ge=1, le=MAX_UNITS)] | None = Field(
        default=None, description="Rolling: servers per batch."
    )
    batch_percentage: Percentage | None = Field(default=None, description="Rolling: percent per batch.")
    batch_wait: Period | None = Field(default=None, description="Rolling: the wait between batches.")
    preview_units: list[UnitId] | None = Field(
        default=None, max_length=MAX_UNITS, description="BlueGreen: the servers or test players that see it first."
    )
    cohorts: list[SegmentId] | None = Field(
        default=None,
        min_length=1,
        max_length=20,
        description='Segmented: segment ids in order; "everyone" (or "*") for all the rest.',
    )
    local_start_time: time | None = Field(
        default=None, description="Geographic: each region starts at this local wall-clock time (e.g. 02:00)."
    )
    manual_gates: list[Annotated[int, Field(ge=0, le=100)]] | Literal["all"] | None = Field(
        default=None, description='Step indexes that wait to be promoted, or "all".'
    )
    environment: str | None = Field(default=None, description="For an event; a config deploys in its own environment.")
    hash_seed: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")] | None = Field(
        default=None,
        description="A config's units are hashed with this seed (default: the new deployment's id). Give the "
        "seed of an earlier deployment to expose the same servers or players at the same percentage again. "
        "An event's players are always hashed with the event's id.",
    )
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _one_subject_and_strategy(self) -> DeploymentCreate:
        if (self.config_name is None) == (self.event_id is None):
            raise ValueError("give exactly one of configName and eventId")
        if self.config_version is not None and self.config_name is None:
            raise ValueError("configVersion goes with configName")
        if self.strategy is not None and self.rollout_strategy is not None and self.strategy != self.rollout_strategy:
            raise ValueError("strategy and rolloutStrategy disagree; give one")
        if self.target_regions is not None and self.regions is not None:
            raise ValueError("give targetRegions or regions, not both")
        if self.canary_percentage is not None and self.target_player_percentage is not None:
            raise ValueError("give canaryPercentage or targetPlayerPercentage, not both")
        if self.hash_seed is not None and self.event_id is not None:
            raise ValueError("hashSeed goes with configName: an event's players are hashed with its id")
        return self

    def command(self) -> DeploymentRequest:
        """The service's request. The subject's kind is what the configs and events slices
        register as: "config" and "event"."""
        if self.event_id is not None:
            subject = SubjectRequest("event", self.event_id, environment=self.environment)
        else:
            assert self.config_name is not None
            subject = SubjectRequest("config", self.config_name, self.config_version)
        fields = self.model_dump(by_alias=False, exclude={"config_name", "config_version", "event_id", "environment"})
        return DeploymentRequest(subject=subject, **fields)


class ActionBody(InputModel):
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None


class RollbackBody(InputModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = Field(
        default=None, description="Why: kept in the decision log and sent to webhooks."
    )


class GrantRead(CamelModel):
    percentage: float
    regions: list[str] | None = None
    segment: str | None = None
    units: list[str] | None = None


class StepRead(CamelModel):
    index: int
    name: str
    exposure: list[GrantRead]
    hold_seconds: float | None
    gate: bool
    region: str | None
    planned_at: datetime | None = Field(description="When it is expected to start, if nothing waits on a person.")
    started_at: datetime | None
    servers: int | None = Field(default=None, description="Registered healthy servers it exposes (server units).")


class LogEntryRead(CamelModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    from_step: int | None
    to_step: int | None
    reason: str | None
    snapshot_revision: int | None = Field(description="The snapshot revision this change made live, if it made one.")


class WarningRead(CamelModel):
    code: str = Field(
        description="`unregistered-instances`: named game servers the fleet does not know; "
        "`instances-outside-regions`: named game servers registered in regions the deployment leaves out."
    )
    field: str = Field(description="The request field it is about.")
    message: str
    instances: list[str] = Field(description="The named game servers it is about, in the request's order.")


class DeploymentRead(CamelModel):
    id: str
    environment: str
    subject_kind: str
    config_name: str | None
    config_version: str | None
    event_id: str | None
    event_version: int | None = Field(default=None, description="The event's version when it was deployed.")
    strategy: str
    unit_kind: str
    hash_seed: str = Field(description="What its units are hashed with (`hashSeed`; an event's id for an event).")
    status: str
    step: int
    steps: list[StepRead]
    exposure: list[GrantRead] = Field(
        description="Who has the new version now. A deployment that succeeded without reaching everyone "
        "(target regions, servers or segments) keeps serving its targets until a later one reaches everyone."
    )
    due_at: datetime | None = Field(description="When the worker looks at it next.")
    approval_id: str | None
    reason: str | None
    regions: list[dict[str, Any]] = Field(default_factory=list, description="Per-region progress.")
    applied: dict[str, int] | None = Field(
        default=None, description="Target servers, and how many report running the revision that exposes them."
    )
    log: list[LogEntryRead] = Field(default_factory=list, description="Who or what moved it, and why.")
    warnings: list[WarningRead] = Field(
        default_factory=list,
        description="What may not go as the request expects: targetInstances that are not registered game servers, "
        "or that are registered outside targetRegions (when it can reach none of them, the request is refused). "
        "Judged at each read, in the list too.",
    )
    created_at: datetime
    created_by: str
    updated_at: datetime
    finished_at: datetime | None
    revision: int
    dry_run: bool = False
