"""The profile cache: bounded LRU, and no value read before a write survives that write."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from hotswap.players.cache import LoadingCache


class Store:
    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}
        self.reads = 0

    def loader(self, key: str, gate: asyncio.Event | None = None) -> Callable[[], Awaitable[str | None]]:
        async def load() -> str | None:
            self.reads += 1
            value = self.values.get(key)  # read "now", like a transaction's snapshot
            if gate is not None:
                await gate.wait()
            return value

        return load


async def test_hits_do_not_read_the_store() -> None:
    store, cache = Store(), LoadingCache[str](10)
    store.values["a"] = "1"
    assert await cache.get("a", store.loader("a")) == "1"
    assert await cache.get("a", store.loader("a")) == "1"
    assert store.reads == 1
    assert (cache.hits, cache.misses) == (1, 1)


async def test_absent_is_cached_until_invalidated() -> None:
    store, cache = Store(), LoadingCache[str](10)
    assert await cache.get("new", store.loader("new")) is None
    store.values["new"] = "created"
    assert await cache.get("new", store.loader("new")) is None  # still the cached absence
    cache.invalidate("new")  # what a create does after its commit
    assert await cache.get("new", store.loader("new")) == "created"


async def test_least_recently_used_is_evicted() -> None:
    store, cache = Store(), LoadingCache[str](2)
    store.values.update(a="1", b="2", c="3")
    await cache.get("a", store.loader("a"))
    await cache.get("b", store.loader("b"))
    await cache.get("a", store.loader("a"))  # a is now the most recent
    await cache.get("c", store.loader("c"))
    assert "a" in cache
    assert "b" not in cache
    assert len(cache) == 2


async def test_a_load_overtaken_by_a_write_is_not_kept() -> None:
    store, cache = Store(), LoadingCache[str](10)
    store.values["p"] = "old"
    gate = asyncio.Event()
    reader = asyncio.create_task(cache.get("p", store.loader("p", gate)))
    await asyncio.sleep(0)  # the reader has read "old" and waits
    store.values["p"] = "new"  # a writer commits...
    cache.invalidate("p")  # ...and invalidates after its commit
    gate.set()
    assert await reader == "old"  # the reader answers with what it read
    assert "p" not in cache  # but does not keep it
    assert await cache.get("p", store.loader("p")) == "new"


async def test_a_failed_load_caches_nothing() -> None:
    cache = LoadingCache[str](10)

    async def boom() -> str | None:
        raise RuntimeError("store down")

    with pytest.raises(RuntimeError):
        await cache.get("p", boom)
    assert "p" not in cache

    async def fine() -> str | None:
        return "v"

    assert await cache.get("p", fine) == "v"
    assert "p" in cache


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LoadingCache[str](0)


async def test_entries_expire_so_a_lost_invalidation_heals() -> None:
    clock = [0.0]
    store, cache = Store(), LoadingCache[str](10, max_age=30, now=lambda: clock[0])
    store.values["p"] = "old"
    assert await cache.get("p", store.loader("p")) == "old"
    store.values["p"] = "new"  # written by another process whose bus message never came
    clock[0] = 29.9
    assert await cache.get("p", store.loader("p")) == "old"
    clock[0] = 30.0
    assert await cache.get("p", store.loader("p")) == "new"
    assert store.reads == 2


Pairs = list[tuple[str, str | None]]


def bulk(pairs: Pairs, gate: asyncio.Event | None = None) -> Callable[[], Awaitable[Pairs]]:
    """A bulk read of the store (the warm-up's), held at `gate` after reading."""

    async def load() -> Pairs:
        read = list(pairs)  # read "now"
        if gate is not None:
            await gate.wait()
        return read

    return load


async def test_a_fill_puts_what_it_read_and_hits_follow() -> None:
    store, cache = Store(), LoadingCache[str](10)
    assert await cache.fill(bulk([("a", "1"), ("b", "2")])) == 2
    assert await cache.get("a", store.loader("a")) == "1"
    assert store.reads == 0
    assert cache.hits == 1


async def test_a_fill_leaves_out_the_keys_written_while_it_read() -> None:
    store, cache = Store(), LoadingCache[str](10)
    gate = asyncio.Event()
    filling = asyncio.ensure_future(cache.fill(bulk([("a", "old"), ("b", "2")], gate)))
    await asyncio.sleep(0)  # the fill has read
    store.values["a"] = "new"
    cache.invalidate("a")  # the write commits while the fill is in flight
    gate.set()
    assert await filling == 1
    assert "a" not in cache
    assert await cache.get("a", store.loader("a")) == "new"


async def test_a_fill_overtaken_by_a_clear_keeps_nothing() -> None:
    cache = LoadingCache[str](10)
    gate = asyncio.Event()
    filling = asyncio.ensure_future(cache.fill(bulk([("a", "1")], gate)))
    await asyncio.sleep(0)
    cache.clear()
    gate.set()
    assert await filling == 0
    assert len(cache) == 0


async def test_a_fill_larger_than_the_cache_keeps_the_most_wanted() -> None:
    cache = LoadingCache[str](2)
    # The most wanted first (the most recently active players): they survive, the last is dropped.
    assert await cache.fill(bulk([("a", "1"), ("b", "2"), ("c", "3")])) == 2
    assert ("a" in cache, "b" in cache, "c" in cache) == (True, True, False)
    # And they are the most recently used: an entry loaded earlier is evicted before them.
    cache = LoadingCache[str](3)
    await cache.get("old", Store().loader("old"))
    await cache.fill(bulk([("a", "1"), ("b", "2"), ("c", "3")]))
    assert "old" not in cache
    assert len(cache) == 3
