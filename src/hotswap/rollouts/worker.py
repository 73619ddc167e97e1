"""The rollout worker: advances every deployment whose stored `due_at` has come.

It keeps no timer of its own that matters: each deployment's next look is an absolute instant in
its row, so a worker started after a crash (or a second worker) finds exactly what is due and
does it once (see `leases` and `lifecycle.decide`). `run_due` is one pass, driven by the
injectable clock in tests; `run` loops, sleeping until the earliest `due_at`, at most
`poll_seconds` (other processes may have made something due), or until woken by this process.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from hotswap.core.clock import Clock
from hotswap.core.dueloop import DueLoop
from hotswap.core.errors import Conflict
from hotswap.rollouts.leases import Leases, StaleLease
from hotswap.rollouts.service import DeploymentService
from hotswap.storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)
RETRY_AFTER = timedelta(seconds=30)


class RolloutWorker(DueLoop):
    name = "rollout-worker"

    def __init__(
        self,
        deployments: DeploymentService,
        uow: UnitOfWorkFactory,
        leases: Leases,
        clock: Clock,
        *,
        poll_seconds: float = 1.0,
        batch: int = 100,
    ) -> None:
        super().__init__(clock, poll_seconds)
        self.deployments = deployments
        self.uow = uow
        self.leases = leases
        self.batch = batch

    async def run_due(self) -> int:
        """One pass: advance each deployment due now. Returns how many moved or were looked at."""
        async with self.uow(read_only=True) as uow:
            due = await self.deployments.due(uow, self.batch)
        done = 0
        for deployment_id in due:
            if await self.advance(deployment_id):
                done += 1
        return done

    async def advance(self, deployment_id: str) -> bool:
        """Advance one deployment. A failure (the judge, the store, a config archived meanwhile)
        is logged and the deployment looked at again after `RETRY_AFTER`: one deployment that
        cannot move never holds up the others, nor makes the worker spin on it. After
        `service.MAX_FAILURES` failures in a row the service finishes it as Failed."""
        try:
            async with self.uow() as uow:
                held = await self.leases.acquire(uow, deployment_id)
                if held is None:
                    return False  # another worker has it
                try:
                    moved = await self.deployments.advance(uow, deployment_id, held)
                    await uow.commit()
                    return moved
                finally:
                    await self.leases.release(deployment_id, held)
        except asyncio.CancelledError:
            raise
        except StaleLease as stale:
            log.warning("%s: raising the fencing counter past it", stale)
            await self.leases.catch_up(deployment_id, stale.seen)
            return False
        except Exception as exc:
            if isinstance(exc, Conflict):
                log.warning("deployment %s could not advance: %s", deployment_id, exc)
            else:
                log.exception("deployment %s could not advance", deployment_id)
            await self._record_failure(deployment_id, f"{type(exc).__name__}: {exc}")
            return False

    async def _record_failure(self, deployment_id: str, error: str) -> None:
        try:
            async with self.uow() as uow:
                await self.deployments.record_failure(uow, deployment_id, error, self.clock.now() + RETRY_AFTER)
                await uow.commit()
        except Exception:  # the store itself is failing: the next pass tries again
            log.exception("deployment %s: its failure could not be recorded", deployment_id)

    async def next_due(self) -> datetime | None:
        async with self.uow(read_only=True) as uow:
            return await self.deployments.next_due(uow)
