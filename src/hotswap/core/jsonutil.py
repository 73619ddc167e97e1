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


_INT_MIN, _UINT_MAX = -(2**63), 2**64 - 1


def as_stored(value: Any) -> Any:
    """A JSON value as it was written, from what the store hands back. PostgreSQL's jsonb keeps
    numbers as `numeric` and writes `1e20` back as `100000000000000000000`, which Python reads
    as an integer no 64-bit JSON encoder takes: such integers become the floats they were.
    (Written values never hold such integers: `configs.payloads.parse_config_data` refuses them.)"""
    if isinstance(value, dict):
        return {key: as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_stored(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _UINT_MAX:
        return float(value)
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            stack.append((child, depth + 1))
        deepest = max(deepest, depth)
    return deepest
