"""The write routes the battery covers, and a valid body for each.

The routes come from the app itself, at collection time: every POST, PUT, PATCH and DELETE of
the OpenAPI document it serves (GET /openapi.json), plus the write routes of its hot-path table
(`app.hot_path.routes`), which are answered before FastAPI and are in the document only as far
as someone described them by hand. A new route is in the battery without a line here.

A valid body is what lets a planted value get past the shape checks and reach the code behind
them. `VALID` holds one for each route whose semantics the schema cannot state (ids of objects
that must exist, versions that must be new); any other route's body is derived from its schema:
the required fields, from their examples where the schema gives some. Strings in a body may name
`{uid}` (unique per request), `{now}`, `{later}`, `{end}`, or a parent object the test seeds
(`{name}`, `{serverId}`, ...; see `test_battery.PARENTS`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from hotswap.api import create_app
from hotswap.container import build_container
from hotswap.settings import Settings
from tests.conftest import SECRET

WRITE_METHODS = ("post", "put", "patch", "delete")

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # the template, `/api/v1/configs/{name}`
    params: tuple[str, ...]
    schema: Mapping[str, Any] | None  # the JSON request body's schema, resolved; None: takes no body
    body_required: bool
    hot: bool  # answered by the hot path, before FastAPI

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True, slots=True)
class Discovered:
    routes: tuple[Route, ...]
    document: Mapping[str, Any]
    max_body_bytes: int


def discover() -> Discovered:
    """The app's write routes, read from the document it serves and from its hot-path table."""
    settings = Settings(env="test", database_url="sqlite+aiosqlite:///:memory:", jwt_secret=SECRET, public_docs=True)
    container = build_container(settings)
    app = create_app(settings, container=container)

    async def fetch() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotswap.test") as client:
            response = await client.get("/openapi.json")
        await container.aclose()
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    document = asyncio.run(fetch())
    hot_path = getattr(app, "hot_path", None)
    hot = {(r.method, r.path) for r in (hot_path.routes if hot_path else ()) if r.method != "GET"}
    return Discovered(write_routes(document, hot), document, settings.max_body_bytes)


def write_routes(document: Mapping[str, Any], hot: set[tuple[str, str]]) -> tuple[Route, ...]:
    routes: dict[tuple[str, str], Route] = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in WRITE_METHODS:
                continue
            schema, required = _request_body(document, operation)
            key = (method.upper(), path)
            routes[key] = Route(method.upper(), path, _params(path), schema, required, key in hot)
    for method, path in sorted(hot - routes.keys()):  # a hot route nobody described: no schema
        routes[(method, path)] = Route(method, path, _params(path), None, False, True)
    return tuple(routes.values())


def _params(path: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\{([^}]+)\}", path))


def _request_body(document: Mapping[str, Any], operation: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, bool]:
    body = operation.get("requestBody")
    if not body:
        return None, False
    content = body.get("content", {})
    media: Mapping[str, Any] = content.get("application/json") or next(iter(content.values()), {})
    return resolve(document, media.get("schema", {})), bool(body.get("required", False))


def resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema with its `$ref` followed and an optional (`anyOf [X, null]`) reduced to X."""
    for _ in range(50):
        if "$ref" in schema:
            target: Any = document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
            continue
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}, **chosen}
            continue
        return schema
    return schema


def properties(document: Mapping[str, Any], schema: Mapping[str, Any] | None) -> list[str]:
    if schema is None:
        return []
    return list(resolve(document, schema).get("properties", {}))


# -- valid bodies -------------------------------------------------------------------------------

_RULE = {
    "id": "r-{uid}",
    "description": "gold players",
    "condition": {"tier": "gold"},
    "value": {"hp": 7, "tags": ["a"]},
}
_EVENT = {
    "eventId": "ev-{uid}",
    "displayName": "Event {uid}",
    "description": "a battery event",
    "eventType": "Seasonal",
    "eventClass": "mini",
    "startTime": "{later}",
    "endTime": "{end}",
    "configuration": {"rewards": {"bonus": 100}},
    "regions": ["NA-WEST"],
    "theme": {"color": "red"},
    "variants": [{"name": "a", "weight": 1, "configuration": {"bonus": 2}}],
}
_TEMPLATE = {
    "type": "Seasonal",
    "name": "Template {uid}",
    "description": "a battery template",
    "eventClass": "standard",
    "objectives": [{"objectiveId": "o1", "type": "Collect", "targetValue": 10, "trackingKey": "coins.collected"}],
    "milestones": [{"index": 0, "progressThreshold": 0.5, "rewards": [{"rewardId": "w1", "type": "Currency"}]}],
    "theme": {"color": "blue"},
    "uiLayout": {"banner": "top"},
    "configuration": {"rewards": {"bonus": 1}},
    "durationSeconds": 3600,
    "minimumPlayerLevel": 1,
}
_CONTEXTS = [{"playerId": "p1", "tier": "gold", "level": 3}]

VALID: dict[str, Any] = {
    "POST /api/v1/auth/token": {"apiKey": "{apiKey}", "ttlSeconds": 600},
    "POST /api/v1/tokens": {"subject": "bot-{uid}", "role": "viewer", "ttlSeconds": 600},
    "POST /api/v1/credentials": {"name": "ci-{uid}", "role": "viewer"},
    "POST /api/v1/configs": {
        "name": "cfg-{uid}",
        "environment": "Staging",
        "serviceType": "Microservice",
        "schemaVersion": "1.0",
        "jsonSchema": {"type": "object", "properties": {"hp": {"type": "integer"}}, "examples": [{"hp": 1}]},
        "gameId": "arena",
        "configType": "GameBalance",
        "description": "a battery config",
    },
    "PATCH /api/v1/configs/{name}": {
        "description": "patched",
        "serviceType": "Microservice",
        "jsonSchema": {"type": "object", "properties": {"hp": {"type": "integer"}}},
    },
    "PUT /api/v1/configs/{name}/targeting": {"rules": [_RULE]},
    "POST /api/v1/configs/{name}/versions": {
        "configData": {"hp": 3, "items": ["sword"], "drop": {"rate": 0.5}},
        "version": "9.0.0-{uid}",
        "description": "a battery version",
    },
    "POST /api/v1/configs/{name}/releases": {"version": "3.0.0", "comment": "ship it"},
    "POST /api/v1/configs/{name}/revert": {"toVersion": "1.0.0", "comment": "back"},
    "POST /api/v1/game-configs": {
        "name": "gc-{uid}",
        "gameId": "arena",
        "configType": "GameBalance",
        "configuration": {"weapons": {"rifle": {"damage": 45}}},
        "version": "1.0.0",
        "description": "a battery game config",
        "environment": "Staging",
    },
    "POST /api/v1/approvals/{approval_id}/approve": {"comment": "looks right"},
    "POST /api/v1/approvals/{approval_id}/reject": {"comment": "not now"},
    "POST /api/v1/segments": {
        "id": "seg-{uid}",
        "name": "Whales {uid}",
        "description": "big spenders",
        "condition": {"totalSpend": {"$gte": 500}, "country": {"$in": ["DE"]}},
    },
    "PUT /api/v1/segments/{segment_id}": {
        "name": "Whales",
        "description": "big spenders",
        "condition": {"totalSpend": {"$gte": 100}},
    },
    "POST /api/v1/segments/preview": {"condition": {"tier": "gold"}, "contexts": _CONTEXTS},
    "POST /api/v1/segments/{segment_id}/preview": {"contexts": _CONTEXTS},
    "PUT /api/v1/players/{playerId}": {"attributes": {"tier": "gold", "level": 3, "tags": ["a"]}},
    "PATCH /api/v1/players/{playerId}": {"attributes": {"tier": "silver"}, "session": True, "purchase": 4.99},
    "POST /api/v1/regions": {
        "id": "rg-{uid}",
        "displayName": "Region {uid}",
        "timeZone": "Europe/Berlin",
        "rolloutOrder": 50,
        "aliases": ["al-{uid}"],
    },
    "PUT /api/v1/regions/{regionId}": {
        "displayName": "Region",
        "timeZone": "UTC",
        "rolloutOrder": 51,
        "aliases": [],
    },
    "POST /api/v1/servers": {
        "id": "gs-{uid}",
        "game": "arena",
        "region": "NA-WEST",
        "build": "1.0",
        "capacity": 64,
        "labels": {"tier": "a"},
    },
    "POST /api/v1/deployments": {
        "configName": "{name}",
        "strategy": "Canary",
        "unitKind": "players",
        "canaryPercentage": 10,
        "evaluationPeriod": "PT30M",
        "environment": "Staging",
        "analysis": {"alpha": 0.05, "metrics": [{"metric": "crash", "critical": 0.2}]},
        "comment": "a battery deployment",
    },
    "POST /api/v1/deployments/{deployment_id}/pause": {"reason": "looking"},
    "POST /api/v1/deployments/{deployment_id}/resume": {"reason": "looked"},
    "POST /api/v1/deployments/{deployment_id}/promote": {"reason": "good"},
    "POST /api/v1/deployments/{deployment_id}/rollback": {"reason": "bad"},
    "POST /api/v1/deployments/{deployment_id}/cancel": {"reason": "stop"},
    "POST /api/v1/webhooks": {
        "url": "https://hooks.example.com/{uid}",
        "events": ["*"],
        "secret": "a-battery-secret-0123456789",
    },
    "POST /api/v1/metrics": {
        "samples": [
            {
                "serverId": "{serverId}",
                "deploymentId": "{deployment_id}",
                "arm": "canary",
                "playerId": "p-{uid}",
                "metric": "fps",
                "value": 60.0,
            }
        ]
    },
    "POST /api/v1/event-templates": {**_TEMPLATE, "templateId": "tpl-{uid}"},
    "PUT /api/v1/event-templates/{template_id}": _TEMPLATE,
    "POST /api/v1/events": _EVENT,
    "POST /api/v1/events/validate": _EVENT,
    "PUT /api/v1/events/{event_id}": {
        "displayName": "Event",
        "description": "edited",
        "configuration": {"rewards": {"bonus": 7}},
        "theme": {"color": "green"},
    },
    "POST /api/v1/admin/cache/warm": {"window": "PT24H", "limit": 10},
    "POST /api/v1/evaluate": {
        "playerId": "p-{uid}",
        "serverId": "gs-1",
        "region": "NA-WEST",
        "platform": "pc",
        "environment": "Staging",
        "attributes": {"tier": "gold", "level": 3, "tags": ["a"]},
    },
    "PUT /api/v1/servers/{serverId}/heartbeat": {
        "playerCount": 10,
        "health": {"cpu": 0.5},
        "environment": "Staging",
        "appliedRevision": 1,
        "configVersions": {"balance": "1.0.0"},
    },
}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
_STRING_CANDIDATES = ("b-{uid}", "b{uid}", "1.0.0", "Battery", "battery", "x", "1", "PT1H")


def template(document: Mapping[str, Any], route: Route) -> Any:
    """The route's valid body, placeholders unfilled; None when it takes no body."""
    if route.key in VALID:
        return copy.deepcopy(VALID[route.key])
    if route.schema is None:
        return None
    return derive(document, route.schema)


