"""HTTP routes for event templates. Thin: parse, call, commit, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.event_templates.model import Template
from hotswap.event_templates.schemas import EventType, TemplateCreate, TemplateRead, TemplateReplace
from hotswap.event_templates.service import TemplateService
from hotswap.web.deps import UowDep, require, service
from hotswap.web.revisions import etag, expected_revision, if_match_header, stale_response
from hotswap.web.schemas import PageRead

router = APIRouter(prefix="/api/v1", tags=["events"])

Templates = Annotated[TemplateService, Depends(service(TemplateService))]

Reader = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]
Writer = Annotated[Principal, Depends(require(Permission.EVENT_WRITE))]
Limit = Annotated[int, Query(ge=1, le=500)]
IfMatch = Annotated[str | None, if_match_header("event template")]
_STALE = stale_response("event template")


def _read(t: Template) -> TemplateRead:
    return TemplateRead(
        template_id=t.id,
        event_type=t.event_type,
        name=t.name,
        description=t.description,
        event_class=t.event_class,
        objectives=t.objectives,
        milestones=t.milestones,
        progression_mechanics=t.progression,
        theme=t.theme,
        ui_layout=t.layout,
        requires_leaderboard=t.requires_leaderboard,
        requires_clan=t.requires_clan,
        minimum_player_level=t.minimum_player_level,
        configuration=t.configuration,
        duration_seconds=t.duration_seconds,
        usage_count=t.usage_count,
        last_used_at=t.last_used_at,
        created_at=t.created_at,
        created_by=t.created_by,
        updated_at=t.updated_at,
        updated_by=t.updated_by,
        revision=t.revision,
    )


@router.post("/event-templates", status_code=status.HTTP_201_CREATED, response_model=TemplateRead)
async def create_event_template(
    body: TemplateCreate, actor: Writer, uow: UowDep, templates: Templates, response: Response
) -> TemplateRead:
    template = await templates.create(uow, actor, body.template_id, body.draft())
    await uow.commit()
    response.headers["Location"] = f"/api/v1/event-templates/{template.id}"
    response.headers["ETag"] = etag(template.revision)
    return _read(template)


@router.get("/event-templates", response_model=PageRead[TemplateRead])
async def list_event_templates(
    _: Reader,
    uow: UowDep,
    templates: Templates,
    event_type: Annotated[EventType | None, Query(alias="type")] = None,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PageRead[TemplateRead]:
    """Templates in id order; `type` keeps those of one type."""
    page = await templates.list_templates(uow, event_type=event_type, cursor=cursor, limit=limit)
    return PageRead(items=[_read(t) for t in page.items], next_cursor=page.next_cursor)


@router.get("/event-templates/{template_id}", response_model=TemplateRead)
async def get_event_template(
    template_id: str, _: Reader, uow: UowDep, templates: Templates, response: Response
) -> TemplateRead:
    template = await templates.get(uow, template_id)
    response.headers["ETag"] = etag(template.revision)
    return _read(template)


@router.put("/event-templates/{template_id}", response_model=TemplateRead, responses=_STALE)
async def replace_event_template(
    template_id: str,
    body: TemplateReplace,
    actor: Writer,
    uow: UowDep,
    templates: Templates,
    response: Response,
    if_match: IfMatch = None,
) -> TemplateRead:
    """Replaces every editable field (what is not sent takes its default); the id and the usage
    figures stay. A PUT of what is stored changes nothing and makes no new revision."""
    template = await templates.replace(
        uow, actor, template_id, body.draft(), expected_revision=expected_revision(if_match)
    )
    await uow.commit()
    response.headers["ETag"] = etag(template.revision)
    return _read(template)
