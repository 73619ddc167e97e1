"""Reads every config use case shares: a profile or version by name, and inherited data."""

from __future__ import annotations

from hotswap.configs import model as m
from hotswap.configs.repository import ConfigRepository
from hotswap.core.errors import FieldError, InvalidInput, NotFound


async def require_profile(
    repo: ConfigRepository, name: str, *, for_update: bool = False, field: str | None = None
) -> m.Profile:
    profile = await repo.get_profile(name, for_update=for_update)
    if profile is None:
        if field is not None:
            raise InvalidInput(f"No config named {name!r}.", errors=[FieldError(field, "no such config")])
        raise NotFound(f"No config named {name!r}.")
    return profile


async def require_version(
    repo: ConfigRepository, profile: m.Profile, version: str, *, field: str | None = None
) -> m.Version:
    stored = await repo.get_version(profile.id, version)
    if stored is None:
        if field is not None and field.startswith("query"):
            raise NotFound(f"{profile.name!r} has no version {version}.", errors=[FieldError(field, "no such version")])
        if field is not None:
            raise InvalidInput(
                f"{profile.name!r} has no version {version}.", errors=[FieldError(field, "no such version")]
            )
        raise NotFound(f"{profile.name!r} has no version {version}.")
    return stored


async def ancestors(repo: ConfigRepository, profile: m.Profile) -> list[m.Profile]:
    """Ancestors ordered root first."""
    chain: list[m.Profile] = []
    current = profile
    while current.parent_id is not None and len(chain) < m.MAX_INHERITANCE_DEPTH:
        parent = await repo.get_profile_by_id(current.parent_id)
        if parent is None:
            break
        chain.append(parent)
        current = parent
    return list(reversed(chain))


async def ancestor_ids(repo: ConfigRepository, profile: m.Profile) -> list[str]:
    return [p.id for p in await ancestors(repo, profile)]


async def contributing_version(repo: ConfigRepository, profile: m.Profile) -> m.Version | None:
    """The version of a parent that a child's new version is merged onto: the parent's live
    version, else its newest one (a template that is never released still serves as a base)."""
    if profile.live_version_id:
        return await repo.get_version_by_id(profile.live_version_id)
    return await repo.latest_version(profile.id)
