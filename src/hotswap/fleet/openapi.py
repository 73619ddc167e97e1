"""The OpenAPI description of the heartbeat (a hot route, not a FastAPI route)."""

from __future__ import annotations

from typing import Any

from hotswap.core.environments import Environment
from hotswap.fleet import model as m
from hotswap.fleet.hot import HEARTBEAT_PATH

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(code): {"description": "problem", "content": {"application/problem+json": {"schema": _PROBLEM}}}
        for code in codes
    }


HEARTBEAT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Every field is optional; one not sent keeps its stored value. `{}` is a bare liveness ping.",
    "properties": {
        "playerCount": {"type": "integer", "minimum": 0, "maximum": m.MAX_PLAYERS},
        "health": {
            "type": "object",
            "description": "Name -> number, e.g. cpu, memory, tickRate, errorRate.",
            "maxProperties": m.MAX_HEALTH,
            "propertyNames": {"pattern": m.HEALTH_KEY.pattern},
            "additionalProperties": {"type": "number"},
        },
        "environment": {
            "type": ["string", "null"],
            "enum": [*(e.value for e in Environment), None],
            "description": "The environment whose snapshot the server applies; null: none.",
        },
        "appliedRevision": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": m.MAX_REVISION,
            "description": "The snapshot revision the server has applied; null: none yet.",
        },
        "configVersions": {
            "type": "object",
            "description": "Config name -> the version the server runs.",
            "maxProperties": m.MAX_CONFIG_VERSIONS,
            "propertyNames": {"pattern": m.CONFIG_NAME.pattern},
            "additionalProperties": {"type": "string", "pattern": m.CONFIG_VERSION.pattern},
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    HEARTBEAT_PATH: {
        "put": {
            "tags": ["fleet"],
            "summary": "A registered game server's heartbeat",
            "description": (
                "Every few seconds; a server is healthy while its last heartbeat is within the heartbeat timeout "
                "(30 s by default). An unknown server gets 404: register it with `POST /api/v1/servers`."
            ),
            "operationId": "server_heartbeat",
            "parameters": [
                {
                    "name": "serverId",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 200, "pattern": m.SERVER_ID.pattern},
                }
            ],
            "requestBody": {"required": False, "content": {"application/json": {"schema": HEARTBEAT_SCHEMA}}},
            "responses": {
                "200": {
                    "description": "Recorded",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "lastHeartbeatAt", "heartbeatTimeoutSeconds"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "lastHeartbeatAt": {"type": "string", "format": "date-time"},
                                    "heartbeatTimeoutSeconds": {"type": "number"},
                                },
                            }
                        }
                    },
                },
                **_errors(401, 403, 404, 413, 422, 503),
            },
        }
    }
}
