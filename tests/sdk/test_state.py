"""The held snapshot: swapped only forward, listeners, bootstrap and the last-known-good cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from hotswap.sdk import AsyncClient
from hotswap.sdk._state import State, changed_configs, initial_document, write_atomically
from hotswap.targeting.delta import DeltaMismatch, diff
from tests.delivery.test_api import release, snapshot
from tests.helpers import Headers, wait_until
from tests.sdk.support import FlakyTransport, options


def document(revision: int, **configs: Any) -> dict[str, Any]:
    return {
        "environment": "Staging",
        "revision": revision,
        "changedAt": "2026-06-01T12:00:00Z",
        "configs": {name: {"value": value, "version": "1.0.0", "rules": []} for name, value in configs.items()},
        "segments": {},
        "regions": {},
        "rollouts": [],
        "events": [],
    }


def test_a_snapshot_is_swapped_in_only_when_newer() -> None:
    state = State("Staging")
    assert state.offer(document(5, shop={"price": 1}), "test") is not None
    held = state.snapshot
    assert state.offer(document(5, shop={"price": 2}), "test") is None
    assert state.offer(document(4, shop={"price": 3}), "test") is None
    assert state.snapshot is held
    assert state.offer(document(6, shop={"price": 4}), "test") is not None
    assert state.revision == 6


def test_a_broken_document_leaves_the_held_snapshot_alone() -> None:
    state = State("Staging")
    state.offer(document(5, shop={"price": 1}), "test")
    held = state.snapshot
    broken_documents: list[Any] = [
        [],
        {"revision": 9},
        {**document(9), "environment": "Production"},
        {**document(9), "revision": "9"},
    ]
    for broken in broken_documents:
        with pytest.raises(ValueError, match="document"):
            state.offer(broken, "test")
    assert state.snapshot is held


def test_deltas_apply_to_the_held_revision_only() -> None:
    state = State("Staging")
    with pytest.raises(DeltaMismatch):
        state.apply(diff(document(5), document(6, shop={"price": 1})), "test")
    state.offer(document(5), "test", from_server=True)
    assert state.apply(diff(document(5), document(6, shop={"price": 1})), "test") is not None
    assert state.snapshot is not None
    assert state.snapshot.document["configs"]["shop"]["value"] == {"price": 1}
    assert state.apply(diff(document(5), document(6)), "test") is None  # old news: ignored
    with pytest.raises(DeltaMismatch):
        state.apply(diff(document(7), document(8)), "test")


def test_a_cached_revision_is_a_claim_the_server_s_first_snapshot_overrules() -> None:
    """A cache from a store since reset (or another cluster) may claim any revision: it serves
    until the server answers, is never resumed from, and gives way to the server's snapshot."""
    state = State("Staging")
    state.offer(document(42, shop={"price": 1}), "cache")
    assert state.server_snapshot() is None  # nothing to resume from: no Last-Event-ID, no ETag
    with pytest.raises(DeltaMismatch):
        state.apply(diff(document(42), document(43)), "stream delta")
    state.offer_text(orjson.dumps(document(3, shop={"price": 2})).decode(), "stream")
    assert state.revision == 3
    assert state.server_snapshot() is state.snapshot
    assert state.offer(document(2, shop={"price": 3}), "poll", from_server=True) is None  # now only forward


def test_clients_in_one_process_share_what_they_were_sent_alike() -> None:
    first, second, elsewhere = State("Staging"), State("Staging"), State("Staging")
    text = orjson.dumps(document(5, shop={"price": 1})).decode()
    first.offer_text(text, "stream")
    second.offer_text(text, "stream")
    assert first.snapshot is second.snapshot  # one compile for both
    elsewhere.offer(document(5, shop={"price": 1}), "poll", from_server=True)  # equal, not the same object
    delta = orjson.dumps(diff(document(5, shop={"price": 1}), document(6, shop={"price": 2}))).decode()
    for state in (first, second, elsewhere):
        state.apply_text(delta, "stream delta")
    assert first.snapshot is second.snapshot
    assert elsewhere.snapshot is not first.snapshot
    for state in (first, second, elsewhere):
        assert state.snapshot is not None
        assert state.snapshot.revision == 6
        assert state.snapshot.document["configs"]["shop"]["value"] == {"price": 2}
    # What a state would refuse on its own it refuses when shared too.
    with pytest.raises(ValueError, match="environment"):
        State("Production").offer_text(text, "stream")


def test_a_config_changes_when_its_entry_or_its_rollout_does() -> None:
    old = document(1, shop={"price": 1}, pvp={"maps": 2}, gone={})
    new = document(2, shop={"price": 1}, pvp={"maps": 3}, fresh={})
    assert changed_configs(old, new) == ["fresh", "gone", "pvp"]
    rolled = {**new, "rollouts": [{"config": "shop", "id": "dep_1", "step": 1, "version": "2.0.0", "value": {}}]}
    assert changed_configs(new, rolled) == ["shop"]
    stepped = {**rolled, "rollouts": [{**rolled["rollouts"][0], "step": 2}]}
    assert changed_configs(rolled, stepped) == ["shop"]
    assert changed_configs(None, old) == ["gone", "pvp", "shop"]


