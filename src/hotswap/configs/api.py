"""HTTP routes for configs, versions, releases and game configs. Thin: parse, call, commit, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.configs import model as m
from hotswap.configs.releases import ReleaseService, ReleaseView
from hotswap.configs.schemas import (
    ConfigCreate,
    ConfigRead,
    ConfigUpdate,
    DiffRead,
    DiffSummary,
    GameConfigCreate,
    GameConfigRead,
    ReleaseCreate,
    ReleaseRead,
    RevertCreate,
    TargetingRead,
    TargetingWrite,
    VersionCreate,
    VersionRead,
    VersionSummary,
)
from hotswap.configs.service import ConfigService, ProfileDraft, VersionView
from hotswap.configs.targeting_rules import TargetingService
from hotswap.storage.uow import UnitOfWork
from hotswap.targeting.rules import Rule
from hotswap.web.deps import UowDep, require, service
from hotswap.web.revisions import etag, expected_revision, if_match_header, stale_response
from hotswap.web.schemas import EnvironmentField, PageRead

router = APIRouter(prefix="/api/v1", tags=["configs"])

Configs = Annotated[ConfigService, Depends(service(ConfigService))]
Releases = Annotated[ReleaseService, Depends(service(ReleaseService))]
Targeting = Annotated[TargetingService, Depends(service(TargetingService))]

Reader = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CONFIG_WRITE))]
IfMatch = Annotated[str | None, if_match_header("config")]


_STALE = stale_response("config")


Releaser = Annotated[Principal, Depends(require(Permission.RELEASE_REQUEST))]
Limit = Annotated[int, Query(ge=1, le=500)]


async def _config_read(service: ConfigService, uow: UnitOfWork, profile: m.Profile) -> ConfigRead:
    return ConfigRead(
        id=profile.id,
        name=profile.name,
        environment=profile.environment,
        service_type=profile.service_type,
        schema_version=profile.schema_version,
        json_schema=profile.json_schema,
        game_id=profile.game_id,
        config_type=profile.config_type,
        parent=await service.parent_name(uow, profile),
        description=profile.description,
        live_version=await service.live_version_label(uow, profile),
        archived=profile.archived,
        archived_at=profile.archived_at,
        created_at=profile.created_at,
        created_by=profile.created_by,
        updated_at=profile.updated_at,
        updated_by=profile.updated_by,
        revision=profile.revision,
    )


def _summary(profile: m.Profile, v: m.Version) -> VersionSummary:
    return VersionSummary(
        id=v.id,
        config_name=profile.name,
        version=v.version,
        checksum=v.checksum,
        description=v.description,
        author=v.author,
        created_at=v.created_at,
        live=profile.live_version_id == v.id,
    )


def _version_read(view: VersionView) -> VersionRead:
    return VersionRead(
        **_summary(view.profile, view.version).model_dump(),
        config_data=view.version.data,
        effective_data=view.version.effective,
        parent_version_id=view.version.parent_version_id,
    )


def _release_read(view: ReleaseView) -> ReleaseRead:
    r = view.release
    return ReleaseRead(
        id=r.id,
        config_name=view.profile.name,
        environment=view.profile.environment,
        version=view.version,
        previous_version=view.previous_version,
        kind=r.kind,
        status=r.status,
        approval_id=r.approval_id,
        comment=r.comment,
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        decided_at=r.decided_at,
    )


# -- profiles ----------------------------------------------------------------------------


@router.post("/configs", status_code=status.HTTP_201_CREATED, response_model=ConfigRead)
async def create_config(
    body: ConfigCreate, actor: Writer, uow: UowDep, configs: Configs, response: Response
) -> ConfigRead:
    draft = ProfileDraft(**body.model_dump(by_alias=False))
    profile = await configs.create_profile(uow, actor, draft)
    result = await _config_read(configs, uow, profile)
    await uow.commit()
    response.headers["Location"] = f"/api/v1/configs/{profile.name}"
    response.headers["ETag"] = etag(profile.revision)
    return result


@router.get("/configs", response_model=PageRead[ConfigRead])
async def list_configs(
    _: Reader,
    uow: UowDep,
    configs: Configs,
    environment: EnvironmentField | None = None,
    game_id: Annotated[str | None, Query(alias="gameId")] = None,
    config_type: Annotated[str | None, Query(alias="configType")] = None,
    include_archived: Annotated[bool, Query(alias="includeArchived")] = False,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PageRead[ConfigRead]:
    page = await configs.list_profiles(
        uow,
        environment=environment,
        game_id=game_id,
        config_type=config_type,
        include_archived=include_archived,
        cursor=cursor,
        limit=limit,
    )
    return PageRead(items=[await _config_read(configs, uow, p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/configs/{name}", response_model=ConfigRead)
async def get_config(name: str, _: Reader, uow: UowDep, configs: Configs, response: Response) -> ConfigRead:
    profile = await configs.get_profile(uow, name)
    response.headers["ETag"] = etag(profile.revision)
    return await _config_read(configs, uow, profile)


@router.patch("/configs/{name}", response_model=ConfigRead, responses=_STALE)
async def update_config(
    name: str,
    body: ConfigUpdate,
    actor: Writer,
    uow: UowDep,
    configs: Configs,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigRead:
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    profile = await configs.update_profile(uow, actor, name, changes, expected_revision=expected_revision(if_match))
    result = await _config_read(configs, uow, profile)
    await uow.commit()
    response.headers["ETag"] = etag(profile.revision)
    return result


@router.post("/configs/{name}/archive", response_model=ConfigRead, responses=_STALE)
async def archive_config(
    name: str, actor: Writer, uow: UowDep, configs: Configs, response: Response, if_match: IfMatch = None
) -> ConfigRead:
    profile = await configs.archive_profile(uow, actor, name, expected_revision=expected_revision(if_match))
    result = await _config_read(configs, uow, profile)
    await uow.commit()
    response.headers["ETag"] = etag(profile.revision)
    return result


# -- targeting ---------------------------------------------------------------------------


def _targeting_read(profile: m.Profile, rules: list[Rule]) -> TargetingRead:
    return TargetingRead(
        config=profile.name,
        environment=profile.environment.value,
        revision=profile.revision,
        rules=[rule.document() for rule in rules],
    )


@router.get("/configs/{name}/targeting", response_model=TargetingRead)
async def get_targeting(name: str, _: Reader, uow: UowDep, targeting: Targeting, response: Response) -> TargetingRead:
    """The config's targeting rules. The ETag is the config's revision (as for the config itself)."""
    profile, rules = await targeting.get_rules(uow, name)
    response.headers["ETag"] = etag(profile.revision)
    return _targeting_read(profile, rules)


@router.put("/configs/{name}/targeting", response_model=TargetingRead, responses=_STALE)
async def put_targeting(
    name: str,
    body: TargetingWrite,
    actor: Writer,
    uow: UowDep,
    targeting: Targeting,
    response: Response,
    if_match: IfMatch = None,
) -> TargetingRead:
    """Replace the targeting rules. Live for players at the environment's next snapshot revision."""
    profile, rules = await targeting.set_rules(
        uow, actor, name, body.rules, expected_revision=expected_revision(if_match)
    )
    await uow.commit()
    response.headers["ETag"] = etag(profile.revision)
    return _targeting_read(profile, rules)


