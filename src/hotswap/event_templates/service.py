"""Event template use cases."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from hotswap.audit.service import AuditLog
from hotswap.auth.model import Principal
from hotswap.core.errors import Conflict, NotFound
from hotswap.core.pagination import Page, check_limit, cursor_str, encode_cursor
from hotswap.event_templates.model import EDITABLE, Template, TemplateDraft, check_draft, check_revision, values_of
from hotswap.event_templates.repository import TemplateRepository
from hotswap.storage.uow import UnitOfWork


class TemplateService:
    """Each use case runs in the caller's unit of work and never commits. Templates are not
    served to players (events made from them are), so no write here changes a snapshot."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    async def create(self, uow: UnitOfWork, actor: Principal, template_id: str, draft: TemplateDraft) -> Template:
        draft = check_draft(draft)
        repo = TemplateRepository(uow.conn)
        exists = Conflict(f"An event template {template_id!r} already exists.")
        if await repo.get(template_id) is not None:
            raise exists
        now = uow.clock.now()
        values = {
            **values_of(draft),
            "event_class": draft.event_class.value,
            "id": template_id,
            "usage_count": 0,
            "last_used_at": None,
            "created_at": now,
            "created_by": actor.subject,
            "updated_at": now,
            "updated_by": actor.subject,
            "revision": 1,
        }
        try:
            await repo.add(values)
        except IntegrityError as exc:  # a concurrent create of the same id won the race
            raise exists from exc
        await self.audit.record(
            uow,
            actor,
            "event_template.create",
            target_type="event_template",
            target_id=template_id,
            summary=f"created event template {template_id!r} ({draft.event_type})",
            after_ref="revision:1",
        )
        return await self.get(uow, template_id)

    async def get(self, uow: UnitOfWork, template_id: str) -> Template:
        return await _require(TemplateRepository(uow.conn), template_id)

    async def list_templates(
        self, uow: UnitOfWork, *, event_type: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[Template]:
        """Templates in id order, of one type if `event_type` is given."""
        check_limit(limit)
        after = None if cursor is None else cursor_str(cursor, "id")
        rows = await TemplateRepository(uow.conn).rows(event_type=event_type, after_id=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor({"id": rows[-1].id}) if more and rows else None)

    async def replace(
        self,
        uow: UnitOfWork,
        actor: Principal,
        template_id: str,
        draft: TemplateDraft,
        *,
        expected_revision: int | None = None,
    ) -> Template:
        """Sets every editable field; the id and the usage figures stay."""
        draft = check_draft(draft)
        repo = TemplateRepository(uow.conn)
        template = await _require(repo, template_id, for_update=True)
        check_revision(template, expected_revision)
        stored = {name: getattr(template, name) for name in EDITABLE}
        changed = sorted(name for name, value in values_of(draft).items() if stored[name] != value)
        if not changed:
            return template  # a PUT of what is stored changes nothing: no new revision
        await repo.update(
            template_id,
            {
                **values_of(draft),
                "event_class": draft.event_class.value,
                "updated_at": uow.clock.now(),
                "updated_by": actor.subject,
            },
        )
        await self.audit.record(
            uow,
            actor,
            "event_template.update",
            target_type="event_template",
            target_id=template_id,
            summary=f"updated {', '.join(changed)} of event template {template_id!r}",
            before_ref=f"revision:{template.revision}",
            after_ref=f"revision:{template.revision + 1}",
        )
        return await self.get(uow, template_id)

    async def use(self, uow: UnitOfWork, template_id: str) -> Template:
        """Count one use (an event made from the template) at the clock's now, and return the
        template as counted. Not a revision of it: usage is not something its editors change.
        The caller's own audit record (the event it creates) says who used it."""
        repo = TemplateRepository(uow.conn)
        if not await repo.count_use(template_id, uow.clock.now()):
            raise NotFound(f"No event template {template_id!r}.")
        return await _require(repo, template_id)


async def _require(repo: TemplateRepository, template_id: str, *, for_update: bool = False) -> Template:
    template = await repo.get(template_id, for_update=for_update)
    if template is None:
        raise NotFound(f"No event template {template_id!r}.")
    return template
