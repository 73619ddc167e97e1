"""Canonical JSON: one byte form per value, so checksums are stable across replicas."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeAlias

import orjson

JSON: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None
JSONObject: TypeAlias = dict[str, Any]


def canonical_bytes(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def checksum(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes(value)).hexdigest()


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def as_stored(value: Any) -> Any:
    """A JSON value as it was written, from what the store hands back. PostgreSQL's jsonb keeps
    numbers as `numeric` and writes `1e20` back as `100000000000000000000`, which Python reads
    as an integer beyond what HotSwap stores (signed 64 bits): such integers become the floats
    they were, so that the value can be written again.
    (Written values never hold such integers: `configs.payloads.parse_config_data` refuses them.)"""
    if isinstance(value, dict):
        return {key: as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_stored(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_MIN <= value <= _INT_MAX:
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


# What every JSON value HotSwap takes in or stores must satisfy, whichever route or table it
# goes through: a store can hold it (PostgreSQL text holds no NUL, jsonb no lone surrogate, no
# NaN), every encoder here can write it back (orjson refuses lone surrogates and integers
# beyond 64 bits), and the code that walks it cannot be driven into a RecursionError.
MAX_JSON_DEPTH = 72  # the deepest documents a route takes (64: JSON Schemas) plus their wrappers
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class UnfitJSON(ValueError):
    """A JSON text or value HotSwap does not take: `reason`, and where: a JSON pointer to the
    value at fault, or (for text that does not parse) the 1-based line and column."""

    def __init__(self, reason: str, *, pointer: str = "", line: int | None = None, column: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pointer = pointer
        self.line = line
        self.column = column


def _pointer_part(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _unfit_string(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (an unpaired \\ud800-\\udfff escape)"
    return None


def _fits(value: Any, max_depth: int) -> bool:
    """Whether `check_fit` would pass, without building a pointer per value: about a tenth of
    its cost, so the walk that names the culprit runs only when there is one."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            if "\x00" in item or (not item.isascii() and _unfit_string(item)):
                return False
        elif kind is dict:
            if depth >= max_depth:
                return False
            for key, child in item.items():
                if type(key) is not str or "\x00" in key or (not key.isascii() and _unfit_string(key)):
                    return False
                stack.append((child, depth + 1))
        elif kind is list:
            if depth >= max_depth:
                return False
            stack.extend((child, depth + 1) for child in item)
        elif kind is int:
            if not INT_MIN <= item <= INT_MAX:
                return False
        elif kind is float:
            if item != item or item in (_INF, -_INF):
                return False
        elif not (item is None or kind is bool):
            return False
    return True


_INF = float("inf")