# -- versions ----------------------------------------------------------------------------


@router.post("/configs/{name}/versions", status_code=status.HTTP_201_CREATED, response_model=VersionRead)
async def create_version(
    name: str, body: VersionCreate, actor: Writer, uow: UowDep, configs: Configs, response: Response
) -> VersionRead:
    view = await configs.create_version(
        uow, actor, name, data=body.config_data, version=body.version, description=body.description
    )
    await uow.commit()
    response.headers["Location"] = f"/api/v1/configs/{name}/versions/{view.version.version}"
    return _version_read(view)


@router.get("/configs/{name}/versions", response_model=PageRead[VersionSummary])
async def list_versions(
    name: str, _: Reader, uow: UowDep, configs: Configs, cursor: str | None = None, limit: Limit = 100
) -> PageRead[VersionSummary]:
    profile = await configs.get_profile(uow, name)
    page = await configs.list_versions(uow, name, cursor=cursor, limit=limit)
    return PageRead(items=[_summary(profile, v) for v in page.items], next_cursor=page.next_cursor)


@router.get("/configs/{name}/versions/{version}", response_model=VersionRead)
async def get_version(name: str, version: str, _: Reader, uow: UowDep, configs: Configs) -> VersionRead:
    return _version_read(await configs.get_version(uow, name, version))


