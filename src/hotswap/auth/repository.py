from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hotswap.auth.tables import credentials, tokens


class AuthRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_token(self, row: dict[str, Any]) -> None:
        await self.conn.execute(tokens.insert().values(**row))

    async def get_token(self, jti: str) -> sa.Row[Any] | None:
        """What was recorded when the token `jti` was issued (subject, role, expiry...) and whether
        it was revoked; None when no such token was issued here."""
        return (await self.conn.execute(sa.select(tokens).where(tokens.c.jti == jti))).first()

    async def revoke_tokens_of_credential(self, credential_id: str, at: datetime, by: str) -> int:
        result = await self.conn.execute(
            tokens.update()
            .where(tokens.c.credential_id == credential_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
        )
        return int(result.rowcount or 0)

    async def revoke_token(self, jti: str, at: datetime, by: str) -> bool:
        result = await self.conn.execute(
            tokens.update()
            .where(tokens.c.jti == jti, tokens.c.revoked_at.is_(None))
            .values(revoked_at=at, revoked_by=by)
        )
        return bool(result.rowcount)

    async def list_tokens(self, *, subjects: set[str] | None, include_revoked: bool, limit: int) -> list[sa.Row[Any]]:
        query = sa.select(tokens).order_by(tokens.c.issued_at.desc(), tokens.c.jti).limit(limit)
        if subjects is not None:
            query = query.where(tokens.c.subject.in_(sorted(subjects)))
        if not include_revoked:
            query = query.where(tokens.c.revoked_at.is_(None))
        return list((await self.conn.execute(query)).all())

    async def add_credential(self, row: dict[str, Any]) -> None:
        await self.conn.execute(credentials.insert().values(**row))

    async def get_credential(self, credential_id: str) -> sa.Row[Any] | None:
        return (await self.conn.execute(sa.select(credentials).where(credentials.c.id == credential_id))).first()

    async def list_credentials(self, *, include_revoked: bool, limit: int) -> list[sa.Row[Any]]:
        columns = [c for c in credentials.c if c.name != "secret_hash"]
        query = sa.select(*columns).order_by(credentials.c.created_at.desc(), credentials.c.id).limit(limit)
        if not include_revoked:
            query = query.where(credentials.c.revoked_at.is_(None))
        return list((await self.conn.execute(query)).all())

    async def count_credentials(self) -> int:
        return int((await self.conn.execute(sa.select(sa.func.count()).select_from(credentials))).scalar_one())

    async def revoke_credential(self, credential_id: str, at: datetime) -> bool:
        result = await self.conn.execute(
            credentials.update()
            .where(credentials.c.id == credential_id, credentials.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(result.rowcount)
