"""HTTP routes for player profiles. Thin: parse, call, commit, render."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.players.model import PLAYER_ID, PlayerProfile, days_since
from hotswap.players.schemas import PlayerPatch, PlayerProperties, PlayerPut, PlayerRead
from hotswap.players.service import Activity, PlayerService, Written
from hotswap.web.deps import UowDep, require, service
from hotswap.web.revisions import etag

router = APIRouter(prefix="/api/v1", tags=["players"])

Players = Annotated[PlayerService, Depends(service(PlayerService))]

Writer = Annotated[Principal, Depends(require(Permission.PLAYER_WRITE))]
Reader = Annotated[Principal, Depends(require(Permission.PLAYER_READ))]
Eraser = Annotated[Principal, Depends(require(Permission.PLAYER_DELETE))]
PlayerId = Annotated[
    str,
    Path(alias="playerId", max_length=200, pattern=PLAYER_ID.pattern, description="The game's id for the player."),
]


def _read(profile: PlayerProfile, now: datetime) -> PlayerRead:
    return PlayerRead(
        player_id=profile.id,
        attributes=profile.attributes,
        properties=PlayerProperties(
            first_seen=profile.first_seen,
            last_seen=profile.last_seen,
            days_since_install=days_since(profile.first_seen, now),
            days_since_last_login=days_since(profile.last_seen, now),
            sessions=profile.sessions,
            total_spend=profile.total_spend,
        ),
        created_at=profile.created_at,
        updated_at=profile.updated_at,
    )


def _written(written: Written, now: datetime, response: Response) -> PlayerRead:
    profile = written.profile
    response.headers["ETag"] = etag(profile.revision)
    if written.created:
        response.status_code = status.HTTP_201_CREATED
        # Percent-encoded: a header is Latin-1, and player ids need not be.
        response.headers["Location"] = f"/api/v1/players/{quote(profile.id, safe='', errors='replace')}"
    return _read(profile, now)


_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "The player was new and is now stored", "model": PlayerRead}
}


@router.put("/players/{playerId}", response_model=PlayerRead, responses=_CREATED)
async def put_player(
    player_id: PlayerId, body: PlayerPut, _: Writer, uow: UowDep, players: Players, response: Response
) -> PlayerRead:
    """Create the player with these attributes (201), or replace its attributes (200)."""
    written = await players.put(uow, player_id, body.attributes)
    await uow.commit()
    return _written(written, uow.clock.now(), response)


@router.patch("/players/{playerId}", response_model=PlayerRead, responses=_CREATED)
async def patch_player(
    player_id: PlayerId, body: PlayerPatch, _: Writer, uow: UowDep, players: Players, response: Response
) -> PlayerRead:
    """Merge attributes and record a session or a purchase; a new player is created (201)."""
    activity = Activity(attributes=body.attributes, session=bool(body.session), purchase=body.purchase)
    written = await players.record(uow, player_id, activity)
    await uow.commit()
    return _written(written, uow.clock.now(), response)


@router.get("/players/{playerId}", response_model=PlayerRead)
async def get_player(player_id: PlayerId, _: Reader, uow: UowDep, players: Players, response: Response) -> PlayerRead:
    """Everything stored about the player, with the properties as they are now."""
    profile = await players.get(uow, player_id)
    response.headers["ETag"] = etag(profile.revision)
    return _read(profile, uow.clock.now())


@router.delete("/players/{playerId}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_player(player_id: PlayerId, actor: Eraser, uow: UowDep, players: Players) -> Response:
    """Erase everything stored about the player."""
    await players.delete(uow, actor, player_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
