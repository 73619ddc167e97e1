"""JSON Schema validation whose regular expressions run on RE2. Pure: no I/O, no framework.

The `jsonschema` library matches `pattern` and `patternProperties` with Python's `re`, which
backtracks: a stored schema with `"pattern": "^(a|a)*$"` would let one config value stall the
process. `validator_class` returns the library's validator for a schema's draft with every
keyword that matches a regular expression replaced by one that matches on RE2
(`targeting.regex`, linear time): `pattern`, `patternProperties`, and the two that test
property names against `patternProperties` keys, `additionalProperties` and
`unevaluatedProperties`.

Schemas are checked when stored (`payloads.check_json_schema` refuses a pattern RE2 cannot
compile); one stored before that check fails closed here: a `pattern` or `patternProperties`
that RE2 cannot run rejects every value it applies to, saying why.

The property-key walk of `unevaluatedProperties` follows jsonschema 4.26's own
(`_utils.find_evaluated_property_keys_by_schema` and its draft 2019-09 variant; MIT licence,
Copyright (c) 2013 Julian Berman), with RE2 for its `patternProperties` test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from jsonschema import (
    Draft3Validator,
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
    ValidationError,
)
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing.jsonschema import lookup_recursive_ref

from hotswap.targeting.regex import PatternError, compile_pattern

Keyword = Callable[[Any, Any, Any, Any], Iterator[ValidationError]]


def _search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text`; a pattern RE2 cannot compile matches nothing
    (the `pattern`/`patternProperties` keyword of the same schema reports it)."""
    try:
        return compile_pattern(pattern).search(text)
    except PatternError:
        return False


def pattern(validator: Any, patrn: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "string"):
        return
    try:
        search = compile_pattern(patrn).search
    except PatternError as exc:
        yield ValidationError(f"{instance!r} cannot be checked against the pattern {patrn!r}: {exc}")
        return
    if not search(instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def pattern_properties(validator: Any, properties: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in properties.items():
        try:
            search = compile_pattern(patrn).search
        except PatternError as exc:
            yield ValidationError(f"the object cannot be checked against the property pattern {patrn!r}: {exc}")
            continue
        for key, value in instance.items():
            if search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=patrn)


def additional_properties(validator: Any, ap: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # As jsonschema's `additionalProperties`, with RE2 for the `patternProperties` keys.
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = sorted(schema.get("patternProperties", {}))
    extras = {key for key in instance if key not in properties and not any(_search(patrn, key) for patrn in patterns)}
    if validator.is_type(ap, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], ap, path=extra)
    elif not ap and extras:
        if "patternProperties" in schema:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            listed = ", ".join(repr(each) for each in patterns)
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {listed}")
        else:
            unexpected = _listed(sorted(extras, key=str))
            yield ValidationError(f"Additional properties are not allowed ({unexpected} unexpected)")


def _listed(extras: list[Any]) -> str:
    return f"{', '.join(repr(extra) for extra in extras)} {'was' if len(extras) == 1 else 'were'}"


def _unevaluated_properties(legacy: bool) -> Keyword:
    def unevaluated_properties(validator: Any, up: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if not validator.is_type(instance, "object"):
            return
        evaluated = _evaluated_keys(validator, instance, schema, legacy=legacy)
        unevaluated = [
            key
            for key in instance
            if key not in evaluated
            for _ in validator.descend(instance[key], up, path=key, schema_path=key)
        ]
        if not unevaluated:
            return
        if up is False:
            yield ValidationError(
                f"Unevaluated properties are not allowed ({_listed(sorted(unevaluated, key=str))} unexpected)"
            )
        else:
            yield ValidationError(
                "Unevaluated properties are not valid under the given schema "
                f"({_listed(unevaluated)} unevaluated and invalid)"
            )

    return unevaluated_properties


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any, *, legacy: bool) -> set[str]:
    """The keys of `instance` that `schema` evaluates (draft 2020-12; `legacy`: draft 2019-09)."""
    if validator.is_type(schema, "boolean"):
        return set()
    keys: set[str] = set()

    def follow(resolved: Any) -> None:
        inner = validator.evolve(schema=resolved.contents, _resolver=resolved.resolver)
        keys.update(_evaluated_keys(inner, instance, resolved.contents, legacy=legacy))

    def below(subschema: Any) -> None:
        keys.update(_evaluated_keys(validator, instance, subschema, legacy=legacy))

    if (ref := schema.get("$ref")) is not None:
        follow(validator._resolver.lookup(ref))
    if legacy:
        if "$recursiveRef" in schema:
            follow(lookup_recursive_ref(validator._resolver))
        for keyword in ("properties", "additionalProperties", "unevaluatedProperties"):
            value = schema.get(keyword)
            if validator.is_type(value, "boolean") and value:
                keys.update(instance)
            elif validator.is_type(value, "object"):
                keys.update(key for key in value if key in instance)
    else:
        if (dynamic := schema.get("$dynamicRef")) is not None:
            follow(validator._resolver.lookup(dynamic))
        properties = schema.get("properties")
        if validator.is_type(properties, "object"):
            keys.update(properties.keys() & instance.keys())
        for keyword in ("additionalProperties", "unevaluatedProperties"):
            if (subschema := schema.get(keyword)) is not None:
                keys.update(
                    key for key, value in instance.items() if next(validator.descend(value, subschema), None) is None
                )
    for patrn in schema.get("patternProperties", {}):
        keys.update(key for key in instance if _search(patrn, key))
    for key, subschema in schema.get("dependentSchemas", {}).items():
        if key in instance:
            below(subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if next(validator.descend(instance, subschema), None) is None:
                below(subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            below(schema["if"])
            if "then" in schema:
                below(schema["then"])
        elif "else" in schema:
            below(schema["else"])
    return keys


def _on_re2(cls: type[Validator]) -> type[Validator]:
    keywords: dict[str, Keyword] = {
        "pattern": pattern,
        "patternProperties": pattern_properties,
        "additionalProperties": additional_properties,
        "unevaluatedProperties": _unevaluated_properties(legacy=cls is Draft201909Validator),
    }
    replaced = {name: keyword for name, keyword in keywords.items() if name in cls.VALIDATORS}
    extended: type[Validator] = extend(cls, replaced)  # type: ignore[no-untyped-call]  # untyped in its stubs
    return extended


_DRAFTS = (
    Draft3Validator,
    Draft4Validator,
    Draft6Validator,
    Draft7Validator,
    Draft201909Validator,
    Draft202012Validator,
)
RE2_VALIDATORS: dict[type[Validator], type[Validator]] = {cls: _on_re2(cls) for cls in _DRAFTS}


def validator_class(schema: Any) -> type[Validator]:
    """The validator for `schema`'s draft (2020-12 when it names none), matching on RE2."""
    cls = validator_for(schema, default=Draft202012Validator)
    return RE2_VALIDATORS.get(cls, RE2_VALIDATORS[Draft202012Validator])
