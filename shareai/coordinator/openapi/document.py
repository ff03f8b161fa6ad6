"""The whole OpenAPI 3.1 description of the coordinator's HTTP API, assembled from its parts.

    doc = build_document()        # a dict, JSON-ready: served at GET /openapi.json

It holds no secrets and nothing of a deployment (no orgs, keys, nodes or provider names): the same
for every coordinator of a version.
"""

from __future__ import annotations

from typing import Any

from shareai import __version__
from shareai.coordinator.openapi.paths import ERROR_RESPONSES, GATEWAY_HEADERS, paths
from shareai.coordinator.openapi.schemas import SCHEMAS, ref

OPENAPI_VERSION = "3.1.0"

_DESCRIPTION = """\
One OpenAI-compatible API (`/v1`) over an organisation's own machines (node agents) and third-party
providers, and the admin API (`/admin/v1`) that manages orgs, API keys, limits, enrollment tokens,
nodes, usage reports, the audit log and the fault switch.

Every error, on every route, is OpenAI's error object:
`{"error": {"message", "type", "param", "code"}}`.
"""


def _header(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


HEADERS: dict[str, dict[str, Any]] = {
    "XShareaiRoute": _header("The target that served the request: a provider's name or `node:<id>`.",
                             {"type": "string"}),
    "XShareaiAttempts": _header("How many targets were tried.", {"type": "string", "pattern": "^[0-9]+$"}),
    "XShareaiCostUsd": _header("The cost of a non-streaming answer in USD (streams: in the usage record).",
                               {"type": "string"}),
    "XShareaiCache": _header("`hit` or `miss`, where the org caches.", {"type": "string", "enum": ["hit", "miss"]}),
    "XRatelimitLimitRequests": _header("Requests per minute allowed (orgs and keys with limits).",
                                       {"type": "string"}),
    "XRatelimitRemainingRequests": _header("Requests left in the window.", {"type": "string"}),
    "XRatelimitResetRequests": _header("Until the request window is back to full (`1.5s`, `6m0s`).",
                                       {"type": "string"}),
    "XRatelimitLimitTokens": _header("Tokens per minute allowed.", {"type": "string"}),
    "XRatelimitRemainingTokens": _header("Tokens left in the window.", {"type": "string"}),
    "XRatelimitResetTokens": _header("Until the token window is back to full.", {"type": "string"}),
    "RetryAfter": _header("Seconds to wait before retrying (429, 503).", {"type": "string", "pattern": "^[0-9]+$"}),
}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "orgKey": {"type": "http", "scheme": "bearer",
               "description": "An org's API key (`sk-...`, `POST /admin/v1/keys`). The admin key and `[auth] api_keys` "
                              "are accepted too, as bootstrap keys that see every org's nodes."},
    "azureApiKey": {"type": "apiKey", "in": "header", "name": "api-key",
                    "description": "The same keys, sent as Azure OpenAI clients send them."},
    "adminKey": {"type": "http", "scheme": "bearer",
                 "description": "The deployment's admin key (`sa-admin-...`, `SHAREAI_ADMIN_KEY`)."},
    "metricsToken": {"type": "http", "scheme": "bearer", "description": "`[server] metrics_token`."},
}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**GATEWAY_HEADERS, "retry-after": {"$ref": "#/components/headers/RetryAfter"}},
        "content": {"application/json": {"schema": ref("Error")}},
    }


def build_document() -> dict[str, Any]:
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "shareai coordinator",
            "version": __version__,
            "description": _DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "OpenAI-compatible", "description": "The gateway: org API keys."},
            {"name": "Admin", "description": "The admin API: the admin key."},
            {"name": "Operations", "description": "Health, metrics and this description."},
            {"name": "Install", "description": "Point-and-enroll: install scripts and the agent wheel."},
        ],
        "paths": paths(),
        "components": {
            "schemas": SCHEMAS,
            "responses": {name: _error_response(text) for name, text in ERROR_RESPONSES.values()},
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
