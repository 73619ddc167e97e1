"""Input rules for config payloads and their JSON Schemas. Pure: no I/O, no framework.

Everything here turns bad input into an `InvalidInput` naming the failing field, before any
recursive code or the store sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import semver
from jsonschema import Draft202012Validator, SchemaError
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from hotswap.configs.schema_regex import validator_class
from hotswap.core.errors import FieldError, InvalidInput
from hotswap.core.jsonutil import JSONObject, UnfitJSON, check_fit_fast, strict_loads
from hotswap.targeting.regex import pattern_problem

# Nesting limits: deeper documents are refused (422) before anything recursive touches them.
MAX_DATA_DEPTH = 32
MAX_SCHEMA_DEPTH = 64


def parse_semver(value: str, field: str) -> semver.Version:
    try:
        return semver.Version.parse(value)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"{value!r} is not a semantic version (MAJOR.MINOR.PATCH).",
            errors=[FieldError(field, "must be a semantic version such as 1.2.0")],
        ) from exc


def parse_config_data(value: str | JSONObject, field: str) -> JSONObject:
    """Config data arrives as a JSON object or as a string holding one (as many
    game teams' tools send it)."""
    if isinstance(value, str):
        try:
            value = strict_loads(value.encode("utf-8", "surrogatepass"))
        except UnfitJSON as exc:
            raise _unfit(exc, field, inside_string=True) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object.", errors=[FieldError(field, "must be a JSON object")])
    _check_json_value(value, MAX_DATA_DEPTH, field)
    return value


def _unfit(exc: UnfitJSON, field: str, *, inside_string: bool = False) -> InvalidInput:
    if exc.line is not None or inside_string:
        where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
        reason = exc.reason + where
        detail = f"{field} is {reason}." if reason.startswith("not valid JSON") else f"{field}: {reason}."
        return InvalidInput(detail, errors=[FieldError(field, reason)])
    deep = exc.reason.startswith("nested")  # the whole value is too deep: named whole
    at = field if deep else field + "".join(f".{part}" for part in exc.pointer.split("/")[1:])
    return InvalidInput(f"{at}: {exc.reason}.", errors=[FieldError(at, exc.reason)])


def _check_json_value(value: Any, limit: int, field: str) -> None:
    """What every stored JSON value must be (`jsonutil.check_fit`: bounded nesting, no NUL or
    lone surrogate, finite numbers, 64-bit integers), one walk, named by the value at fault.
    The edge refuses most of it already; data also arrives by other paths (a string holding
    JSON, an import)."""
    try:
        check_fit_fast(value, max_depth=limit)
    except UnfitJSON as exc:
        raise _unfit(exc, field) from None


def _references(schema: Any) -> Iterable[str]:
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key in ("$ref", "$dynamicRef") and isinstance(child, str):
                    yield child
                else:
                    stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


# Keywords whose values are data, not schemas: a "pattern" key inside them is not a regex.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
# Keywords whose values map names to schemas: their keys are names, not keywords.
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)


def _patterns(schema: Any, field: str) -> Iterable[tuple[str, str]]:
    """Every regular expression in a schema with its field: `pattern` values (`field.properties.
    name.pattern`) and `patternProperties` keys (`field.patternProperties.<the pattern>`)."""
    stack: list[tuple[Any, str]] = [(schema, field)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, list):
            stack.extend((child, f"{at}.{i}") for i, child in enumerate(item))
        if not isinstance(item, dict):
            continue
        for key, child in item.items():
            here = f"{at}.{key}"
            if key in _DATA_KEYWORDS:
                continue
            if key == "pattern" and isinstance(child, str):
                yield here, child
            elif key in _SCHEMA_MAPS and isinstance(child, dict):
                if key == "patternProperties":
                    yield from ((f"{here}.{name}", name) for name in child if isinstance(name, str))
                stack.extend((sub, f"{here}.{name}") for name, sub in child.items())
            else:
                stack.append((child, here))


def _schema_invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"The JSON Schema is not usable: {message}", errors=[FieldError(field, message)])


def check_json_schema(schema: JSONObject, field: str) -> None:
    """A schema is stored only if every version can later be validated against it: well formed,
    bounded in depth, every regular expression one RE2 runs (see `schema_regex`), references
    local and resolvable, and evaluable without runaway recursion."""
    _check_json_value(schema, MAX_SCHEMA_DEPTH, field)
    refused = sorted(
        (FieldError(at, problem) for at, pattern in _patterns(schema, field) if (problem := pattern_problem(pattern))),
        key=lambda error: error.field,
    )
    if refused:
        raise InvalidInput(f"The JSON Schema is not usable: {refused[0].field}: {refused[0].message}", errors=refused)
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path)
        raise InvalidInput(
            f"The JSON Schema is not valid: {exc.message}",
            errors=[FieldError(field + (f".{path.replace('/', '.')}" if path else ""), exc.message)],
        ) from exc
    except Exception as exc:  # e.g. a non-string $schema: jsonschema fails before it can explain
        raise _schema_invalid(field, f"cannot be read as a JSON Schema ({type(exc).__name__})") from exc
    resolver = Registry().with_resource("", DRAFT202012.create_resource(schema)).resolver()
    for ref in _references(schema):
        if not ref.startswith("#"):
            raise _schema_invalid(field, f"only references inside the schema are allowed, not {ref!r}")
        try:
            resolver.lookup(ref)
        except Unresolvable as exc:
            raise _schema_invalid(field, f"the reference {ref!r} points nowhere") from exc
    for sample in ({}, {"_": None}):  # evaluate once: catches a schema that only refers to itself
        try:
            schema_errors(schema, sample, field)
        except InvalidInput as exc:
            raise _schema_invalid(field, exc.errors[0].message) from exc


def schema_errors(schema: JSONObject, data: JSONObject, field: str) -> list[FieldError]:
    """Every place where `data` fails `schema`, as field paths and JSON Pointers under `field`."""
    validator_cls = validator_class(schema)  # its regular expressions run on RE2
    validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
    try:
        found = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    except (RecursionError, Unresolvable) as exc:
        raise _schema_invalid("jsonSchema", f"the schema cannot be evaluated ({type(exc).__name__})") from exc
    out = []
    for error in found:
        parts = [str(p) for p in error.absolute_path]
        pointer = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""
        out.append(FieldError(".".join([field, *parts]), error.message, pointer=pointer))
    return out


def validate_against_schema(schema: JSONObject | None, data: JSONObject, field: str) -> None:
    if schema is None:
        return
    errors = schema_errors(schema, data, field)
    if errors:
        raise InvalidInput(
            f"The config data does not match the schema ({len(errors)} problem{'s' if len(errors) > 1 else ''}).",
            errors=errors,
        )
