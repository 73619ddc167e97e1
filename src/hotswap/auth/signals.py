"""What the auth slice tells the others."""

from __future__ import annotations

from dataclasses import dataclass

from hotswap.core.signals import Signal


@dataclass(frozen=True, slots=True)
class TokensRevoked(Signal[None]):
    """Tokens were revoked (one, or every token of an API key): caches of valid tokens, in this
    process and the others, must forget them once the revocation has committed."""
