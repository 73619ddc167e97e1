"""What the webhooks slice tells: its own dispatcher, which runs apart from the service."""

from __future__ import annotations

from dataclasses import dataclass

from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class DeliveriesQueued(Signal[None]):
    """Deliveries were queued: once they have committed, a dispatcher should send them at once
    rather than at its next poll."""
