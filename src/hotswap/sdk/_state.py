"""The snapshot a client holds: swapped in whole, only forward, with its listeners and cache.

Readers take `State.snapshot` (one reference read) and evaluate on it; a new revision is compiled
first and then assigned in one step, so a reader sees the old snapshot or the new one, never a
mix. Only the client's own loop swaps; listeners may be added from any thread.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from hotswap.targeting.delta import DeltaMismatch, apply_delta, same
from hotswap.targeting.snapshot import CompiledSnapshot

log = logging.getLogger("hotswap.sdk")

Listener = Callable[[str, int], None]
ANY = "*"

# Clients in one process (a host running several game servers, a test, the propagation bench)
# receive the same events: the same snapshot text, or the same delta text on the same held
# snapshot. They share the compiled result instead of each decoding, applying and compiling it
# again. A compiled snapshot is immutable, so sharing is safe, and the keys are exact (the whole
# text, the very base object): no assumption about where a document came from.
_by_text: weakref.WeakValueDictionary[str, CompiledSnapshot] = weakref.WeakValueDictionary()
_by_delta: weakref.WeakKeyDictionary[CompiledSnapshot, dict[str, CompiledSnapshot]] = weakref.WeakKeyDictionary()


class InvalidDocument(ValueError):
    """Not a snapshot document of the client's environment."""


