"""HTTP routes for webhook subscriptions and their delivery log (admin only). Thin: parse, call,
commit, render."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from hotswap.auth.model import Permission, Principal
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import PageRead
from hotswap.webhooks.model import Delivery, Webhook
from hotswap.webhooks.schemas import DeliveryRead, DeliveryStatus, WebhookCreate, WebhookCreated, WebhookRead
from hotswap.webhooks.service import WebhookService

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

Webhooks = Annotated[WebhookService, Depends(service(WebhookService))]

Admin = Annotated[Principal, Depends(require(Permission.WEBHOOK_ADMIN))]
Limit = Annotated[int, Query(ge=1, le=500)]


def _fields(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "enabled": hook.enabled,
        "created_at": hook.created_at,
        "created_by": hook.created_by,
    }


def _read(hook: Webhook) -> WebhookRead:
    return WebhookRead(**_fields(hook))


def _delivery(d: Delivery) -> DeliveryRead:
    return DeliveryRead(
        id=d.id,
        webhook_id=d.webhook_id,
        event=d.event,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_attempt_at=d.last_attempt_at,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
        payload=d.payload,
    )


@router.post("/webhooks", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, actor: Admin, uow: UowDep, webhooks: Webhooks, response: Response
) -> WebhookCreated:
    """Subscribe a URL to deployment events. The response carries the signing secret, once."""
    hook, secret = await webhooks.create(uow, actor, url=body.url, events=body.events, secret=body.secret)
    await uow.commit()
    response.headers["Location"] = f"/api/v1/webhooks/{hook.id}"
    return WebhookCreated(**_fields(hook), secret=secret)


@router.get("/webhooks", response_model=PageRead[WebhookRead])
async def list_webhooks(
    _: Admin,
    uow: UowDep,
    webhooks: Webhooks,
    include_disabled: Annotated[bool, Query(alias="includeDisabled")] = False,
    cursor: str | None = None,
    limit: Limit = 100,
) -> PageRead[WebhookRead]:
    """Oldest first; deleted ones only with `includeDisabled=true`."""
    page = await webhooks.page(uow, include_disabled=include_disabled, cursor=cursor, limit=limit)
    return PageRead(items=[_read(h) for h in page.items], next_cursor=page.next_cursor)


@router.get("/webhooks/{webhook_id}", response_model=WebhookRead)
async def get_webhook(webhook_id: str, _: Admin, uow: UowDep, webhooks: Webhooks) -> WebhookRead:
    return _read(await webhooks.get(uow, webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: str, actor: Admin, uow: UowDep, webhooks: Webhooks) -> Response:
    """Stop sending: nothing more is queued and pending deliveries fail. The delivery log stays
    readable. Deleting again is a 204 that changes nothing."""
    await webhooks.disable(uow, actor, webhook_id)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=PageRead[DeliveryRead])
async def list_deliveries(
    webhook_id: str,
    _: Admin,
    uow: UowDep,
    webhooks: Webhooks,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    cursor: str | None = None,
    limit: Limit = 50,
) -> PageRead[DeliveryRead]:
    """The delivery log, newest first."""
    page = await webhooks.deliveries(uow, webhook_id, status=status_, cursor=cursor, limit=limit)
    return PageRead(items=[_delivery(d) for d in page.items], next_cursor=page.next_cursor)


@router.post("/webhooks/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryRead)
async def ping_webhook(webhook_id: str, actor: Admin, uow: UowDep, webhooks: Webhooks) -> DeliveryRead:
    """Queue a `webhook.ping` to this subscription; follow it in the delivery log."""
    delivery = await webhooks.ping(uow, actor, webhook_id)
    await uow.commit()
    return _delivery(delivery)
