"""HTTP routes for segments and their previews. Thin: parse, call, commit, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.core.errors import Forbidden
from hotswap.segments.model import Segment
from hotswap.segments.schemas import (
    ContextPreviewRead,
    ContextResult,
    DraftPreviewCreate,
    PlayerPreviewRead,
    PreviewCreate,
    SegmentCreate,
    SegmentRead,
    SegmentReplace,
)
from hotswap.segments.service import SegmentDraft, SegmentService
from hotswap.storage.uow import UnitOfWork
from hotswap.targeting.conditions import Predicate
from hotswap.web.deps import ReadOnlyUowDep, UowDep, require, service
from hotswap.web.revisions import etag, expected_revision, if_match_header, stale_response
from hotswap.web.schemas import PageRead

router = APIRouter(prefix="/api/v1", tags=["segments"])

Segments = Annotated[SegmentService, Depends(service(SegmentService))]

Reader = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]
Writer = Annotated[Principal, Depends(require(Permission.CONFIG_WRITE))]
Limit = Annotated[int, Query(ge=1, le=500)]
IfMatch = Annotated[str | None, if_match_header("segment")]
_STALE = stale_response("segment")


def _read(segment: Segment) -> SegmentRead:
    return SegmentRead(
        id=segment.id,
        name=segment.name,
        description=segment.description,
        condition=segment.condition,
        builtin=segment.builtin,
        created_at=segment.created_at,
        created_by=segment.created_by,
        updated_at=segment.updated_at,
        updated_by=segment.updated_by,
        revision=segment.revision,
    )


@router.post("/segments", status_code=status.HTTP_201_CREATED, response_model=SegmentRead)
async def create_segment(
    body: SegmentCreate, actor: Writer, uow: UowDep, segments: Segments, response: Response
) -> SegmentRead:
    draft = SegmentDraft(name=body.name, description=body.description, condition=body.condition)
    segment = await segments.create(uow, actor, body.id, draft)
    await uow.commit()
    response.headers["Location"] = f"/api/v1/segments/{segment.id}"
    response.headers["ETag"] = etag(segment.revision)
    return _read(segment)


@router.get("/segments", response_model=PageRead[SegmentRead])
async def list_segments(
    _: Reader, uow: UowDep, segments: Segments, cursor: str | None = None, limit: Limit = 100
) -> PageRead[SegmentRead]:
    page = await segments.list_segments(uow, cursor=cursor, limit=limit)
    return PageRead(items=[_read(s) for s in page.items], next_cursor=page.next_cursor)


@router.get("/segments/{segment_id}", response_model=SegmentRead)
async def get_segment(segment_id: str, _: Reader, uow: UowDep, segments: Segments, response: Response) -> SegmentRead:
    segment = await segments.get(uow, segment_id)
    response.headers["ETag"] = etag(segment.revision)
    return _read(segment)


@router.put("/segments/{segment_id}", response_model=SegmentRead, responses=_STALE)
async def replace_segment(
    segment_id: str,
    body: SegmentReplace,
    actor: Writer,
    uow: UowDep,
    segments: Segments,
    response: Response,
    if_match: IfMatch = None,
) -> SegmentRead:
    draft = SegmentDraft(name=body.name, description=body.description, condition=body.condition)
    segment = await segments.replace(uow, actor, segment_id, draft, expected_revision=expected_revision(if_match))
    await uow.commit()
    response.headers["ETag"] = etag(segment.revision)
    return _read(segment)


@router.delete("/segments/{segment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_STALE)
async def delete_segment(
    segment_id: str, actor: Writer, uow: UowDep, segments: Segments, if_match: IfMatch = None
) -> Response:
    await segments.delete(uow, actor, segment_id, expected_revision=expected_revision(if_match))
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- previews ----------------------------------------------------------------------------

PreviewRead = ContextPreviewRead | PlayerPreviewRead


def _check_source(actor: Principal, body: PreviewCreate) -> None:
    if body.players is not None and not actor.can(Permission.PLAYER_READ):
        raise Forbidden(
            f"The {actor.role.value} role may not read stored players (needs {Permission.PLAYER_READ.value})."
        )


async def _preview(
    service: SegmentService,
    uow: UnitOfWork,
    actor: Principal,
    body: PreviewCreate,
    predicate: Predicate,
    segment_id: str | None,
) -> PreviewRead:
    if body.contexts is not None:
        preview = service.preview_contexts(predicate, body.contexts)
        return ContextPreviewRead(
            segment=segment_id,
            total=preview.total,
            matched=preview.matched,
            results=[ContextResult(index=i, matches=m) for i, m in enumerate(preview.results)],
        )
    assert body.players is not None
    result = await service.preview_players(uow, predicate, limit=body.players.limit, at=body.at)
    return PlayerPreviewRead(
        segment=segment_id, at=result.at, total=result.total, matched=result.matched, player_ids=result.player_ids
    )


@router.post("/segments/preview", response_model=PreviewRead)
async def preview_draft(
    body: DraftPreviewCreate, actor: Reader, uow: ReadOnlyUowDep, segments: Segments
) -> PreviewRead:
    """Which contexts or stored players a condition would match, before it is saved."""
    _check_source(actor, body)
    predicate = segments.draft_predicate(body.condition)
    return await _preview(segments, uow, actor, body, predicate, None)


@router.post("/segments/{segment_id}/preview", response_model=PreviewRead)
async def preview_segment(
    segment_id: str, body: PreviewCreate, actor: Reader, uow: ReadOnlyUowDep, segments: Segments
) -> PreviewRead:
    """Which contexts or stored players the segment matches."""
    _check_source(actor, body)
    predicate = await segments.predicate(uow, segment_id)
    return await _preview(segments, uow, actor, body, predicate, segment_id)