def check_document(document: Any, environment: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise InvalidDocument("a snapshot document is a JSON object")
    revision = document.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise InvalidDocument("a snapshot document has a whole, non-negative revision")
    env = document.get("environment")
    if not isinstance(env, str) or env.casefold() != environment.casefold():
        raise InvalidDocument(f"the document is of environment {env!r}, not {environment!r}")
    if not isinstance(document.get("configs", {}), dict):
        raise InvalidDocument("a snapshot document's configs are an object")
    return document


def changed_configs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """The configs whose entry differs between two documents: the config itself, or its rollout."""
    old_configs: Mapping[str, Any] = (old or {}).get("configs") or {}
    new_configs: Mapping[str, Any] = new.get("configs") or {}
    old_rollouts = _rollouts(old)
    new_rollouts = _rollouts(new)
    names = old_configs.keys() | new_configs.keys() | old_rollouts.keys() | new_rollouts.keys()
    return sorted(
        name
        for name in names
        if not same(old_configs.get(name), new_configs.get(name))
        or not same(old_rollouts.get(name), new_rollouts.get(name))
    )


def _rollouts(document: Mapping[str, Any] | None) -> dict[str, Any]:
    entries = (document or {}).get("rollouts") or []
    return {r["config"]: r for r in entries if isinstance(r, dict) and isinstance(r.get("config"), str)}


class State:
    def __init__(self, environment: str) -> None:
        self.environment = environment
        self.from_server = False  # the held snapshot came from the server (not a file)
        self.snapshot: CompiledSnapshot | None = None
        self._listeners: dict[str, tuple[Listener, ...]] = {}
        self._lock = threading.Lock()  # guards listener edits; notifying reads a tuple
        # The client's own reactions to a swap (cache write, fleet heartbeat), after listeners.
        self.after_swap: list[Callable[[CompiledSnapshot], None]] = []

    @property
    def revision(self) -> int | None:
        held = self.snapshot
        return None if held is None else held.revision

    def offer(self, document: Any, source: str, *, from_server: bool = False) -> CompiledSnapshot | None:
        """Swap `document` in when its revision is above the held one; the new snapshot, or None
        when it was not newer. Raises InvalidDocument (or what compiling raises) when it is broken:
        the held snapshot is then untouched.

        A bootstrap or cache document's revision number is only a claim: the server's first
        snapshot replaces it whatever its revision (the store may have been reset or restored,
        or the file come from another cluster), and until then the client resumes nothing."""
        doc = check_document(document, self.environment)
        held = self.snapshot
        if held is not None and doc["revision"] <= held.revision and (self.from_server or not from_server):
            return None
        compiled = self._swap(held, CompiledSnapshot(doc), source)
        self.from_server = self.from_server or from_server
        return compiled

    def server_snapshot(self) -> CompiledSnapshot | None:
        """The held snapshot once it came from the server (what resuming may name), else None."""
        return self.snapshot if self.from_server else None

    def offer_text(self, text: str, source: str) -> CompiledSnapshot | None:
        """`offer` for a snapshot as the server sent it (JSON text)."""
        shared = _by_text.get(text)
        held = self.snapshot
        fresh = held is None or not self.from_server or (shared is not None and shared.revision > held.revision)
        if shared is None or shared.environment != self.environment or not fresh:
            compiled = self.offer(orjson.loads(text), source, from_server=True)  # refused or ignored as it says
            if compiled is not None and shared is None:
                _by_text[text] = compiled
            return compiled
        self.from_server = True
        return self._swap(held, shared, source)

    def apply_text(self, text: str, source: str) -> CompiledSnapshot | None:
        """`apply` for a delta as the server sent it (JSON text)."""
        held = self.snapshot
        shared = _by_delta.get(held, {}).get(text) if held is not None else None
        if shared is not None:  # another client here applied this very delta to this very snapshot
            return self._swap(held, shared, source)
        compiled = self.apply(orjson.loads(text), source)
        if compiled is not None and held is not None:
            results = _by_delta.setdefault(held, {})
            if len(results) < 8:
                results[text] = compiled
        return compiled

    def _swap(self, held: CompiledSnapshot | None, compiled: CompiledSnapshot, source: str) -> CompiledSnapshot:
        self.snapshot = compiled  # the swap: one reference assignment
        log.info("hotswap: serving revision %d of %s (from %s)", compiled.revision, compiled.environment, source)
        self._notify(changed_configs(held.document if held is not None else None, compiled.document), compiled.revision)
        for react in self.after_swap:
            try:
                react(compiled)
            except Exception:
                log.exception("hotswap: reacting to revision %d failed", compiled.revision)
        return compiled

    def apply(self, delta: Mapping[str, Any], source: str) -> CompiledSnapshot | None:
        """Apply a delta to the held document. Raises DeltaMismatch when it does not start from
        the held revision (and is not an old one: those are ignored)."""
        held = self.snapshot
        revision = delta.get("revision")
        if held is not None and isinstance(revision, int) and revision <= held.revision:
            return None
        if held is None or not self.from_server:
            raise DeltaMismatch("a delta arrived while no snapshot from the server is held")
        return self.offer(apply_delta(held.document, delta), source, from_server=True)

    # -- listeners ------------------------------------------------------------------------

    def listen(self, name: str, callback: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners[name] = (*self._listeners.get(name, ()), callback)

        def unsubscribe() -> None:
            with self._lock:
                kept = list(self._listeners.get(name, ()))
                if callback in kept:
                    kept.remove(callback)
                if kept:
                    self._listeners[name] = tuple(kept)
                else:
                    self._listeners.pop(name, None)

        return unsubscribe

    def _notify(self, names: list[str], revision: int) -> None:
        listeners = self._listeners  # edits replace tuples: iterating what we read is safe
        if not listeners:
            return
        catch_all = listeners.get(ANY, ())
        for name in names:
            for callback in (*listeners.get(name, ()), *catch_all):
                try:
                    callback(name, revision)
                except Exception:
                    log.exception("hotswap: on_change callback for %r failed", name)


# -- bootstrap and the last-known-good cache ---------------------------------------------------


def read_document(path: str | os.PathLike[str], environment: str, what: str) -> dict[str, Any] | None:
    """A document from a JSON file, or None (logged) when it is missing or unusable."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        log.info("hotswap: no %s at %s", what, os.fspath(path))
        return None
    except OSError as exc:
        log.warning("hotswap: cannot read the %s at %s: %s", what, os.fspath(path), exc)
        return None
    try:
        return check_document(orjson.loads(raw), environment)
    except (orjson.JSONDecodeError, InvalidDocument) as exc:
        log.warning("hotswap: ignoring the %s at %s: %s", what, os.fspath(path), exc)
        return None


def bootstrap_document(
    bootstrap: str | os.PathLike[str] | Mapping[str, Any], environment: str
) -> dict[str, Any] | None:
    if isinstance(bootstrap, Mapping):
        try:
            # Our own copy, and proof that it is JSON: the cache will store it.
            return check_document(orjson.loads(orjson.dumps(bootstrap)), environment)
        except (TypeError, orjson.JSONEncodeError, InvalidDocument) as exc:
            log.warning("hotswap: ignoring the bootstrap document: %s", exc)
            return None
    return read_document(bootstrap, environment, "bootstrap file")


def initial_document(
    bootstrap: str | os.PathLike[str] | Mapping[str, Any] | None,
    cache_path: str | os.PathLike[str] | None,
    environment: str,
) -> tuple[dict[str, Any], str] | None:
    """What to serve before the network answers: the cache or the bootstrap, whichever is newer."""
    found: list[tuple[dict[str, Any], str]] = []
    if cache_path is not None:
        cached = read_document(cache_path, environment, "cache file")
        if cached is not None:
            found.append((cached, "cache"))
    if bootstrap is not None:
        booted = bootstrap_document(bootstrap, environment)
        if booted is not None:
            found.append((booted, "bootstrap"))
    if not found:
        return None
    return max(found, key=lambda pair: int(pair[0]["revision"]))


def write_atomically(path: str | os.PathLike[str], body: bytes) -> None:
    """Write the file so that a reader (or a restart after a crash) sees the old content or the
    new, never a part: a temporary file in the same directory, flushed to disk, then renamed."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not every platform can open a directory
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
