"""Regular expressions that users write, run on RE2: matching takes time linear in the text,
whatever the pattern. Pure: no I/O.

Patterns come from targeting conditions (`$regex`, `$regexi`) and JSON Schemas (`pattern`,
`patternProperties`) and are matched against what players and clients send, on the event loop
and inside every SDK. A backtracking engine (Python's `re`) takes exponential time on patterns
such as `^(a|a)*$` against a near-miss text, so one crafted attribute could stall the process.
RE2 compiles a pattern to an automaton and never backtracks. The price is syntax: it has no
back-references and no look-arounds (both need backtracking); such a pattern is refused when it
is stored (`pattern_problem`) and matches nothing if met anyway (`compile_pattern` raises, and
callers fail closed).

The syntax is otherwise Perl's, as JavaScript's mostly is; JavaScript's `\\uXXXX` escapes are
spelled as RE2's `\\x{XXXX}` before compiling.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import re2

# The compiled-program object. google-re2's public `search` also decodes match offsets back to
# string positions and builds a match object, four times the cost of the yes-or-no answer that
# every caller here needs, so matching calls the RE2 object itself (`Match` on UTF-8 bytes).
_RE2 = re2._re2.RE2
_UNANCHORED = _RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)

UNSUPPORTED = "Patterns run on RE2, which matches in linear time and so has no back-references or look-arounds"


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message says why, in words for the one who wrote it."""


class Pattern:
    """A compiled pattern. `search(text)` tells whether it matches anywhere in `text`."""

    __slots__ = ("ignore_case", "regexp", "search", "source")

    def __init__(self, source: str, ignore_case: bool, regexp: object) -> None:
        self.source = source
        self.ignore_case = ignore_case
        self.regexp = regexp  # the RE2 program
        self.search: Callable[[str], bool] = _searcher(regexp)


def _searcher(regexp: object) -> Callable[[str], bool]:
    match = regexp.Match  # type: ignore[attr-defined]

    def search(text: str) -> bool:
        # `surrogatepass`: a lone surrogate (possible in an SDK's own attributes) is encoded as
        # bytes that are not UTF-8, for RE2 to match as such, not raised on the hot path.
        data = text.encode("utf-8", "surrogatepass")
        span: tuple[int, int] = match(_UNANCHORED, data, 0, len(data))[0]
        return span != _NO_MATCH

    return search


def compile_pattern(source: str, *, ignore_case: bool = False) -> Pattern:
    """The compiled pattern; `PatternError` if RE2 cannot compile it. Cached: the same pattern in
    many rules, schemas or snapshots is compiled once."""
    compiled = _compile(source, ignore_case)
    if isinstance(compiled, str):
        raise PatternError(compiled)  # a new one each time: a cached exception would grow its traceback
    return compiled


def pattern_problem(source: str, *, ignore_case: bool = False) -> str | None:
    """Why `source` cannot be used as a pattern, or None when it can."""
    compiled = _compile(source, ignore_case)
    return compiled if isinstance(compiled, str) else None


@lru_cache(maxsize=512)
def _compile(source: str, ignore_case: bool) -> Pattern | str:
    """The compiled pattern, or why RE2 cannot compile it."""
    options = re2.Options()
    options.log_errors = False  # a refusal is the caller's answer, not a line on stderr
    options.never_capture = True  # only whether it matches is asked: no group bookkeeping
    options.case_sensitive = not ignore_case
    try:
        encoded = _respell(source).encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    regexp = _RE2(encoded, options)
    if not regexp.ok():
        return _explain(regexp.error(), source)
    if regexp.ProgramSize() > MAX_PROGRAM_SIZE:
        return (
            f"the pattern compiles to {regexp.ProgramSize():,} instructions, more than {MAX_PROGRAM_SIZE:,}: "
            "split it, or replace large counted repeats such as \\p{L}{50} with a shorter form"
        )
    return Pattern(source, ignore_case, regexp)


# RE2 matches in time proportional to the text times the compiled program: linear, but a
# program of 60,000 instructions (`(\p{L}|b)*a\p{L}{50}$`) still takes half a second over a
# megabyte. Real targeting and schema patterns compile to a few hundred.
MAX_PROGRAM_SIZE = 10_000


_LOOK_AROUNDS = ("(?=", "(?!", "(?<=", "(?<!")


def _explain(error: bytes | str, source: str) -> str:
    detail = error.decode("utf-8", "replace") if isinstance(error, bytes) else error
    operator = detail.rpartition(": ")[2]
    if detail.startswith("invalid perl operator") and operator.startswith(_LOOK_AROUNDS):
        what = f"look-arounds such as {operator}...) are not supported"
    elif detail.startswith("invalid escape sequence") and (operator[1:2].isdigit() or operator == "\\k"):
        what = f"back-references such as {operator} are not supported"
    elif detail.startswith("invalid perl operator") and operator == "(?P" and "(?P=" in source:
        what = "back-references such as (?P=name) are not supported"
    else:
        what = detail
    return f"not a valid regular expression: {what}. {UNSUPPORTED}"


_HEX = frozenset("0123456789abcdefABCDEF")


def _respell(source: str) -> str:
    """JavaScript's `\\uXXXX` (a UTF-16 unit; a surrogate pair is one character) as RE2's
    `\\x{XXXX}`. Every other escape is copied as it is; an escaped backslash is not an escape."""
    if "\\u" not in source:
        return source
    out: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char != "\\" or i + 1 == n:
            out.append(char)
            i += 1
            continue
        unit = _unit(source, i)
        if unit is None:
            out.append(source[i : i + 2])
            i += 2
            continue
        i += 6
        low = _unit(source, i) if 0xD800 <= unit <= 0xDBFF else None
        if low is not None and 0xDC00 <= low <= 0xDFFF:
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            i += 6
        out.append(f"\\x{{{unit:04X}}}")
    return "".join(out)


def _unit(source: str, i: int) -> int | None:
    """The code unit of a `\\uXXXX` escape starting at `i`, else None."""
    digits = source[i + 2 : i + 6]
    if source[i : i + 2] == "\\u" and len(digits) == 4 and set(digits) <= _HEX:
        return int(digits, 16)
    return None
