"""The snapshot's `rollouts` part: each open config deployment's current exposure, and the
last exposure of each that succeeded without reaching everyone (it keeps serving its targets).

Read inside the snapshot's own consistent transaction (see `delivery.documents`), so a
document labelled revision N shows exactly the steps the store held at revision N.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.configs.model import Environment
from hotswap.configs.tables import config_profiles, config_versions
from hotswap.rollouts.tables import deployments

EXPOSING = ("Running", "Paused")  # a paused deployment keeps what it has exposed


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
