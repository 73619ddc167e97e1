"""JavaScript's value semantics, for conditions that must agree with GrowthBook's SDKs.

Game teams write targeting conditions in GrowthBook's condition language, whose reference
implementation is JavaScript: `"8" > 5` is true there, `null < 1` is true, and `===` never
equates `1` with `true`. These helpers reproduce exactly the coercions the condition operators
use, over JSON values (dict, list, str, int, float, bool, None). Pure; no I/O.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

NAN = float("nan")
# JavaScript's decimal literal. Each digit can be read one way only: `\d+\.?\d*` could split a
# run of digits anywhere, which a backtracking engine tries one split at a time (quadratic in a
# long attribute of digits followed by anything else, on the hot path).
_NUMERIC = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def typeof(value: Any) -> str:
    """GrowthBook's `$type` names: null, array, and JavaScript's typeof for the rest."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def to_number(value: Any) -> float:
    """JavaScript's ToNumber (`value * 1`)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0.0
        if _NUMERIC.match(text):
            return float(text)
        if text.lower().startswith(("0x", "0o", "0b")):
            try:
                return float(int(text, 0))
            except ValueError:
                return NAN
        if text in ("Infinity", "+Infinity"):
            return math.inf
        if text == "-Infinity":
            return -math.inf
        return NAN
    if isinstance(value, list):
        return to_number(to_string(value))
    return NAN


def number_to_string(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(float(value))


def to_string(value: Any) -> str:
    """JavaScript's ToString (`value + ""`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_to_string(float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if item is None else to_string(item) for item in value)
    return "[object Object]"


def truthy(value: Any) -> bool:
    """JavaScript's `!!value`: 0, NaN, "" and null are false; every array and object is true."""
    if isinstance(value, list | dict):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def strict_equal(a: Any, b: Any) -> bool:
    """`a === b` for JSON values: no coercion, and two arrays or objects are never the same one."""
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return typeof(a) == typeof(b) and a == b


def _primitive(value: Any) -> Any:
    return to_string(value) if isinstance(value, list | dict) else value


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def compare(a: Any, b: Any) -> int | None:
    """JavaScript's relational comparison: -1, 0 or 1, or None when it is undefined (NaN)."""
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        # JavaScript orders strings by UTF-16 code units, not by code points.
        p, q = _utf16(a), _utf16(b)
        return (p > q) - (p < q)
    x, y = to_number(a), to_number(b)
    if math.isnan(x) or math.isnan(y):
        return None
    return (x > y) - (x < y)


def stringify(value: Any) -> str:
    """`JSON.stringify` for JSON values: key order kept, numbers written as JavaScript does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "null" if math.isnan(value) or math.isinf(value) else number_to_string(float(value))
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(stringify(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(str(k))}:{stringify(v)}" for k, v in value.items()) + "}"
    return "null"


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
