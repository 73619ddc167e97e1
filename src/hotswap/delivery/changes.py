"""Marking snapshot changes: the write side of the compiled snapshot.

A service whose commit changes what an environment's snapshot holds (a release, a targeting
rule, a segment...) calls `mark_changed` inside its unit of work. The environment's revision
row is bumped in the same transaction, so the new revision exists exactly when the change does;
after the commit, the snapshot is recompiled and the new revision announced on the change bus.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import sqlalchemy as sa

from hotswap.configs.model import Environment
from hotswap.delivery.tables import snapshot_revisions
from hotswap.storage.uow import UnitOfWork

OnCommitted = Callable[[frozenset[Environment]], Awaitable[None]]


class SnapshotChanges:
    def __init__(self) -> None:
        self._listeners: list[OnCommitted] = []

    def on_committed(self, listener: OnCommitted) -> None:
        """Called after each commit that changed snapshots, with the environments it changed."""
        self._listeners.append(listener)

    async def mark_changed(self, uow: UnitOfWork, environments: Iterable[Environment] | None = None) -> None:
        """Bump the revision of `environments` (all of them when None) in this transaction."""
        envs = frozenset(Environment) if environments is None else frozenset(environments)
        if not envs:
            return
        pending: set[Environment] | None = uow.scratch.get("snapshot_changes")
        fresh = pending is None
        if pending is None:
            pending = uow.scratch["snapshot_changes"] = set()
        new = envs - pending
        if not new:
            return  # already bumped in this transaction: one commit, one new revision
        pending.update(new)
        await uow.conn.execute(
            sa.update(snapshot_revisions)
            .where(snapshot_revisions.c.environment.in_(sorted(e.value for e in new)))
            .values(revision=snapshot_revisions.c.revision + 1, changed_at=uow.clock.now())
        )
        if fresh:

            async def announce() -> None:
                for listener in self._listeners:
                    await listener(frozenset(pending))

            uow.after_commit(announce)
