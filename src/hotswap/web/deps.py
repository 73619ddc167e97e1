"""FastAPI dependency aliases that keep routes short."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from hotswap.auth.model import Permission, Principal
from hotswap.core.errors import Forbidden, Unauthorized
from hotswap.observability.logging import request_id_var
from hotswap.storage.uow import UnitOfWork

if TYPE_CHECKING:
    from hotswap.container import Container


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated["Container", Depends(get_container)]


def current_principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # the edge middleware authenticates every non-public path
        raise Unauthorized()
    return principal


def require(permission: Permission) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    async def check(request: Request) -> Principal:
        principal = current_principal(request)
        if not principal.can(permission):
            raise Forbidden(f"The {principal.role.value} role may not do this (needs {permission.value}).")
        return principal

    check.__name__ = f"require_{permission.name.lower()}"
    return check


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    container = get_container(request)
    # Safe methods only read: their transactions need no write lock (see storage.uow.READ_ONLY).
    read_only = request.method in ("GET", "HEAD")
    async with container.uow(request_id_var.get(), read_only=read_only) as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]
