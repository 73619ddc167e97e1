"""Rate limits per token and per client address, on the `limits` library.

Redis storage when HOTSWAP_REDIS_URL is set (shared by every replica), memory otherwise.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: str
    retry_after: int
    limit: str


class RateLimiter:
    def __init__(self, storage: Storage, *, per_token: str, per_address: str) -> None:
        self.storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._limits: dict[str, RateLimitItem] = {"token": parse(per_token), "address": parse(per_address)}

    @classmethod
    def create(cls, redis_url: str | None, *, per_token: str, per_address: str) -> RateLimiter:
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix="hotswap-rl")
        else:
            storage = MemoryStorage()
        return cls(storage, per_token=per_token, per_address=per_address)

    async def hit(self, scope: str, key: str) -> Refusal | None:
        item = self._limits[scope]
        if await self._limiter.hit(item, scope, key):
            return None
        stats = await self._limiter.get_window_stats(item, scope, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Refusal(scope, retry_after, str(item))

    async def reset(self) -> None:
        await self.storage.reset()
