"""Canonical JSON: one byte form per value, so checksums are stable across replicas."""

from __future__ import annotations

import hashlib
from typing import Any, TypeAlias

import orjson

JSON: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None
JSONObject: TypeAlias = dict[str, Any]


def canonical_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def checksum(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()
