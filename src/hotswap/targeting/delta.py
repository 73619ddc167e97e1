"""Snapshot deltas: what changed between two revisions of an environment's snapshot document.

The server streams a delta instead of the whole document when it is smaller; the SDK applies it
to the document it holds. Both sides use this module, so they cannot disagree on the format:

    {"base": 6, "revision": 7, "environment": "Production",
     "set": {"configs": {"shop": {...whole entry...}}},
     "remove": {"segments": ["old-segment"]},
     "replace": {"rollouts": [...], "changedAt": "..."}, "drop": ["a-part-no-longer-sent"]}

Keyed parts (`configs`, `segments`, `regions`: objects of independent entries) change entry by
entry: a changed entry is sent whole. Every other top-level value (lists such as `rollouts`
and `events`, scalars) is replaced whole when it changed. A delta applies only to the document
at its `base` revision: applying it to any other raises `DeltaMismatch`, and the holder then
needs the full snapshot. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["KEYED", "DeltaMismatch", "apply_delta", "diff", "same"]

KEYED = frozenset({"configs", "segments", "regions"})
_FIXED = frozenset({"revision", "environment"})


class DeltaMismatch(ValueError):
    """The delta does not start from the document it was applied to."""


def same(a: Any, b: Any) -> bool:
    """Equal as JSON. Python's `==` holds `True == 1 == 1.0`, which conditions tell apart: a
    rule changed from `1` to `true` is a change."""
    if a is b:
        return True
    if a != b:
        return False
    try:  # equal to Python: compare what they are as JSON (in C)
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # what orjson does not encode (an integer beyond 64 bits): compare by hand
        return _strict(a, b)


def _strict(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_strict(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_strict(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The delta that turns `old` into `new` (two revisions of one environment's document)."""
    if old.get("environment") != new.get("environment"):
        raise ValueError("a delta joins two revisions of the same environment")
    set_: dict[str, dict[str, Any]] = {}
    remove: dict[str, list[str]] = {}
    replace: dict[str, Any] = {}
    drop = sorted(k for k in old.keys() - new.keys() if k not in _FIXED)
    for key in new:
        if key in _FIXED:
            continue
        before, after = old.get(key), new[key]
        if key in KEYED and isinstance(before, dict) and isinstance(after, dict):
            changed = {k: v for k, v in after.items() if k not in before or not same(before[k], v)}
            gone = sorted(k for k in before if k not in after)
            if changed:
                set_[key] = changed
            if gone:
                remove[key] = gone
        elif key not in old or not same(before, after):
            replace[key] = after
    delta: dict[str, Any] = {
        "base": old["revision"],
        "environment": new["environment"],
        "revision": new["revision"],
    }
    if set_:
        delta["set"] = set_
    if remove:
        delta["remove"] = remove
    if replace:
        delta["replace"] = replace
    if drop:
        delta["drop"] = drop
    return delta


def apply_delta(document: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """A new document: `document` with `delta` applied. `document` itself is not changed (a
    reader holding it, or a match pinned to it, keeps seeing exactly what it had)."""
    if document.get("revision") != delta.get("base") or document.get("environment") != delta.get("environment"):
        raise DeltaMismatch(
            f"the delta goes from revision {delta.get('base')} of {delta.get('environment')}, "
            f"not from revision {document.get('revision')} of {document.get('environment')}"
        )
    out = dict(document)
    for key, entries in (delta.get("set") or {}).items():
        merged = dict(out.get(key) or {})
        merged.update(entries)
        out[key] = merged
    for key, names in (delta.get("remove") or {}).items():
        kept = dict(out.get(key) or {})
        for name in names:
            kept.pop(name, None)
        out[key] = kept
    out.update(delta.get("replace") or {})
    for key in delta.get("drop") or ():
        out.pop(key, None)
    out["revision"] = delta["revision"]
    return out
