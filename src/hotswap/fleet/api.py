"""HTTP routes for regions and game servers. Thin: parse, call, commit, render.

The heartbeat is not here: it is a hot route (`fleet.hot`), in front of FastAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.fleet.model import GAME, SERVER_ID, GameServer, Region, RegionDraft
from hotswap.fleet.schemas import (
    RegionCreate,
    RegionRead,
    RegionReplace,
    ServerRead,
    ServerRegister,
)
from hotswap.fleet.service import FleetService, Registration, ServerFilter
from hotswap.web.deps import UowDep, require, service
from hotswap.web.revisions import etag, expected_revision, if_match_header, stale_response
from hotswap.web.schemas import EnvironmentField, PageRead

router = APIRouter(prefix="/api/v1", tags=["fleet"])

Fleet = Annotated[FleetService, Depends(service(FleetService))]

Reader = Annotated[Principal, Depends(require(Permission.FLEET_READ))]
RegionWriter = Annotated[Principal, Depends(require(Permission.REGION_WRITE))]
Reporter = Annotated[Principal, Depends(require(Permission.FLEET_REPORT))]
RegionPath = Annotated[
    str, Path(alias="regionId", min_length=1, max_length=100, description="The region's id or an alias, any case.")
]
ServerPath = Annotated[
    str, Path(alias="serverId", max_length=200, pattern=SERVER_ID.pattern, description="The server id.")
]
Limit = Annotated[int, Query(ge=1, le=500)]
IfMatch = Annotated[str | None, if_match_header("region")]
_STALE = stale_response("region")
_REGISTERED: dict[int | str, dict[str, Any]] = {
    201: {"description": "The server was new and is now registered", "model": ServerRead}
}


def _region(region: Region) -> RegionRead:
    return RegionRead(
        id=region.id,
        display_name=region.display_name,
        time_zone=region.time_zone,
        rollout_order=region.rollout_order,
        aliases=list(region.aliases),
        created_at=region.created_at,
        created_by=region.created_by,
        updated_at=region.updated_at,
        updated_by=region.updated_by,
        revision=region.revision,
    )


def _server(fleet: FleetService, server: GameServer, now: datetime) -> ServerRead:
    return ServerRead(
        id=server.id,
        game=server.game,
        region=server.region,
        labels=server.labels,
        build=server.build,
        capacity=server.capacity,
        registered_at=server.registered_at,
        registered_by=server.registered_by,
        last_heartbeat_at=server.last_heartbeat_at,
        healthy=fleet.is_healthy(server, now),
        player_count=server.player_count,
        health=server.health,
        environment=server.environment,
        applied_revision=server.applied_revision,
        config_versions=server.config_versions,
    )


# -- regions -------------------------------------------------------------------------------


@router.get("/regions", response_model=PageRead[RegionRead])
async def list_regions(_: Reader, uow: UowDep, fleet: Fleet) -> PageRead[RegionRead]:
    """Every region, in rollout order (then by id). Never more than one page."""
    return PageRead(items=[_region(r) for r in await fleet.regions(uow)])


@router.get("/regions/{regionId}", response_model=RegionRead)
async def get_region(region_id: RegionPath, _: Reader, uow: UowDep, fleet: Fleet, response: Response) -> RegionRead:
    """By id or alias, in any case (`na-west`, `US-WEST`)."""
    region = await fleet.get_region(uow, region_id)
    response.headers["ETag"] = etag(region.revision)
    return _region(region)


@router.post("/regions", status_code=status.HTTP_201_CREATED, response_model=RegionRead)
async def create_region(
    body: RegionCreate, actor: RegionWriter, uow: UowDep, fleet: Fleet, response: Response
) -> RegionRead:
    draft = RegionDraft(body.display_name, body.time_zone, body.rollout_order, body.aliases)
    region = await fleet.create_region(uow, actor, body.id, draft)
    await uow.commit()
    response.headers["Location"] = f"/api/v1/regions/{region.id}"
    response.headers["ETag"] = etag(region.revision)
    return _region(region)


@router.put("/regions/{regionId}", response_model=RegionRead, responses=_STALE)
async def replace_region(
    region_id: RegionPath,
    body: RegionReplace,
    actor: RegionWriter,
    uow: UowDep,
    fleet: Fleet,
    response: Response,
    if_match: IfMatch = None,
) -> RegionRead:
    """Replace display name, time zone, rollout order and aliases (the id stays)."""
    draft = RegionDraft(body.display_name, body.time_zone, body.rollout_order, body.aliases)
    region = await fleet.replace_region(uow, actor, region_id, draft, expected_revision=expected_revision(if_match))
    await uow.commit()
    response.headers["ETag"] = etag(region.revision)
    return _region(region)


@router.delete("/regions/{regionId}", status_code=status.HTTP_204_NO_CONTENT, responses=_STALE)
async def delete_region(
    region_id: RegionPath, actor: RegionWriter, uow: UowDep, fleet: Fleet, if_match: IfMatch = None
) -> Response:
    """Refused (409, naming some of them) while game servers are registered in the region."""
    await fleet.delete_region(uow, actor, region_id, expected_revision=expected_revision(if_match))
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- game servers --------------------------------------------------------------------------


@router.post("/servers", response_model=ServerRead, responses=_REGISTERED)
async def register_server(
    body: ServerRegister, actor: Reporter, uow: UowDep, fleet: Fleet, response: Response
) -> ServerRead:
    """Register a game server (201), or update what it declares (200). Either counts as a
    heartbeat; then `PUT /api/v1/servers/{serverId}/heartbeat` every few seconds."""
    registration = Registration(
        id=body.id, game=body.game, region=body.region, build=body.build, capacity=body.capacity, labels=body.labels
    )
    registered = await fleet.register(uow, actor, registration)
    await uow.commit()
    if registered.created:
        response.status_code = status.HTTP_201_CREATED
        # Percent-encoded: a header is Latin-1, and server ids need not be.
        response.headers["Location"] = f"/api/v1/servers/{quote(registered.server.id, safe='', errors='replace')}"
    return _server(fleet, registered.server, uow.clock.now())


@router.get("/servers", response_model=PageRead[ServerRead])
async def list_servers(
    _: Reader,
    uow: UowDep,
    fleet: Fleet,
    region: Annotated[str | None, Query(max_length=100, description="A region's id or alias, any case.")] = None,
    healthy: bool | None = None,
    game: Annotated[str | None, Query(max_length=200, pattern=GAME.pattern)] = None,
    environment: EnvironmentField | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PageRead[ServerRead]:
    """In id order; follow `nextCursor` for more. `healthy` is judged now, against the heartbeat timeout."""
    flt = ServerFilter(region=region, game=game, environment=environment, healthy=healthy)
    page = await fleet.list_servers(uow, flt, cursor=cursor, limit=limit)
    now = uow.clock.now()
    return PageRead(items=[_server(fleet, s, now) for s in page.items], next_cursor=page.next_cursor)


@router.get("/servers/{serverId}", response_model=ServerRead)
async def get_server(server_id: ServerPath, _: Reader, uow: UowDep, fleet: Fleet) -> ServerRead:
    return _server(fleet, await fleet.server(uow, server_id), uow.clock.now())


@router.delete("/servers/{serverId}", status_code=status.HTTP_204_NO_CONTENT)
async def deregister_server(server_id: ServerPath, actor: Reporter, uow: UowDep, fleet: Fleet) -> Response:
    """Forget the server (it may register again). Its next heartbeat is a 404."""
    await fleet.deregister(uow, actor, server_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
