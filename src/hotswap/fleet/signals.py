"""What the fleet slice tells the others."""

from __future__ import annotations

from dataclasses import dataclass

from hotswap.auth.model import Principal
from hotswap.core.signals import Signal
from hotswap.fleet.model import Region


@dataclass(frozen=True, slots=True)
class RegionChanged(Signal[None]):
    """A region was edited (its new row is written, its snapshots not yet marked): what is planned
    on its clock follows a new time zone, or refuses it with a Conflict."""

    actor: Principal
    before: Region
    after: Region


@dataclass(frozen=True, slots=True)
class RegionDeleting(Signal[None]):
    """A region is about to be deleted (nothing written yet): a slice that still targets it
    refuses with a Conflict."""

    actor: Principal
    region: Region
