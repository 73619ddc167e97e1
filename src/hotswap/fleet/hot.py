"""The heartbeat: every game server, every few seconds (10,000 servers at 5 s are 2,000 a second).

A hot route (`web.fastpath`): the body is decoded and validated by msgspec in C, and the
heartbeats arriving together are written in one transaction (`fleet.beats`), with no audit
record. Not being a FastAPI route, it is described for OpenAPI by hand, in `fleet.openapi`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
import orjson
from msgspec import UNSET, UnsetType
from sqlalchemy.exc import DBAPIError

from hotswap.auth.model import Permission
from hotswap.core.environments import Environment, parse_environment
from hotswap.core.errors import FieldError, InvalidInput, Unavailable
from hotswap.fleet import model as m
from hotswap.fleet.beats import HeartbeatWriter, UnknownServer
from hotswap.fleet.service import FleetService, no_server
from hotswap.storage.uow import UnitOfWorkFactory
from hotswap.web.decoding import field_error
from hotswap.web.fastpath import HotRequest, HotResponse, HotRoute

HEARTBEAT_PATH = "/api/v1/servers/{serverId}/heartbeat"


def _whole(pattern: re.Pattern[str]) -> str:
    """msgspec searches with `re`, whose `$` also matches before a final newline: end with `\\Z`."""
    return pattern.pattern.removesuffix("$") + r"\Z"


_HealthKey = Annotated[str, msgspec.Meta(pattern=_whole(m.HEALTH_KEY))]
_ConfigName = Annotated[str, msgspec.Meta(pattern=_whole(m.CONFIG_NAME))]
_Version = Annotated[str, msgspec.Meta(pattern=_whole(m.CONFIG_VERSION))]


class _HeartbeatBody(msgspec.Struct, forbid_unknown_fields=True):
    playerCount: Annotated[int, msgspec.Meta(ge=0, le=m.MAX_PLAYERS)] | UnsetType = UNSET  # noqa: N815 - the wire's names
    health: Annotated[dict[_HealthKey, float], msgspec.Meta(max_length=m.MAX_HEALTH)] | UnsetType = UNSET
    environment: Annotated[str, msgspec.Meta(max_length=20)] | UnsetType | None = UNSET
    appliedRevision: Annotated[int, msgspec.Meta(ge=0, le=m.MAX_REVISION)] | UnsetType | None = UNSET  # noqa: N815
    configVersions: (  # noqa: N815
        Annotated[dict[_ConfigName, _Version], msgspec.Meta(max_length=m.MAX_CONFIG_VERSIONS)] | UnsetType
    ) = UNSET


# Out-of-range numbers (1e400) are refused by the decoder, and JSON has no NaN: health values
# are finite without a check in Python.
_decode = msgspec.json.Decoder(_HeartbeatBody).decode


def _kept(value: Any) -> Any:
    return m.UNCHANGED if value is UNSET else value


def parse_heartbeat(body: bytes) -> m.Heartbeat:
    """A heartbeat body; an empty body (or `{}`) is a bare liveness ping."""
    if not body.strip():
        return m.Heartbeat()
    try:
        data = _decode(body)
    except msgspec.MsgspecError as exc:
        raise InvalidInput("The heartbeat is invalid.", errors=[field_error(exc, body)]) from exc
    environment: Environment | m.Unchanged | None = m.UNCHANGED
    if isinstance(data.environment, str):
        environment = parse_environment(data.environment, "body.environment")
    elif data.environment is None:
        environment = None
    return m.Heartbeat(
        player_count=_kept(data.playerCount),
        health=_kept(data.health),
        environment=environment,
        applied_revision=_kept(data.appliedRevision),
        config_versions=_kept(data.configVersions),
    )


def hot_routes(fleet: FleetService, transactions: UnitOfWorkFactory) -> list[HotRoute]:
    writer = HeartbeatWriter(transactions)  # heartbeats arriving together share one transaction
    timeout_seconds = fleet.heartbeat_timeout.total_seconds()

    async def heartbeat(request: HotRequest) -> HotResponse:
        server_id = request.path_param or ""
        if not m.SERVER_ID.fullmatch(server_id):
            raise InvalidInput(
                "Not a server id.",
                errors=[FieldError("path.serverId", "1 to 200 characters: no whitespace, control characters or '/'")],
            )
        beat = parse_heartbeat(request.body)
        try:
            at = await writer.record(server_id, beat)
        except UnknownServer as exc:
            raise no_server(server_id) from exc
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise Unavailable("The database is not reachable right now.", headers={"Retry-After": "5"}) from exc
        body = {
            "id": server_id,
            "lastHeartbeatAt": at.isoformat().replace("+00:00", "Z"),
            "heartbeatTimeoutSeconds": timeout_seconds,
        }
        return HotResponse(orjson.dumps(body))

    return [HotRoute("PUT", HEARTBEAT_PATH, Permission.FLEET_REPORT, heartbeat, template=HEARTBEAT_PATH)]
