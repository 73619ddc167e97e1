"""Identifiers: opaque, URL-safe, prefixed by kind so a stray id is recognisable in logs."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
