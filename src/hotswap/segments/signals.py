"""What the segments slice tells the others."""

from __future__ import annotations

from dataclasses import dataclass

from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class SegmentDeleting(Signal[None]):
    """A segment is about to be deleted: its row is locked and nothing is written yet. A slice
    that still targets it (a config's rules, a planned live event) refuses with a Conflict."""

    segment_id: str
