"""A bounded LRU of player profiles that never keeps a value read before the latest write.

The race it closes: a reader misses, reads the store, and while its read is in flight a writer
commits and invalidates the key; the reader must not then put its (possibly older) value in the
cache, where it would stay until the player's next write. Each miss takes a ticket; invalidating
a key voids the tickets taken before it, and only a load whose ticket is still valid is kept.
Absent players are cached too (as None), so unknown ids do not read the store on every
request; creating a player invalidates its key like any other write. Entries also expire after
`max_age` seconds: another process's write reaches this one over the change bus, and if that
message is lost, the entry is at most `max_age` old. `fill` puts many values read at once (an
operator's warm-up) under the same rule: a key invalidated while they were read is left out.
Pure; one event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class _Fill:
    """The keys invalidated while a `fill` reads (`everything`: the cache was cleared)."""

    keys: set[str] = field(default_factory=set)
    everything: bool = False


class LoadingCache(Generic[V]):
    def __init__(self, max_entries: int, *, max_age: float = 30.0, now: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.max_age = max_age
        self._now = now
        self._entries: OrderedDict[str, tuple[V | None, float]] = OrderedDict()
        self._tickets: dict[str, object] = {}  # the newest in-flight load of each key
        self._fills: list[_Fill] = []  # fills in flight
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    async def get(self, key: str, load: Callable[[], Awaitable[V | None]]) -> V | None:
        found = self._entries.get(key)
        if found is not None:
            if self._now() < found[1]:
                self._entries.move_to_end(key)
                self.hits += 1
                return found[0]
            del self._entries[key]
        self.misses += 1
        ticket = self._tickets[key] = object()
        try:
            value = await load()
        except BaseException:
            if self._tickets.get(key) is ticket:
                del self._tickets[key]
            raise
        if self._tickets.get(key) is ticket:  # nothing invalidated the key while it loaded
            del self._tickets[key]
            self._entries[key] = (value, self._now() + self.max_age)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    async def fill(self, load: Callable[[], Awaitable[Iterable[tuple[str, V | None]]]]) -> int:
        """Put what `load` reads (keys and values, the most wanted first) and answer how many were
        put: every key but those invalidated while it read. The most wanted end up the most
        recently used, so when there are more than the cache holds, the least wanted are evicted."""
        pending = _Fill()
        self._fills.append(pending)
        try:
            loaded = list(await load())
        finally:
            self._fills.remove(pending)
        if pending.everything:
            return 0
        kept = [(key, value) for key, value in loaded if key not in pending.keys][: self.max_entries]
        expires = self._now() + self.max_age
        for key, value in reversed(kept):
            self._entries[key] = (value, expires)
            self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return len(kept)

    def invalidate(self, key: str) -> None:
        self._entries.pop(key, None)
        self._tickets.pop(key, None)
        for pending in self._fills:
            pending.keys.add(key)

    def clear(self) -> None:
        self._entries.clear()
        self._tickets.clear()
        for pending in self._fills:
            pending.everything = True
