"""The OpenAPI description of the hot routes (they are not FastAPI routes, so it is written here)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hotswap.core.environments import Environment
from hotswap.delivery.api import MAX_ATTRIBUTES, MAX_ID

_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_ENV_PARAM = {
    "name": "environment",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": [e.value for e in Environment], "default": "Production"},
}
_AT_PARAM = {
    "name": "at",
    "in": "query",
    "required": False,
    "description": "Evaluate as of this instant (ISO 8601 with a time zone); default now.",
    "schema": {"type": "string", "format": "date-time"},
}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {"description": "problem", "content": {"application/problem+json": {"schema": _PROBLEM}}}
        for code in codes
    }


CONTEXT_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "playerId": {"type": "string", "minLength": 1, "maxLength": MAX_ID},
        "serverId": {"type": "string", "minLength": 1, "maxLength": MAX_ID},
        "region": {"type": "string", "minLength": 1, "maxLength": MAX_ID},
        "platform": {"type": "string", "minLength": 1, "maxLength": MAX_ID},
        "environment": {"type": "string", "enum": [e.value for e in Environment]},
        "attributes": {"type": "object", "maxProperties": MAX_ATTRIBUTES},
    },
    "anyOf": [{"required": ["playerId"]}, {"required": ["serverId"]}],
}

EVALUATION_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["environment", "revision", "configs", "events"],
    "properties": {
        "environment": {"type": "string"},
        "revision": {"type": "integer"},
        "configs": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["value", "version", "reason"],
                "properties": {
                    "value": {"type": "object"},
                    "version": {"type": "string"},
                    "reason": {"type": "string", "enum": ["default", "rule", "segment", "rollout"]},
                    "ruleId": {"type": "string"},
                    "segment": {"type": "string"},
                    "rollout": {"type": "object"},
                },
            },
        },
        "events": {"type": "array", "items": {"$ref": "#/components/schemas/ServedEvent"}},
    },
}

# One live event as a player is served it (the targeting engine's events module).
SERVED_EVENT_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["id", "version", "displayName", "type", "class", "configuration", "startsAt", "endsAt"],
    "properties": {
        "id": {"type": "string"},
        "version": {"type": "integer"},
        "displayName": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "type": {"type": "string"},
        "class": {"type": "string", "enum": ["major", "standard", "mini", "daily"]},
        "configuration": {"type": "object", "description": "With the player's variant merged over it."},
        "objectives": {"type": "array"},
        "milestones": {"type": "array"},
        "theme": {"type": ["object", "null"]},
        "variant": {"type": ["string", "null"], "description": "The A/B variant the player is assigned."},
        "startsAt": {"type": "string", "format": "date-time"},
        "endsAt": {"type": "string", "format": "date-time"},
    },
}

# How a player query names the player and adds to the stored profile (configs and events alike).
_PLAYER_PARAMS: list[dict[str, Any]] = [
    {"name": "playerId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": MAX_ID}},
    _ENV_PARAM,
    _AT_PARAM,
    {"name": "region", "in": "query", "required": False, "schema": {"type": "string", "maxLength": MAX_ID}},
    {
        "name": "platform",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_ID},
    },
    {
        "name": "serverId",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "maxLength": MAX_ID},
    },
]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/snapshot": {
        "get": {
            "tags": ["delivery"],
            "summary": "The environment's compiled snapshot",
            "description": "Server role. `If-None-Match` with the last ETag gives 304 when nothing changed.",
            "operationId": "get_snapshot",
            "parameters": [
                _ENV_PARAM,
                {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The snapshot document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "304": {"description": "Unchanged since the ETag given"},
                **_errors(401, 403, 422),
            },
        }
    },
    "/api/v1/stream": {
        "get": {
            "tags": ["delivery"],
            "summary": "Every new revision of the snapshot, as it happens (Server-Sent Events)",
            "description": (
                "Server role. First the snapshot (`event: snapshot`, `id:` its revision), or a delta from the "
                "`Last-Event-ID` revision (`event: delta`, data `{base, revision, set, remove, replace, drop}`, "
                "see `hotswap.targeting.delta`), or nothing when that is the current revision; then each new "
                "revision, as a delta when smaller than the snapshot; `event: heartbeat` (data `{revision}`) every "
                "15 s when nothing else was sent. A client that falls too far behind is disconnected and gets the "
                "full snapshot when it reconnects. Revisions only go up."
            ),
            "operationId": "stream_snapshots",
            "parameters": [
                _ENV_PARAM,
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "description": "The revision the client holds (the id of the last event it received).",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {
                    "description": "An endless stream of events",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **_errors(401, 403, 422, 503),
            },
        }
    },
    "/api/v1/players/{playerId}/configs": {
        "get": {
            "tags": ["delivery"],
            "summary": "Every config's value for a stored player",
            "description": (
                "The stored profile (attributes and maintained properties, cached) with `attr.<name>=value` query "
                "parameters on top; numbers and booleans in the query are read as such. An unknown player is "
                "served on the query alone (header `x-player-known: false`)."
            ),
            "operationId": "player_configs",
            "parameters": _PLAYER_PARAMS,
            "responses": {
                "200": {
                    "description": "The evaluation",
                    "content": {"application/json": {"schema": EVALUATION_SCHEMA}},
                },
                **_errors(401, 403, 422, 503),
            },
        }
    },
    "/api/v1/players/{playerId}/events": {
        "get": {
            "tags": ["delivery", "events"],
            "summary": "The live events a player is in now",
            "description": (
                "Read like the player's configs (stored profile, `attr.<name>=value` on top): each Active event "
                "whose window is open in the player's region, whose segment and rollout exposure admit the "
                "player, with the player's variant."
            ),
            "operationId": "player_events",
            "parameters": _PLAYER_PARAMS,
            "responses": {
                "200": {
                    "description": "The player's events",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["environment", "events", "playerId", "revision"],
                                "properties": {
                                    "environment": {"type": "string"},
                                    "events": {"type": "array", "items": {"$ref": "#/components/schemas/ServedEvent"}},
                                    "playerId": {"type": "string"},
                                    "revision": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
                **_errors(401, 403, 422, 503),
            },
        }
    },
    "/api/v1/evaluate": {
        "post": {
            "tags": ["delivery"],
            "summary": "Every config's value for a context, with the reason",
            "description": "Reads no database: only the in-memory snapshot.",
            "operationId": "evaluate",
            "parameters": [_ENV_PARAM, _AT_PARAM],
            "requestBody": {"required": True, "content": {"application/json": {"schema": CONTEXT_SCHEMA}}},
            "responses": {
                "200": {
                    "description": "The evaluation",
                    "content": {"application/json": {"schema": EVALUATION_SCHEMA}},
                },
                **_errors(401, 403, 413, 422),
            },
        }
    },
}
