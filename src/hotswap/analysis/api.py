"""HTTP routes for metric samples and a deployment's metrics. Thin: parse, call, commit, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hotswap.analysis.policy import policy_to_json
from hotswap.analysis.schemas import IngestRead, MetricBatch, MetricsRead, VerdictRead
from hotswap.analysis.service import AnalysisService, analysis_options
from hotswap.auth.model import Permission, Principal
from hotswap.core.errors import InvalidInput
from hotswap.rollouts.service import DeploymentService
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import PageRead

router = APIRouter(prefix="/api/v1", tags=["metrics"])

Analysis = Annotated[AnalysisService, Depends(service(AnalysisService))]
Deployments = Annotated[DeploymentService, Depends(service(DeploymentService))]

Reporter = Annotated[Principal, Depends(require(Permission.FLEET_REPORT))]
Reader = Annotated[Principal, Depends(require(Permission.FLEET_READ))]


@router.post("/metrics", response_model=IngestRead)
async def ingest_metrics(body: MetricBatch, _: Reporter, uow: UowDep, analysis: Analysis) -> IngestRead:
    """Store a batch of samples from game servers. Each sample is checked on its own: when some
    are bad, the answer is a 422 problem listing each (`body.samples[3].value`), and its
    `acceptedIndexes` are the samples that were stored (do not send those again).
    `outsideEventWindow` counts the stored samples whose `eventId` did not count towards the
    event: taken before it started or after it ended in their server's region."""
    result = await analysis.ingest(uow, body.samples)
    await uow.commit()
    if result.errors:
        raise InvalidInput(
            f"{len(result.errors)} of {len(body.samples)} samples were refused; the other "
            f"{len(result.accepted)} were stored.",
            errors=result.errors,
            extra={
                "accepted": len(result.accepted),
                "acceptedIndexes": result.accepted,
                "outsideEventWindow": result.outside_event,
            },
        )
    return IngestRead(accepted=len(result.accepted), outside_event_window=result.outside_event)


@router.get("/deployments/{deployment_id}/metrics", response_model=MetricsRead)
async def deployment_metrics(
    deployment_id: str, _: Reader, uow: UowDep, deployments: Deployments, analysis: Analysis
) -> MetricsRead:
    """Each arm's metrics so far, canary minus baseline per metric with its interval, and the
    judge's verdict as of now. The canary arm's churn, session duration, complaints and
    engagement are also at the top level, for a glance."""
    row = await deployments.get(uow, deployment_id)
    look = await analysis.look(uow, row)
    policy, require_metrics = analysis_options(row.spec)
    verdict = look.verdict
    canary = look.arms["canary"]
    return MetricsRead(
        deployment_id=row.id,
        at=uow.clock.now(),
        outcome=verdict.outcome.value,
        action=verdict.action,
        explanation=verdict.explanation,
        judged=look.reported or require_metrics,
        player_churn_rate=canary["playerChurnRate"],
        avg_session_duration=canary["avgSessionDuration"],
        avg_session_duration_seconds=canary["avgSessionDurationSeconds"],
        player_complaints=canary["playerComplaints"],
        engagement=canary["engagement"],
        arms=look.arms,
        metrics=[m.to_json() for m in look.metrics],
        sample_ratio=verdict.sample_ratio.to_json() if verdict.sample_ratio is not None else None,
        policy=policy_to_json(policy) | {"requireMetrics": require_metrics},
    )


@router.get("/deployments/{deployment_id}/verdicts", response_model=PageRead[VerdictRead])
async def deployment_verdicts(
    deployment_id: str,
    _: Reader,
    uow: UowDep,
    deployments: Deployments,
    analysis: Analysis,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PageRead[VerdictRead]:
    """The judge's stored verdicts, newest first, each with the numbers behind it."""
    row = await deployments.get(uow, deployment_id)
    found = await analysis.verdicts(uow, row.id, limit)
    return PageRead(
        items=[
            VerdictRead(id=v.id, step=v.step, at=v.at, outcome=v.outcome, explanation=v.explanation, detail=v.detail)
            for v in found
        ]
    )
