"""Who may advance a deployment right now: exactly one worker at a time.

Each advance is one transaction that reads the deployment's stored state, decides with the pure
model, and writes the result. A worker first takes the deployment's lease for that transaction;
if another worker holds it, this one skips the deployment (it will look again later).

- PostgreSQL: a transaction-scoped advisory lock (`pg_try_advisory_xact_lock`), released by the
  commit or rollback itself, so a crashed worker never strands it.
- Redis (when configured): `SET NX PX` with a fencing token from `INCR`. A worker whose lease
  expired while it was paused (GC, network) may still try to write: its token is older than the
  one stored on the row by the newer holder, and the write matches no row. Should Redis lose
  the counter (a restart without persistence), tokens start low again: the service sees a token
  below the row's (`StaleLease`), the worker raises the counter past it (`catch_up`), and the
  next look gets a token that writes.
- SQLite (one process): an in-process lock per deployment; the database's single writer does
  the rest.

Whatever the lease, the write itself is conditional on the row's `revision` (see the service),
so two advances of the same state can never both commit.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from hotswap.rollouts.repository import DeploymentRepository
from hotswap.storage.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class Held:
    """A held lease: `fence` is 0 where the lease needs no fencing (PostgreSQL, SQLite)."""

    fence: int
    token: str = ""


class StaleLease(Exception):
    """The lease's fencing token is below the one the row has seen (the counter was reset)."""

    def __init__(self, deployment_id: str, seen: int) -> None:
        super().__init__(f"deployment {deployment_id}: fencing token below the {seen} already seen")
        self.seen = seen


class Leases(Protocol):
    async def acquire(self, uow: UnitOfWork, deployment_id: str) -> Held | None: ...

    async def release(self, deployment_id: str, held: Held) -> None: ...

    async def catch_up(self, deployment_id: str, seen: int) -> None:
        """Make the next fencing token for this deployment greater than `seen`."""


class AdvisoryLeases:
    async def acquire(self, uow: UnitOfWork, deployment_id: str) -> Held | None:
        return Held(0) if await DeploymentRepository(uow.conn).try_lock(deployment_id) else None

    async def release(self, deployment_id: str, held: Held) -> None:
        """Nothing to do: the transaction's end releases it."""

    async def catch_up(self, deployment_id: str, seen: int) -> None:
        """No fencing tokens here."""


class LocalLeases:
    """For a single process (SQLite): an asyncio lock per deployment, held until `release`."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._held: dict[str, asyncio.Lock] = {}

    async def acquire(self, uow: UnitOfWork, deployment_id: str) -> Held | None:
        lock = self._locks.get(deployment_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[deployment_id] = lock
        if lock.locked():
            return None
        await lock.acquire()
        self._held[deployment_id] = lock
        return Held(0)

    async def release(self, deployment_id: str, held: Held) -> None:
        lock = self._held.pop(deployment_id, None)
        if lock is not None and lock.locked():
            lock.release()

    async def catch_up(self, deployment_id: str, seen: int) -> None:
        """No fencing tokens here."""


# Deletes the lease only if it is still ours (another worker may hold it after ours expired).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
# Raises the fencing counter to at least ARGV[1] (never lowers it).
_CATCH_UP = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('set', KEYS[1], ARGV[1]) end
return 1
"""


class RedisLeases:
    def __init__(self, redis: Redis, *, ttl_ms: int = 30_000, prefix: str = "hotswap:lease:deployment:") -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self.prefix = prefix
        self._release = redis.register_script(_RELEASE)
        self._catch_up = redis.register_script(_CATCH_UP)

    async def acquire(self, uow: UnitOfWork, deployment_id: str) -> Held | None:
        token = secrets.token_hex(16)
        key = self.prefix + deployment_id
        if not await self.redis.set(key, token, nx=True, px=self.ttl_ms):
            return None
        fence = int(await self.redis.incr(key + ":fence"))
        return Held(fence, token)

    async def release(self, deployment_id: str, held: Held) -> None:
        await self._release(keys=[self.prefix + deployment_id], args=[held.token])

    async def catch_up(self, deployment_id: str, seen: int) -> None:
        await self._catch_up(keys=[self.prefix + deployment_id + ":fence"], args=[seen])
