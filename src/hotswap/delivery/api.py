"""What game servers and players are served: the snapshot, evaluated configs, and live events.

These are hot routes (`web.fastpath`): they answer from the in-memory snapshot, decode with
orjson and send bytes encoded at compile time. Not being FastAPI routes, they are described
for OpenAPI by hand, in `openapi.py`. One ordinary route, for operators, warms what they serve
from (`router`: `POST /api/v1/admin/cache/warm`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import msgspec
import orjson
from fastapi import APIRouter, Depends
from sqlalchemy.exc import DBAPIError

from hotswap.auth.model import Permission, Principal
from hotswap.core.clock import Clock
from hotswap.core.environments import parse_environment
from hotswap.core.errors import FieldError, InvalidInput, Unavailable
from hotswap.delivery.schemas import CacheWarm, WarmRead
from hotswap.delivery.service import SnapshotService
from hotswap.delivery.stream import StreamHub
from hotswap.delivery.warming import CacheWarmer
from hotswap.observability.logging import request_id_var
from hotswap.players.model import PlayerProfile, targeting_attributes
from hotswap.targeting.snapshot import CompiledSnapshot, Context
from hotswap.web.decoding import UNKNOWN_FIELD, field_error
from hotswap.web.deps import require, service
from hotswap.web.fastpath import HotRequest, HotResponse, HotRoute

MAX_ATTRIBUTES = 200
MAX_ID = 200


def parse_at(raw: str | None, now: datetime) -> datetime:
    """`?at=`: an ISO 8601 instant with a time zone (what would be served then); default now."""
    if raw is None:
        return now
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput(
            "`at` is not a timestamp.",
            errors=[
                FieldError("query.at", "must be an ISO 8601 timestamp with a time zone, e.g. 2026-12-01T00:00:00Z")
            ],
        )
    return at


def _text(value: Any, field: str, errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        errors.append(FieldError(field, f"must be a string of 1 to {MAX_ID} characters"))
        return None
    return value


_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]


class _ContextBody(msgspec.Struct, forbid_unknown_fields=True):
    playerId: _Id | None = None  # noqa: N815 - the wire's names
    serverId: _Id | None = None  # noqa: N815
    region: _Id | None = None
    platform: _Id | None = None
    environment: str | None = None
    attributes: dict[str, Any] | None = None


# msgspec, not orjson plus checks in Python: it decodes and validates the context in C, about a
# seventh of the time (bench/player_query.py prints both).
_decode_context = msgspec.json.Decoder(_ContextBody).decode
_ID_FIELDS = ("body.playerId", "body.serverId", "body.region", "body.platform")


def _context_problem(exc: msgspec.MsgspecError, body: bytes) -> InvalidInput:
    error = field_error(exc, body)
    if error.message == UNKNOWN_FIELD:  # named whole, as sent
        return InvalidInput("The evaluation context is invalid.", errors=[error])
    top = ".".join(error.field.split(".")[:2])  # the context's own field: `body.attributes`
    message = f"must be a string of 1 to {MAX_ID} characters" if top in _ID_FIELDS else error.message
    return InvalidInput("The evaluation context is invalid.", errors=[FieldError(top, message)])


def parse_context(body: bytes) -> tuple[Context, str | None]:
    """The evaluation context of a request body, and the environment it names (if any)."""
    try:
        data = _decode_context(body)
    except msgspec.MsgspecError as exc:
        raise _context_problem(exc, body) from exc
    attributes = data.attributes or {}
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(
            "The evaluation context is invalid.",
            errors=[FieldError("body.attributes", f"at most {MAX_ATTRIBUTES} attributes")],
        )
    if data.playerId is None and data.serverId is None:
        raise InvalidInput(
            "The evaluation context is invalid.",
            errors=[FieldError("body.playerId", "give a playerId, a serverId, or both")],
        )
    context = Context(data.playerId, data.serverId, data.region, data.platform, attributes)
    return context, data.environment


def _revision_headers(revision: int, etag: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-snapshot-revision", str(revision).encode()), (b"cache-control", b"no-cache"), (b"etag", etag.encode())]


def _matches(if_none_match: bytes | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    wanted = etag.encode()
    for tag in if_none_match.split(b","):
        tag = tag.strip()
        if tag == b"*" or tag.removeprefix(b"W/") == wanted:
            return True
    return False


def _query_value(raw: str) -> Any:
    """`attr.level=12` is the number 12, `attr.beta=true` the boolean; anything else is text."""
    if raw in ("true", "false", "null") or (raw[:1].isdigit() or raw[:1] == "-"):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        return value if not isinstance(value, dict | list) else raw
    return raw


def query_context(player_id: str, query: Mapping[str, str], stored: Mapping[str, Any]) -> Context:
    """The context of a player query: the stored profile's targeting attributes, then the query's
    `attr.<name>` values on top (what the game knows now that the store may not)."""
    attributes = dict(stored)
    errors: list[FieldError] = []
    extra = [(k[5:], v) for k, v in query.items() if k.startswith("attr.")]
    if len(extra) > MAX_ATTRIBUTES:
        errors.append(FieldError("query", f"at most {MAX_ATTRIBUTES} attr.* parameters"))
    for name, raw in extra:
        if not name or len(name) > 100:
            errors.append(FieldError(f"query.attr.{name[:100]}", "an attribute name has 1 to 100 characters"))
        else:
            attributes[name] = _query_value(raw)
    fields = {key: _text(query.get(key), f"query.{key}", errors) for key in ("serverId", "region", "platform")}
    if errors:
        raise InvalidInput("The query is invalid.", errors=errors)
    return Context(
        player_id=player_id,
        server_id=fields["serverId"],
        region=fields["region"],
        platform=fields["platform"],
        attributes=attributes,
    )


def last_event_id(raw: bytes | None) -> int | None:
    """The revision a reconnecting stream client holds; anything else counts as none (it gets
    the full snapshot)."""
    if raw is None or not 0 < len(raw) <= 20 or not raw.isdigit():
        return None
    return int(raw)


# A stored player's profile by id (None for one never reported), from the players slice's cache.
ProfileLookup = Callable[[str], Awaitable[PlayerProfile | None]]


def hot_routes(snapshots: SnapshotService, streams: StreamHub, clock: Clock, profile: ProfileLookup) -> list[HotRoute]:
    async def snapshot(request: HotRequest) -> HotResponse:
        env = parse_environment(request.query.get("environment"), "query.environment")
        current = await snapshots.get(env)
        headers = _revision_headers(current.revision, current.etag)
        if _matches(request.header(b"if-none-match"), current.etag):
            return HotResponse(b"", status=304, headers=headers)
        return HotResponse(current.body, headers=headers)

    async def stream(request: HotRequest) -> HotResponse:
        env = parse_environment(request.query.get("environment"), "query.environment")
        last = last_event_id(request.header(b"last-event-id"))
        current = await snapshots.get(env)
        if last is not None and last > current.revision:
            # The client saw a later revision on another replica: catch up with the store first.
            current = await snapshots.catch_up(env, last)
        headers = [
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),  # proxies must pass each event on at once
            (b"x-snapshot-revision", str(current.revision).encode()),
        ]
        return HotResponse(
            b"", headers=headers, media_type=b"text/event-stream", stream=partial(streams.run, env, last)
        )

    async def evaluate(request: HotRequest) -> HotResponse:
        context, body_env = parse_context(request.body)
        query_env = request.query.get("environment")
        env = parse_environment(
            query_env if query_env is not None else body_env,
            "query.environment" if query_env is not None else "body.environment",
        )
        at = parse_at(request.query.get("at"), clock.now())
        current = await snapshots.get(env)
        return HotResponse(
            current.evaluate_json(context, at), headers=[(b"x-snapshot-revision", str(current.revision).encode())]
        )

    async def player_query(request: HotRequest) -> tuple[str, Context, datetime, CompiledSnapshot, bool]:
        """A player query's id, context, instant, snapshot, and whether the player is known."""
        player_id = request.path_param or ""
        if not 0 < len(player_id) <= MAX_ID or "\x00" in player_id:
            raise InvalidInput(
                "Not a player id.", errors=[FieldError("path.playerId", f"1 to {MAX_ID} characters, no NUL")]
            )
        query = request.query
        env = parse_environment(query.get("environment"), "query.environment")
        at = parse_at(query.get("at"), clock.now())
        try:
            stored_profile = await profile(player_id)
        except (DBAPIError, OSError, TimeoutError) as exc:  # a cache miss reads the store
            raise Unavailable("The database is not reachable right now.", headers={"Retry-After": "5"}) from exc
        # An unknown player (not reported yet) is served on what the query tells, not refused:
        # a game asks for a new player's configs before it ever writes the profile.
        stored = targeting_attributes(stored_profile, at) if stored_profile is not None else {}
        context = query_context(player_id, query, stored)
        return player_id, context, at, await snapshots.get(env), stored_profile is not None

    def player_headers(current: CompiledSnapshot, known: bool) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-snapshot-revision", str(current.revision).encode()),
            (b"x-player-known", b"true" if known else b"false"),
        ]

    async def player_configs(request: HotRequest) -> HotResponse:
        _, context, at, current, known = await player_query(request)
        return HotResponse(current.evaluate_json(context, at), headers=player_headers(current, known))

    async def player_events(request: HotRequest) -> HotResponse:
        player_id, context, at, current, known = await player_query(request)
        body = (
            b'{"environment":'
            + orjson.dumps(current.environment)
            + b',"events":'
            + current.active_events_json(context, at)
            + b',"playerId":'
            + orjson.dumps(player_id)
            + b',"revision":'
            + str(current.revision).encode()
            + b"}"
        )
        return HotResponse(body, headers=player_headers(current, known))

    return [
        HotRoute("GET", "/api/v1/snapshot", Permission.SNAPSHOT_READ, snapshot),
        HotRoute("GET", "/api/v1/stream", Permission.SNAPSHOT_READ, stream),
        HotRoute("POST", "/api/v1/evaluate", Permission.SNAPSHOT_READ, evaluate),
        HotRoute(
            "GET",
            "/api/v1/players/{playerId}/configs",
            Permission.SNAPSHOT_READ,
            player_configs,
            template="/api/v1/players/{playerId}/configs",
        ),
        HotRoute(
            "GET",
            "/api/v1/players/{playerId}/events",
            Permission.SNAPSHOT_READ,
            player_events,
            template="/api/v1/players/{playerId}/events",
        ),
    ]


router = APIRouter(prefix="/api/v1", tags=["operations"])
Warmer = Annotated[CacheWarmer, Depends(service(CacheWarmer))]
CacheAdmin = Annotated[Principal, Depends(require(Permission.CACHE_ADMIN))]


@router.post("/admin/cache/warm", response_model=WarmRead)
async def warm_caches(actor: CacheAdmin, warmer: Warmer, body: CacheWarm | None = None) -> WarmRead:
    """Rebuild every environment's snapshot from the store under a new revision, whatever revision
    is held, and refill the player-profile cache with the players seen recently (`window`, default
    PT24H), here and, through the change bus, in every other API process. Admins only; audited.
    No request transaction: the warm-up commits its one short write before the slow part."""
    warmed = await warmer.warm(actor, (body or CacheWarm()).command(), request_id=request_id_var.get())
    return WarmRead.of(warmed, await warmer.notify(warmed))
