"""Token exchange, token and API-key administration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import Field, StringConstraints

from hotswap.auth.model import Permission, Principal, Role
from hotswap.auth.service import AuthService
from hotswap.auth.tokens import IssuedToken
from hotswap.web.deps import UowDep, require, service
from hotswap.web.schemas import CamelModel, InputModel

router = APIRouter(prefix="/api/v1", tags=["auth"])

Auth = Annotated[AuthService, Depends(service(AuthService))]
TokenAdmin = Annotated[Principal, Depends(require(Permission.TOKEN_ADMIN))]
Subject = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
TtlSeconds = Annotated[int, Field(gt=0, le=10 * 365 * 24 * 3600)]


class TokenExchange(InputModel):
    api_key: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    ttl_seconds: TtlSeconds | None = None


class TokenCreate(InputModel):
    subject: Subject
    role: Role
    ttl_seconds: TtlSeconds | None = None


class TokenIssued(CamelModel):
    access_token: str
    token_type: str = "Bearer"
    token_id: str
    subject: str
    role: Role
    expires_at: datetime


class TokenRead(CamelModel):
    token_id: str
    subject: str
    role: Role
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    revoked_at: datetime | None


class CredentialCreate(InputModel):
    name: Subject
    role: Role


class CredentialCreated(CamelModel):
    id: str
    name: str
    role: Role
    api_key: str = Field(description="Shown once; store it now.")


def _issued(t: IssuedToken) -> TokenIssued:
    return TokenIssued(access_token=t.token, token_id=t.jti, subject=t.subject, role=t.role, expires_at=t.expires_at)


def _ttl(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)


@router.post("/auth/token", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
async def exchange_api_key(body: TokenExchange, uow: UowDep, auth: Auth) -> TokenIssued:
    """Exchange an API key (`hsk_...`) for a bearer token. The only route that takes no token."""
    issued = await auth.exchange_api_key(uow, body.api_key, _ttl(body.ttl_seconds))
    await uow.commit()
    return _issued(issued)


@router.post("/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
async def create_token(body: TokenCreate, actor: TokenAdmin, uow: UowDep, auth: Auth) -> TokenIssued:
    issued = await auth.issue_token(uow, actor, subject=body.subject, role=body.role, ttl=_ttl(body.ttl_seconds))
    await uow.commit()
    return _issued(issued)


@router.get("/tokens", response_model=list[TokenRead])
async def list_tokens(
    _: TokenAdmin,
    uow: UowDep,
    auth: Auth,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    include_revoked: Annotated[bool, Query(alias="includeRevoked")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TokenRead]:
    rows = await auth.list_tokens(uow, subject=subject, include_revoked=include_revoked, limit=limit)
    return [
        TokenRead(
            token_id=r.jti,
            subject=r.subject,
            role=Role(r.role),
            issued_at=r.issued_at,
            expires_at=r.expires_at,
            issued_by=r.issued_by,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, actor: TokenAdmin, uow: UowDep, auth: Auth) -> None:
    await auth.revoke_token(uow, actor, token_id)
    await uow.commit()


@router.post("/credentials", response_model=CredentialCreated, status_code=status.HTTP_201_CREATED)
async def create_credential(body: CredentialCreate, actor: TokenAdmin, uow: UowDep, auth: Auth) -> CredentialCreated:
    created = await auth.create_credential(uow, actor, name=body.name, role=body.role)
    await uow.commit()
    return CredentialCreated(id=created.id, name=created.name, role=created.role, api_key=created.api_key)


@router.delete("/credentials/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_credential(credential_id: str, actor: TokenAdmin, uow: UowDep, auth: Auth) -> None:
    await auth.revoke_credential(uow, actor, credential_id)
    await uow.commit()