@router.get("/configs/{name}/diff", response_model=DiffRead)
async def diff_versions(
    name: str,
    _: Reader,
    uow: UowDep,
    configs: Configs,
    from_version: Annotated[str, Query(alias="from", min_length=1, max_length=100)],
    to_version: Annotated[str, Query(alias="to", min_length=1, max_length=100)],
) -> DiffRead:
    result, old, new = await configs.diff(uow, name, from_version, to_version)
    return DiffRead(
        config_name=name,
        from_version=old.version,
        to_version=new.version,
        from_checksum=old.checksum,
        to_checksum=new.checksum,
        patch=result.patch,
        summary=DiffSummary(added=result.added, removed=result.removed, changed=result.changed, changes=result.summary),
    )


# -- releases ----------------------------------------------------------------------------


@router.post("/configs/{name}/releases", status_code=status.HTTP_201_CREATED, response_model=ReleaseRead)
async def request_release(
    name: str, body: ReleaseCreate, actor: Releaser, uow: UowDep, releases: Releases
) -> ReleaseRead:
    view = await releases.request_release(uow, actor, name, version=body.version, comment=body.comment)
    await uow.commit()
    return _release_read(view)


@router.post("/configs/{name}/revert", status_code=status.HTTP_201_CREATED, response_model=ReleaseRead)
async def revert_config(name: str, body: RevertCreate, actor: Releaser, uow: UowDep, releases: Releases) -> ReleaseRead:
    view = await releases.revert(uow, actor, name, to_version=body.to_version, comment=body.comment)
    await uow.commit()
    return _release_read(view)


@router.get("/configs/{name}/releases", response_model=list[ReleaseRead])
async def list_releases(name: str, _: Reader, uow: UowDep, releases: Releases, limit: Limit = 100) -> list[ReleaseRead]:
    return [_release_read(v) for v in await releases.list_releases(uow, name, limit=limit)]


@router.post("/configs/{name}/releases/{release_id}/cancel", response_model=ReleaseRead)
async def cancel_release(name: str, release_id: str, actor: Releaser, uow: UowDep, releases: Releases) -> ReleaseRead:
    view = await releases.cancel_release(uow, actor, name, release_id)
    await uow.commit()
    return _release_read(view)


# -- game configs: a profile and a version in one request ---------------------------------------------------------


def _game_config_read(profile: m.Profile, version: m.Version, live: str | None) -> GameConfigRead:
    return GameConfigRead(
        id=profile.id,
        name=profile.name,
        game_id=profile.game_id,
        config_type=profile.config_type,
        environment=profile.environment,
        version=version.version,
        version_id=version.id,
        configuration=version.data,
        checksum=version.checksum,
        description=version.description,
        created_at=version.created_at,
        created_by=version.author,
        live_version=live,
    )


@router.post("/game-configs", status_code=status.HTTP_201_CREATED, response_model=GameConfigRead, tags=["game-configs"])
async def create_game_config(
    body: GameConfigCreate, actor: Writer, uow: UowDep, configs: Configs, response: Response
) -> GameConfigRead:
    view = await configs.put_game_config(
        uow,
        actor,
        name=body.name,
        game_id=body.game_id,
        config_type=body.config_type,
        configuration=body.configuration,
        version=body.version,
        # Only an environment the client sent must match an existing config; the default does not.
        environment=body.environment if "environment" in body.model_fields_set else None,
        description=body.description,
    )
    live = await configs.live_version_label(uow, view.profile)
    await uow.commit()
    response.headers["Location"] = f"/api/v1/configs/{body.name}/versions/{body.version}"
    return _game_config_read(view.profile, view.version, live)


@router.get("/game-configs", response_model=PageRead[GameConfigRead], tags=["game-configs"])
async def list_game_configs(
    _: Reader,
    uow: UowDep,
    configs: Configs,
    game_id: Annotated[str | None, Query(alias="gameId")] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PageRead[GameConfigRead]:
    page = await configs.list_game_configs(uow, game_id=game_id, cursor=cursor, limit=limit)
    items = [_game_config_read(p, v, await configs.live_version_label(uow, p)) for p, v in page.items]
    return PageRead(items=items, next_cursor=page.next_cursor)
