"""The root of HotSwap's one error hierarchy and the refusal of bad input, which the targeting
engine raises (a rule or a condition that cannot be stored).

They live here, in the lowest package of the kernel, because the engine also ships without the
server in the SDK distribution (`hotswap-sdk`), which has no `hotswap.core`. `hotswap.core.errors`
re-exports them beside the rest of the hierarchy: there is still one `HotSwapError`, so every
`except HotSwapError` and the problem+json rendering see the engine's refusals as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

PROBLEM_BASE = "urn:hotswap:problem:"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failing input: `field` is a dotted path (body.configData.weapons), `pointer` a JSON Pointer."""

    field: str
    message: str
    pointer: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"field": self.field, "message": self.message}
        if self.pointer is not None:
            out["pointer"] = self.pointer
        return out


class HotSwapError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class InvalidInput(HotSwapError):
    status = 422
    slug = "validation"
    title = "Invalid input"
