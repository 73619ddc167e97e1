"""The snapshot's `rollouts` part: each open config deployment's current exposure, and the
last exposure of each that succeeded without reaching everyone (it keeps serving its targets);
and each live event's `exposure` as its deployments leave it (`load_event_exposures`).

Read inside the snapshot's own consistent transaction (see `delivery.documents`), so a
document labelled revision N shows exactly the steps the store held at revision N.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.configs.tables import config_profiles, config_versions
from hotswap.core.environments import Environment
from hotswap.rollouts.tables import deployments

EXPOSING = ("Running", "Paused")  # a paused deployment keeps what it has exposed
OPEN = ("PendingApproval", "Running", "Paused")
WITHDRAWN = ("RolledBack", "Failed", "Cancelled")
NOBODY: list[dict[str, Any]] = []
# In the spec of a deployment made for an Active or Paused event: until its first step, the event
# is served as it was before the deployment.
KEEPS_EXPOSURE = "keepsExposure"


async def load_rollouts(conn: AsyncConnection, environment: Environment) -> list[dict[str, Any]]:
    d, v, p = deployments.c, config_versions.c, config_profiles.c
    rows = await conn.execute(
        sa.select(
            d.id,
            d.subject,
            d.seed,
            d.unit_kind,
            d.plan,
            d.step,
            v.id.label("version_id"),
            v.version,
            v.effective_data,
            p.targeting,
        )
        .join(config_versions, v.id == d.version_id)
        .join(config_profiles, p.id == d.profile_id)
        .where(
            d.environment == environment.value,
            d.subject_kind == "config",
            sa.or_(sa.and_(d.status.in_(EXPOSING), d.step >= 0), d.holds_exposure.is_(True)),
        )
        # Oldest first: where a config has two (a limited success, then a newer deployment),
        # the snapshot keeps the last one it reads, the newer.
        .order_by(d.created_at, d.id)
    )
    return [
        {
            "config": r.subject,
            "exposure": r.plan["steps"][r.step]["exposure"],
            "hashAttribute": "serverId" if r.unit_kind == "servers" else "playerId",
            "id": r.id,
            "rules": r.targeting or [],
            "seed": r.seed,
            "step": r.step,
            "value": r.effective_data,
            "version": r.version,
            "versionId": r.version_id,
        }
        for r in rows
    ]


async def load_event_exposures(
    conn: AsyncConnection, environment: Environment, event_ids: Collection[str] | None = None
) -> dict[str, list[dict[str, Any]] | None]:
    """Who each live event (of `event_ids`, default all) is served to, as its latest deployment
    decides; an event never deployed is absent (served to everyone who passes the rest).

    - open, before its first step (waiting for approval or for the event's start): `[]`, nobody
      yet: the deployment owns the event's exposure from its creation, so nobody sees it early;
      but one made for an event that had gone live (`KEEPS_EXPOSURE`) leaves it as it was
      (everyone, or what the deployment before it left), so an approval wait does not take it
      off the air;
    - Running or Paused at a step: that step's grants (as a config rollout's `exposure`);
    - Succeeded: None (everyone) once it reached everyone, else its last grants (`holds_exposure`);
    - rolled back, failed or cancelled: as if it had never been; the event is as the deployment
      before it left it. A deployment that ends so after exposing players pauses the Active
      event (`event_rollouts.pause_event`): it is off the air by its status, and resuming it is
      an operator's decision to serve it as before the deployment.
    """
    if event_ids is not None and not event_ids:
        return {}
    d = deployments.c
    query = sa.select(
        d.subject, d.status, d.step, d.plan, d.spec, d.holds_exposure, d.created_at, d.finished_at, d.id
    ).where(d.environment == environment.value, d.subject_kind == "event")
    if event_ids is not None:
        query = query.where(d.subject.in_(sorted(event_ids)))
    rows = sorted((await conn.execute(query)).all(), key=_age)
    out: dict[str, list[dict[str, Any]] | None] = {}
    for r in rows:  # oldest first: the latest of an event decides
        if r.status in WITHDRAWN or (r.status in OPEN and r.step < 0 and r.spec.get(KEEPS_EXPOSURE)):
            continue
        out[r.subject] = _event_exposure(r.status, r.step, r.plan, r.holds_exposure)
    return out


def _age(row: Any) -> tuple[datetime, bool, datetime | None, str]:
    """Creation order; within one instant, the finished before the open one (an event has one
    open deployment at most), and those in the order they finished."""
    return (row.created_at, row.status in OPEN, row.finished_at or row.created_at, row.id)


def _event_exposure(status: str, step: int, plan: dict[str, Any], holds: bool) -> list[dict[str, Any]] | None:
    if status in EXPOSING and step >= 0:
        grants: list[dict[str, Any]] = plan["steps"][step]["exposure"]
        return grants
    if status == "Succeeded":
        return plan["steps"][step]["exposure"] if holds and step >= 0 else None
    return list(NOBODY)  # open before its first step: nobody sees the event early
