"""What the analysis slice tells the others."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotswap.analysis.ingest import Participation
from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class SamplesIngested(Signal[None]):
    """A batch of metric samples is being stored: in its transaction, what the samples tagged
    with a live event say of each player's part in it, by (event id, player id)."""

    participation: Mapping[tuple[str, str], Participation]