def derive(document: Mapping[str, Any], schema: Mapping[str, Any], depth: int = 0) -> Any:
    """A value the schema accepts: its example if it has one, else the least one of its type."""
    schema = resolve(document, schema)
    for key in ("examples", "example", "const"):
        if key in schema:
            value = schema[key]
            return copy.deepcopy(value[0] if key == "examples" and isinstance(value, list) and value else value)
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), schema["enum"][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        if depth > 8:
            return {}
        return {name: derive(document, props[name], depth + 1) for name in schema.get("required", []) if name in props}
    if kind == "array":
        count = max(1, schema.get("minItems", 0))
        return [derive(document, schema.get("items", {}), depth + 1) for _ in range(count)] if depth <= 8 else []
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, int(low) + (1 if "exclusiveMinimum" in schema else 0))
        return min(value, schema["maximum"]) if "maximum" in schema else value
    if kind == "boolean":
        return False
    if kind == "string":
        return _string(schema)
    return None


def _string(schema: Mapping[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date-time":
        return "{later}"
    if fmt == "duration":
        return "PT1H"
    if fmt in ("uri", "url"):
        return "https://example.com/{uid}"
    pattern = schema.get("pattern")
    low, high = schema.get("minLength", 1), schema.get("maxLength", 200)
    for candidate in _STRING_CANDIDATES:
        sample = candidate.replace("{uid}", "u1")
        if low <= len(sample) <= high and (pattern is None or re.search(pattern, sample)):
            return candidate
    return "x" * max(1, int(low))


def fill(value: Any, values: Mapping[str, str]) -> Any:
    """The body with each `{placeholder}` replaced (a string that is only a placeholder may turn
    into a non-string, none does today)."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if isinstance(value, dict):
        return {fill(k, values): fill(v, values) for k, v in value.items()}
    return value


def placeholders(value: Any) -> set[str]:
    return set(_PLACEHOLDER.findall(json.dumps(value)))


# -- where hostile values go -----------------------------------------------------------------

NESTED_PER_FIELD = 4


def value_places(document: Mapping[str, Any], route: Route, body: Any) -> list[Path]:
    """Each top-level field (of the schema and of the valid body), and up to NESTED_PER_FIELD
    leaves under each container field of the valid body."""
    if not isinstance(body, dict):
        return []
    tops: list[str] = list(dict.fromkeys([*body, *properties(document, route.schema)]))
    places: list[Path] = [(name,) for name in tops]
    for name in tops:
        if isinstance(body.get(name), dict | list):
            places.extend(list(_leaves(body[name], (name,)))[:NESTED_PER_FIELD])
    return places


def key_places(body: Any) -> list[Path]:
    """The top-level object and the first object under each container field."""
    if not isinstance(body, dict):
        return []
    places: list[Path] = [()]
    for name, value in body.items():
        first = next(_objects(value, (name,)), None)
        if first is not None:
            places.append(first)
    return places


def _leaves(value: Any, path: Path) -> Iterator[Path]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    elif len(path) > 1:  # a top-level field is a place of its own
        yield path


def _objects(value: Any, path: Path) -> Iterator[Path]:
    if isinstance(value, dict):
        yield path
        for k, v in value.items():
            yield from _objects(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _objects(v, (*path, i))


def label(path: Path) -> str:
    text = "body"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


_VALUE_MARK = "@@battery-value@@"
_KEY_MARK = "@@battery-key@@"


def with_value(body: Any, path: Path, raw: bytes) -> bytes:
    """The body's JSON text with the raw `raw` at `path` (a missing last key is added)."""
    planted = copy.deepcopy(body) if isinstance(body, dict) else {}
    _set(planted, path, _VALUE_MARK)
    return _encode(planted).replace(json.dumps(_VALUE_MARK).encode(), raw, 1)


def with_key(body: Any, path: Path, raw_key: bytes) -> bytes:
    """The body's JSON text with one more member, named by the raw JSON string `raw_key`, in the
    object at `path`."""
    planted = copy.deepcopy(body) if isinstance(body, dict) else {}
    target: Any = planted
    for part in path:
        target = target[part]
    target[_KEY_MARK] = 1
    return _encode(planted).replace(json.dumps(_KEY_MARK).encode(), raw_key, 1)


def _set(body: Any, path: Path, value: Any) -> None:
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _encode(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
