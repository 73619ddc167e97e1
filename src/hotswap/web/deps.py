"""FastAPI dependency aliases that keep routes short."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request

from hotswap.auth.model import Permission, Principal
from hotswap.core.errors import Forbidden, Unauthorized
from hotswap.observability.logging import request_id_var
from hotswap.storage.uow import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")


def service(kind: type[T]) -> Callable[[Request], T]:
    """A dependency that hands a route the application's one `kind` (a slice's service, the
    unit-of-work factory): the composition root registers each by its type on `app.state.services`.
    Routes name the services they use (`configs: Configs`), not the whole container."""

    def provide(request: Request) -> T:
        return cast(T, request.app.state.services[kind])

    provide.__name__ = f"provide_{kind.__name__}"
    return provide


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
    transactions = service(UnitOfWorkFactory)(request)
    # Safe methods only read: their transactions need no write lock (see storage.uow.READ_ONLY).
    read_only = request.method in ("GET", "HEAD")
    async with transactions(request_id_var.get(), read_only=read_only) as uow:
        yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


async def get_read_only_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    """For a POST that only reads (a preview): no write lock, so on SQLite no queue behind writers."""
    async with service(UnitOfWorkFactory)(request)(request_id_var.get(), read_only=True) as uow:
        yield uow


ReadOnlyUowDep = Annotated[UnitOfWork, Depends(get_read_only_uow)]