def check_fit(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise `UnfitJSON` naming the first value that breaks the rules above: a string or key
    with NUL or a lone surrogate, a non-finite float, an integer outside the signed 64-bit
    range, nesting deeper than `max_depth`, or something JSON has no form for. Iterative, so
    any depth is refused rather than overflowing the stack."""
    if _fits(value, max_depth):
        return
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, pointer, depth = stack.pop()
        if isinstance(item, str):
            problem = _unfit_string(item)
            if problem:
                raise UnfitJSON(f"the string {problem}", pointer=pointer)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise UnfitJSON("the integer is outside the signed 64-bit range", pointer=pointer)
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                raise UnfitJSON("the number is not finite (JSON has no NaN or Infinity)", pointer=pointer)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise UnfitJSON(f"nested more than {max_depth} levels", pointer=pointer)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise UnfitJSON("an object key is not a string", pointer=pointer)
                    problem = _unfit_string(key)
                    if problem:  # named by its object: the key itself cannot be shown as it is
                        raise UnfitJSON(f"a key {problem}", pointer=pointer)
                    stack.append((child, f"{pointer}/{_pointer_part(key)}", depth + 1))
            else:
                stack.extend((child, f"{pointer}/{index}", depth + 1) for index, child in enumerate(item))
        else:
            raise UnfitJSON(f"a {type(item).__name__} has no JSON form", pointer=pointer)


def _lookup(value: Any, pointer: str) -> Any:
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


# Parsed text can hold a NUL only through the escape `\u0000` (orjson refuses a raw control
# character), and an integer beyond 64 bits only as a run of 19 or more digits: text with
# neither needs no walk through its values for them, the common case, so a large body costs
# a C parse and two scans instead of a Python walk over every value.
_NUL_ESCAPE = b"\\u0000"
_BOM = b"\xef\xbb\xbf"
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")  # a run of digits becomes one of zeros
_ZEROED_DIGITS = b"0" * 19


def strict_loads(text: bytes) -> Any:
    """Parse a JSON text that HotSwap will take, or raise `UnfitJSON` saying why and where.

    orjson does most of it in C: it refuses text that is not UTF-8, lone surrogates, NaN and
    Infinity, numbers that overflow a double (1e400, a 400-digit integer) and nesting beyond
    1,024. The rest is `check_fit`'s, run only where the scans above find a suspect. orjson
    reads an integer beyond 64 bits as a float, silently: such a float is parsed again to
    tell `18446744073709551616` (refused) from `1.8e19` (a float, kept)."""
    if text.startswith(_BOM):  # some writers (.NET's, Notepad's) start UTF-8 with one
        text = text[len(_BOM) :]
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        line, column = exc.lineno, exc.colno
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as bad:  # orjson points at the start of the text: find the byte
            before = text[: bad.start].decode("utf-8")
            line, column = before.count("\n") + 1, bad.start - (before.rfind("\n") + 1) + 1
            return _raise_unparsed("it is not UTF-8 text", line, column)
        _name_the_value(text)
        return _raise_unparsed(_unparsed_reason(exc.msg), line, column)
    if _NUL_ESCAPE in text or _ZEROED_DIGITS in text.translate(_DIGITS_AS_ZERO):
        check_fit(value)
        _refuse_wide_integers(value, text)
    elif text.count(b"[") + text.count(b"{") > MAX_JSON_DEPTH:
        check_depth(value, MAX_JSON_DEPTH)
    return value


def check_depth(value: Any, max_depth: int) -> None:
    """Refuse nesting beyond `max_depth` (`UnfitJSON`), visiting containers only, a level at a
    time: a fraction of `check_fit`'s walk, for values whose other rules were checked already."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        if depth >= max_depth:
            raise UnfitJSON(f"nested more than {max_depth} levels", pointer=_deep_pointer(value, max_depth))
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        depth += 1


def _deep_pointer(value: Any, max_depth: int) -> str:
    try:
        check_fit(value, max_depth=max_depth)
    except UnfitJSON as error:
        return error.pointer
    return ""


def _name_the_value(text: bytes) -> None:
    """Where orjson refused a value rather than the syntax (NaN, a lone surrogate, 1e400, a
    400-digit integer), the standard library's laxer parser reads the text: the value at fault
    is then named by its pointer, which says more than a line and column."""
    try:
        lenient = json.loads(text)
    except (ValueError, RecursionError):
        return  # the syntax itself is wrong: the line and column say where
    check_fit(lenient)


def _unparsed_reason(reason: str) -> str:
    if "surrogate" in reason:
        return "a lone surrogate escape (\\ud800 to \\udfff stand for no character alone)"
    if reason.startswith("depth limit"):
        return f"nested more than {MAX_JSON_DEPTH} levels"
    if "zero-length" in reason:
        return "it is empty"
    if reason == "unexpected end of data":
        return "it ends early"
    return reason


def _raise_unparsed(reason: str, line: int, column: int) -> Any:
    raise UnfitJSON(f"not valid JSON: {reason}", line=line, column=column)


def _refuse_wide_integers(value: Any, text: bytes | str) -> None:
    wide = _wide_floats(value)
    if not wide:
        return
    exact = json.loads(text)  # stdlib json keeps integer literals as Python ints of any size
    for pointer in wide:
        if isinstance(_lookup(exact, pointer), int):
            raise UnfitJSON("the integer is outside the signed 64-bit range", pointer=pointer)


def _wide_floats(value: Any) -> list[str]:
    """Pointers to the floats at or beyond 2**63 in magnitude (where an integer literal too
    wide for 64 bits lands when orjson reads it)."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, pointer = stack.pop()
        if isinstance(item, float):
            if abs(item) >= 2.0**63:
                found.append(pointer)
        elif isinstance(item, dict):
            stack.extend((child, f"{pointer}/{_pointer_part(key)}") for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{pointer}/{index}") for index, child in enumerate(item))
    return found


def lenient_loads(text: str | bytes) -> Any:
    """A stored JSON text read back: orjson, several times faster than the standard parser on
    large documents; a row written before the store refused non-standard JSON (NaN) is still
    read, by the standard parser, rather than failing every read of it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def storable_dumps(value: Any) -> str:
    """The JSON text a column stores, or `UnfitJSON` for a value that breaks the rules above:
    the last line under the edge's checks, whichever path wrote the value. A store must never
    take what it cannot give back: SQLite would keep NaN and lone surrogates as written and
    fail every later read of the row."""
    text = _screened(value, MAX_STORED_DEPTH)
    if text is None:  # a suspect (or a value the screen leaves to the walk): the walk decides
        check_fit(value, max_depth=MAX_STORED_DEPTH)
        text = _encoded(value)
        if text is None:
            raise UnfitJSON("the value cannot be written as JSON")
    return text


def _encoded(value: Any) -> str | None:
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        return None


def check_fit_fast(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """`check_fit`, at C speed for the common case of a value that passes (large config data
    is checked in a few milliseconds instead of a walk through every value in Python)."""
    if _screened(value, max_depth) is None:
        check_fit(value, max_depth=max_depth)


def _screened(value: Any, max_depth: int) -> str | None:
    """The value's JSON text if it surely passes `check_fit`, else None (then `check_fit`
    names what is wrong). Two encodes in C and two scans: the standard encoder refuses NaN and
    Infinity, orjson lone surrogates, integers beyond 53 bits and nesting past 254; a NUL
    shows as its escape; nesting is then counted over containers alone."""
    text = _encoded(value)
    try:
        # Integers beyond 53 bits are rare enough to leave to the exact walk (which takes 63).
        orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:  # orjson.JSONEncodeError
        return None
    if text is None:
        return None
    if "\\u0000" in text:
        return None
    if max_depth < _ORJSON_DEPTH and text.count("[") + text.count("{") > max_depth:
        try:
            check_depth(value, max_depth)
        except UnfitJSON:
            return None
    return text


# Deeper than the edge allows, since a stored document may wrap a value the edge took: what
# orjson writes (it refuses nesting past 254 levels, which the screen above relies on) and what
# recursive readers here survive.
_ORJSON_DEPTH = 254
MAX_STORED_DEPTH = _ORJSON_DEPTH
