"""The environments' snapshot revisions, and marking them changed: the write side of the
compiled snapshot, shared by every slice whose writes change what a snapshot holds.

A service whose commit changes an environment's snapshot (a release, a targeting rule, a
segment, a deployment step...) calls `mark_changed` inside its unit of work. The environment's
revision row is bumped in the same transaction, so the new revision exists exactly when the
change does. After the commit, the one `announce` callback the composition root wires (the
delivery slice: recompile, then tell the other processes) hears which environments changed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.core.environments import Environment, stored_environment
from hotswap.storage.metadata import metadata
from hotswap.storage.types import UTCDateTime
from hotswap.storage.uow import UnitOfWork

snapshot_revisions = sa.Table(
    "snapshot_revisions",
    metadata,
    # One row per environment. Every commit that changes what the environment's snapshot holds
    # bumps it in the same transaction, so revisions strictly increase across processes and
    # restarts, and a compile reads contents and revision in one consistent transaction.
    sa.Column("environment", sa.String(20), primary_key=True),
    sa.Column("revision", sa.BigInteger(), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
)

Announce = Callable[[frozenset[Environment]], Awaitable[None]]
_PENDING = "snapshot_changes"  # the unit of work's scratch key: environments bumped in it


class SnapshotChanges:
    def __init__(self, announce: Announce | None = None) -> None:
        self._announce = announce

    async def mark_changed(self, uow: UnitOfWork, environments: Iterable[Environment] | None = None) -> None:
        """Bump the revision of `environments` (all of them when None) in this transaction."""
        envs = frozenset(Environment) if environments is None else frozenset(environments)
        if not envs:
            return
        pending: set[Environment] | None = uow.scratch.get(_PENDING)
        fresh = pending is None
        if pending is None:
            pending = uow.scratch[_PENDING] = set()
        new = envs - pending
        if not new:
            return  # already bumped in this transaction: one commit, one new revision
        pending.update(new)
        await uow.conn.execute(
            sa.update(snapshot_revisions)
            .where(snapshot_revisions.c.environment.in_(sorted(e.value for e in new)))
            .values(revision=snapshot_revisions.c.revision + 1, changed_at=uow.clock.now())
        )
        if fresh and self._announce is not None:
            announce, changed = self._announce, pending

            async def announced() -> None:
                await announce(frozenset(changed))

            uow.after_commit(announced)

    async def advance(self, uow: UnitOfWork, past: Mapping[Environment, int]) -> dict[Environment, int]:
        """Move each environment's revision past both its stored one and `past[env]` (a revision
        a process holds), in this transaction: max(stored, past) + 1; the new revisions. After a
        restore from a backup the store's revisions are behind the ones processes serve, and a
        rebuild under a revision they hold already would be ignored by them and by their stream
        clients, or name other contents under it. One statement, as `mark_changed`: concurrent
        writers lock the rows in the same order. Announces nothing: the caller rebuilds."""
        if not past:
            return {}
        names = sorted(env.value for env in past)
        revision = snapshot_revisions.c.revision
        floor = sa.case(
            {env.value: sa.literal(held, sa.BigInteger()) for env, held in past.items()},
            value=snapshot_revisions.c.environment,
            else_=sa.literal(0, sa.BigInteger()),
        )
        await uow.conn.execute(
            sa.update(snapshot_revisions)
            .where(snapshot_revisions.c.environment.in_(names))
            .values(revision=sa.case((revision > floor, revision), else_=floor) + 1, changed_at=uow.clock.now())
        )
        rows = await uow.conn.execute(
            sa.select(snapshot_revisions.c.environment, revision).where(snapshot_revisions.c.environment.in_(names))
        )
        found = {stored_environment(env): int(value) for env, value in rows}
        return {env: value for env, value in found.items() if env is not None}

    async def revision(self, uow: UnitOfWork, environment: Environment) -> int:
        """The environment's revision as this transaction sees it (its own bump included)."""
        found = await uow.conn.scalar(
            sa.select(snapshot_revisions.c.revision).where(snapshot_revisions.c.environment == environment.value)
        )
        return int(found or 0)


async def current_revisions(conn: AsyncConnection) -> dict[Environment, int]:
    """Every environment's stored revision."""
    rows = (await conn.execute(sa.select(snapshot_revisions.c.environment, snapshot_revisions.c.revision))).all()
    found = {stored_environment(env): int(revision) for env, revision in rows}
    return {env: revision for env, revision in found.items() if env is not None}


async def revision_at(conn: AsyncConnection, environment: Environment) -> tuple[int, datetime | None]:
    """The environment's revision and when it changed last, as `conn`'s transaction sees them."""
    row = (
        await conn.execute(
            sa.select(snapshot_revisions.c.revision, snapshot_revisions.c.changed_at).where(
                snapshot_revisions.c.environment == environment.value
            )
        )
    ).one_or_none()
    return (int(row.revision), row.changed_at) if row is not None else (0, None)
