"""Reading configs: the same methods on a client (the newest snapshot) and on a `Session` (one
snapshot, fixed when the session began, so a match keeps the rules it started with).

Everything here reads memory only. Values are the snapshot's own objects: treat them as
read-only (copy one before changing it), as a change would be seen by every other reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from hotswap.sdk.options import Evaluation
from hotswap.targeting.snapshot import CompiledSnapshot, Context

__all__ = ["ContextLike", "Session"]

ContextLike = Context | Mapping[str, Any] | None
_MISSING = object()


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_context(context: ContextLike, default: Context) -> Context:
    """A `Context` from what game code passes: a Context, a mapping of the wire's names
    (`playerId`, `serverId`, `region`, `platform`, `attributes`), or None for the server's own.

    A context that leaves out `serverId` or `region` gets this server's (`Options.server_id`,
    `Options.region`): a player is served by the game server it plays on, so a rollout over
    servers, or a rule on the region, applies to them as it does to the server."""
    if context is None:
        return default
    if isinstance(context, Mapping):
        attributes = context.get("attributes")
        context = Context(
            player_id=_text(context.get("playerId")),
            server_id=_text(context.get("serverId")),
            region=_text(context.get("region")),
            platform=_text(context.get("platform")),
            attributes=attributes if isinstance(attributes, Mapping) else {},
        )
    elif not isinstance(context, Context):
        raise TypeError(f"a context is a Context, a mapping or None, not {type(context).__name__}")
    if (context.server_id is None and default.server_id is not None) or (
        context.region is None and default.region is not None
    ):
        return replace(
            context,
            server_id=context.server_id if context.server_id is not None else default.server_id,
            region=context.region if context.region is not None else default.region,
        )
    return context


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def lookup(value: Any, path: str, default: Any = None) -> Any:
    """`value` at a dotted path: `rewards.daily.0.gold` (a segment of digits indexes a list)."""
    if path == "":
        return value
    current = value
    for part in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else _MISSING
        else:
            return default
        if current is _MISSING:
            return default
    return current


def evaluation(name: str, result: Mapping[str, Any], revision: int) -> Evaluation:
    rollout = result.get("rollout")
    info: Mapping[str, Any] = rollout if isinstance(rollout, Mapping) else {}
    version = result.get("version")
    return Evaluation(
        name=name,
        value=result.get("value"),
        version=None if version is None else str(version),
        reason=str(result.get("reason", "default")),
        rule_id=result.get("ruleId"),
        segment=result.get("segment"),
        deployment_id=info.get("id"),
        arm=info.get("arm"),
        revision=revision,
    )


class Reads:
    """The read methods, over whatever snapshot `_current()` gives."""

    __slots__ = ()

    def _current(self) -> CompiledSnapshot | None:
        raise NotImplementedError

    def _default_context(self) -> Context:
        raise NotImplementedError

    def _clock(self) -> Callable[[], datetime]:
        raise NotImplementedError

    @property
    def revision(self) -> int | None:
        snapshot = self._current()
        return None if snapshot is None else snapshot.revision

    def _result(self, name: str, context: ContextLike) -> tuple[CompiledSnapshot, dict[str, Any]] | None:
        """One config's result for `context` on the held snapshot (only that config evaluated)."""
        snapshot = self._current()
        if snapshot is None:
            return None
        result = snapshot.evaluate_config(name, to_context(context, self._default_context()), self._clock()())
        return None if result is None else (snapshot, result)

    def config(self, name: str, context: ContextLike = None) -> Any | None:
        """The value served to `context` (None: this server), or None when it is served none."""
        found = self._result(name, context)
        return None if found is None else found[1].get("value")

    def value(self, name: str, path: str, default: Any = None, context: ContextLike = None) -> Any:
        """A part of a config's value: `client.value("economy", "rewards.daily.0.gold", 0)`."""
        found = self._result(name, context)
        if found is None:
            return default
        return lookup(found[1].get("value"), path, default)

    def evaluate(self, name: str, context: ContextLike = None) -> Evaluation | None:
        """The value with why it was chosen (rule, segment, rollout arm), or None when absent."""
        found = self._result(name, context)
        return None if found is None else evaluation(name, found[1], found[0].revision)

    def active_events(self, context: ContextLike = None) -> list[dict[str, Any]]:
        """The live events that apply to `context` now (None: this server), sorted by id: what
        `GET /api/v1/players/{id}/events` serves. Evaluates no config."""
        snapshot = self._current()
        if snapshot is None:
            return []
        return snapshot.active_events(to_context(context, self._default_context()), self._clock()())


class Session(Reads):
    """One snapshot for the length of a match: `with client.session() as s: s.config(...)`.

    Reads on a session never see a later revision, however many arrive meanwhile. A session
    holds nothing but a reference, so it needs no closing; `with` only marks its extent.
    """

    __slots__ = ("_context", "_now", "_snapshot")

    def __init__(
        self, snapshot: CompiledSnapshot | None, default_context: Context, now: Callable[[], datetime]
    ) -> None:
        self._snapshot = snapshot
        self._context = default_context
        self._now = now

    def _current(self) -> CompiledSnapshot | None:
        return self._snapshot

    def _default_context(self) -> Context:
        return self._context

    def _clock(self) -> Callable[[], datetime]:
        return self._now

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        return None
