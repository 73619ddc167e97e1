"""What the players slice tells the others."""

from __future__ import annotations

from dataclasses import dataclass

from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class PlayerErased(Signal[int]):
    """A player's data is being erased: every slice deletes what it keeps under the player's id
    in the same transaction, so all of it goes or none, and answers how many rows it deleted
    (nothing stored anywhere is a 404)."""

    player_id: str


@dataclass(frozen=True, slots=True)
class PlayerWritten(Signal[None]):
    """A player's profile was written or erased: caches of it (this process's own is dropped by
    the players slice; the other processes hear it on the bus) forget it once it has committed."""

    player_id: str
