"""Request and response bodies of the webhooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from hotswap.web.schemas import CamelModel, InputModel
from hotswap.webhooks.model import MAX_EVENTS, MAX_URL, check_event, check_url

DeliveryStatus = Literal["pending", "delivered", "failed"]


def _url(url: str) -> str:
    # Whether private and loopback addresses are allowed is a setting, which the service checks.
    return check_url(url, allow_private=True)


Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL),
    AfterValidator(_url),
    Field(
        description="Where to POST: an http or https URL, without credentials in it. Its host may not be, or "
        "resolve to, a cloud metadata, link-local, unspecified, multicast or reserved address, nor a private or "
        "loopback one unless the server allows private networks."
    ),
]
EventName = Annotated[str, StringConstraints(min_length=1, max_length=60), AfterValidator(check_event)]
Secret = Annotated[
    str,
    StringConstraints(min_length=16, max_length=200),
    Field(description="The HMAC key for `X-HotSwap-Signature`; leave it out to have one generated."),
]


class WebhookCreate(InputModel):
    url: Url
    events: list[EventName] = Field(
        min_length=1,
        max_length=MAX_EVENTS,
        description="Event names such as `deployment.rollback`, or `deployment.*`, or `*` for all.",
    )
    secret: Secret | None = None


class WebhookRead(CamelModel):
    id: str
    url: str
    events: list[str]
    enabled: bool = Field(description="False once deleted: it sends nothing more; its log stays readable.")
    created_at: datetime
    created_by: str


class WebhookCreated(WebhookRead):
    secret: str = Field(description="The signing secret. Shown in this response only: store it now.")


class DeliveryRead(CamelModel):
    id: str = Field(description="Also sent as `X-HotSwap-Delivery`; the same on every retry.")
    webhook_id: str
    event: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The receiver's last HTTP status; null: no response.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The event, as sent in the body's `data` (with its name).")