def test_listeners_run_after_the_swap_and_their_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    state = State("Staging")
    state.offer(document(1, shop={"price": 1}, pvp={}), "test")
    calls: list[tuple[str, int, int | None]] = []
    state.listen("shop", lambda name, revision: calls.append((name, revision, state.revision)))
    state.listen("*", lambda name, revision: calls.append(("*" + name, revision, state.revision)))

    def broken(name: str, revision: int) -> None:
        raise RuntimeError("game code bug")

    unsubscribe = state.listen("shop", broken)
    state.offer(document(2, shop={"price": 2}, pvp={}), "test")
    assert calls == [("shop", 2, 2), ("*shop", 2, 2)]
    assert "on_change callback for 'shop' failed" in caplog.text
    unsubscribe()
    unsubscribe()  # twice is harmless
    caplog.clear()
    state.offer(document(3, shop={"price": 3}, pvp={"x": 1}), "test")
    assert calls[2:] == [("*pvp", 3, 3), ("shop", 3, 3), ("*shop", 3, 3)]  # config by config, in name order
    assert "failed" not in caplog.text


def test_the_cache_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "hotswap.json"
    write_atomically(path, b'{"a": 1}')
    write_atomically(path, b'{"a": 2}')
    assert path.read_bytes() == b'{"a": 2}'
    assert os.listdir(path.parent) == ["hotswap.json"]  # no temporary file left behind


def test_a_failed_cache_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "hotswap.json"
    write_atomically(path, b"old")

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["hotswap.json"]


def test_the_newer_of_cache_and_bootstrap_serves_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cache.json"
    cache.write_bytes(orjson.dumps(document(7, shop={"from": "cache"})))
    found = initial_document(document(5, shop={"from": "bootstrap"}), cache, "Staging")
    assert found is not None
    assert (found[0]["revision"], found[1]) == (7, "cache")
    booted = tmp_path / "bootstrap.json"
    booted.write_bytes(orjson.dumps(document(9, shop={"from": "file"})))
    found = initial_document(booted, cache, "Staging")
    assert found is not None
    assert (found[0]["revision"], found[1]) == (9, "bootstrap")
    assert initial_document(None, tmp_path / "missing.json", "Staging") is None
    cache.write_bytes(b'{"environment": "Staging", "revision": 8, "configs": {')  # torn by hand
    found = initial_document(document(5), cache, "Staging")
    assert found is not None
    assert found[1] == "bootstrap"
    assert "ignoring the cache file" in caplog.text
    assert initial_document(document(5), None, "Production") is None  # another environment's


async def test_a_game_server_that_starts_while_hotswap_is_down_serves_the_cache(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, tmp_path: Path
) -> None:
    cache = tmp_path / "hotswap.json"
    await release(client, op, "shop", {"price": 10})
    async with AsyncClient(options(transport, server, cache_path=cache)) as first:
        revision = first.revision
        await wait_until(lambda: cache.exists() and orjson.loads(cache.read_bytes())["revision"] == revision)
    assert orjson.loads(cache.read_bytes()) == await snapshot(client, server)

    transport.down = True
    restarted = AsyncClient(options(transport, server, cache_path=cache))
    await restarted.start()  # returns at once: the stream failed, the cache serves
    assert restarted.ready
    assert (restarted.revision, restarted.config("shop")) == (revision, {"price": 10})
    await release(client, op, "shop", {"price": 12}, version="1.0.1", create=False)
    transport.down = False
    await wait_until(lambda: restarted.config("shop") == {"price": 12}, "the change once HotSwap is back")
    await wait_until(lambda: orjson.loads(cache.read_bytes())["configs"]["shop"]["value"] == {"price": 12})
    await restarted.aclose()


async def test_a_game_server_that_loses_hotswap_keeps_serving(
    client: httpx.AsyncClient, transport: FlakyTransport, op: Headers, server: Headers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "hotswap.sdk")
    await release(client, op, "shop", {"price": 10})
    async with AsyncClient(options(transport, server)) as hs:
        transport.down = True
        transport.cut()
        await wait_until(lambda: "polling the snapshot failed" in caplog.text, "a failed refresh, logged")
        with hs.session() as match:
            assert match.config("shop") == {"price": 10}
        assert hs.config("shop") == {"price": 10}
        assert hs.ready


async def test_a_bootstrap_serves_until_the_server_answers(
    transport: FlakyTransport, client: httpx.AsyncClient, op: Headers, server: Headers
) -> None:
    await release(client, op, "shop", {"price": 10})
    live = await snapshot(client, server)
    transport.down = True
    hs = AsyncClient(options(transport, server, bootstrap=document(1, shop={"price": 1}), start_timeout=0))
    await hs.start()
    assert (hs.revision, hs.config("shop")) == (1, {"price": 1})
    transport.down = False
    await wait_until(lambda: hs.revision == live["revision"], "the live snapshot")
    assert hs.config("shop") == {"price": 10}
    await hs.aclose()
