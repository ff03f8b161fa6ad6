"""The operations of the coordinator's HTTP API (OpenAPI 3.1 `paths`), one entry per registered route.

    paths()            # {"/v1/chat/completions": {"post": {...}}, "/admin/v1/orgs": {...}, ...}

Every route the coordinator's aiohttp app serves is here with its method (a test walks the app's
router and compares both ways), with the error responses its handler can give: each one the
OpenAI error object (`#/components/schemas/Error`).
"""

from __future__ import annotations

from typing import Any

from shareai.coordinator.config import POLICIES
from shareai.coordinator.governance.reports import GROUPS
from shareai.coordinator.install_routes import SCRIPTS, SHA256_ROUTE, WHEEL_ROUTE
from shareai.coordinator.openapi.schemas import ref

Operation = dict[str, Any]

ORG_KEY: list[dict[str, list[str]]] = [{"orgKey": []}, {"azureApiKey": []}]
ADMIN_KEY: list[dict[str, list[str]]] = [{"adminKey": []}]
OPEN: list[dict[str, list[str]]] = []

# Error responses by status, each in `components.responses` under this name.
ERROR_RESPONSES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Invalid request: a body, parameter or header the route does not accept (`param` names it)."),
    401: ("Unauthorized", "Missing, unknown, revoked or expired key."),
    403: ("Forbidden", "The key may not use this model."),
    404: ("NotFound", "Unknown model, org, key, node or route."),
    413: ("PayloadTooLarge", "The request body is over the size limit."),
    422: ("UnprocessableEntity", "A target refused the request as unprocessable (passed through)."),
    429: ("RateLimited", "A rate limit (`rate_limit_exceeded`) or quota (`insufficient_quota`) of the org or key, "
                         "or every target was rate limited."),
    502: ("UpstreamFailed", "Every target that was tried failed."),
    503: ("Unavailable", "No target can serve the request now (`no_target_available`), or usage cannot be "
                        "written (`accounting_backlog`; retry after `retry-after`)."),
    504: ("UpstreamTimeout", "The target did not answer in time."),
}

GATEWAY_ERRORS = (400, 401, 403, 404, 413, 422, 429, 502, 503, 504)


def json_body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def ok(schema: dict[str, Any], description: str = "OK", headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


def errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/{ERROR_RESPONSES[c][0]}"} for c in codes}


def query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": description}


def _header(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/headers/{name}"}


# What every gateway answer may carry: which route served it, how many attempts, the cost, the cache.
GATEWAY_HEADERS = {
    "x-shareai-route": _header("XShareaiRoute"),
    "x-shareai-attempts": _header("XShareaiAttempts"),
    "x-shareai-cost-usd": _header("XShareaiCostUsd"),
    "x-shareai-cache": _header("XShareaiCache"),
    "x-ratelimit-limit-requests": _header("XRatelimitLimitRequests"),
    "x-ratelimit-remaining-requests": _header("XRatelimitRemainingRequests"),
    "x-ratelimit-limit-tokens": _header("XRatelimitLimitTokens"),
    "x-ratelimit-remaining-tokens": _header("XRatelimitRemainingTokens"),
    "x-ratelimit-reset-requests": _header("XRatelimitResetRequests"),
    "x-ratelimit-reset-tokens": _header("XRatelimitResetTokens"),
}

ROUTING_PARAMETERS = [
    {"name": "x-shareai-policy", "in": "header", "required": False,
     "schema": {"type": "string", "enum": [*POLICIES, ""]},
     "description": "The routing policy for this request (a private org is always `nodes-only`); empty: the "
                    "org's or key's policy, as when absent."},
    {"name": "x-shareai-route", "in": "header", "required": False, "schema": {"type": "string"},
     "description": "A pin: `provider-a`, `node`, `node:<id>`, or an ordered, comma-separated list to fail over "
                    "along (empty: no pin). Nothing matching it: 503 `no_target_available`."},
]


def _generation(op_id: str, summary: str, request: str, answer: str, *, stream: str | None) -> Operation:
    """`stream`: the schema of one server-sent event when the endpoint streams."""
    content: dict[str, Any] = {"application/json": {"schema": ref(answer)}}
    if stream:
        content["text/event-stream"] = {"schema": ref(stream)}
    return {
        "operationId": op_id,
        "summary": summary,
        "tags": ["OpenAI-compatible"],
        "security": ORG_KEY,
        "parameters": ROUTING_PARAMETERS,
        "requestBody": json_body(ref(request)),
        "responses": {
            "200": {"description": "The answer; a stream (`text/event-stream`) when the request set `stream: true`."
                    if stream else "The answer.", "headers": GATEWAY_HEADERS, "content": content},
            **errors(*GATEWAY_ERRORS),
        },
    }


def _v1() -> dict[str, Any]:
    model_headers = {k: v for k, v in GATEWAY_HEADERS.items() if k.startswith("x-ratelimit")}
    return {
        "/v1/chat/completions": {"post": _generation("createChatCompletion", "Chat completion, over nodes and "
                                                     "providers", "ChatCompletionRequest", "ChatCompletion",
                                                     stream="ChatCompletionEvent")},
        "/v1/completions": {"post": _generation("createCompletion", "Text completion", "CompletionRequest",
                                                "Completion", stream="CompletionEvent")},
        "/v1/embeddings": {"post": _generation("createEmbeddings", "Embeddings", "EmbeddingsRequest", "Embeddings",
                                               stream=None)},
        "/v1/models": {"get": {
            "operationId": "listModels", "summary": "The models this key may use", "tags": ["OpenAI-compatible"],
            "security": ORG_KEY,
            "responses": {"200": ok(ref("ModelList"), headers=model_headers), **errors(401, 503)},
        }},
        "/v1/models/{model}": {"get": {
            "operationId": "retrieveModel", "summary": "One model", "tags": ["OpenAI-compatible"],
            "security": ORG_KEY,
            "parameters": [path_param("model", "A public model name.")],
            "responses": {"200": ok(ref("Model"), headers=model_headers), **errors(401, 404, 503)},
        }},
    }


def _admin(op_id: str, summary: str, answer: dict[str, Any], *codes: int, status: int = 200,
           body: dict[str, Any] | None = None, parameters: list[dict[str, Any]] | None = None,
           description: str | None = None) -> Operation:
    op: Operation = {"operationId": op_id, "summary": summary, "tags": ["Admin"], "security": ADMIN_KEY}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
        codes = (*codes, 400, 413)
    op["responses"] = {str(status): ok(answer, "Created" if status == 201 else "OK"),
                       **errors(401, *sorted(set(codes)))}
    return op


def _admin_paths() -> dict[str, Any]:
    org_q = query("org", {"type": "string"}, "Only this org's entries.")
    org_name = path_param("name", "The org's name.")
    key_id = path_param("id", "The key's id.")
    node_id = path_param("node_id", "The node's id.")
    return {
        "/admin/v1/orgs": {
            "get": _admin("listOrgs", "Every org, with its limits", ref("OrgList")),
            "post": _admin("createOrg", "Create an org", ref("Org"), status=201, body=json_body(ref("OrgCreate"))),
        },
        "/admin/v1/orgs/{name}": {
            "post": _admin("updateOrg", "Change an org's policy, privacy or cache", ref("Org"), 404,
                           parameters=[org_name], body=json_body(ref("OrgUpdate"))),
            "delete": _admin("deleteOrg", "Delete an org", ref("OrgDeleted"), 404, parameters=[org_name],
                             description="Its keys and limits go; its enrollment tokens and nodes are revoked "
                                         "(out of routing at once, audited); its usage records stay."),
        },
        "/admin/v1/users": {
            "get": _admin("listUsers", "Console users (never their passwords)", ref("UserList"), parameters=[org_q]),
            "post": _admin("createUser", "Create a console user (owner, or admin/member of one org)", ref("User"),
                           404, status=201, body=json_body(ref("UserCreate"))),
        },
        "/admin/v1/users/{ident}": {
            "delete": _admin("removeUser", "Remove a console user (their sessions end at once)", ref("UserRemoved"),
                             404, parameters=[path_param("ident", "The user's id or email.")]),
        },
        "/admin/v1/keys": {
            "get": _admin("listKeys", "API keys (never their secrets)", ref("ApiKeyList"), parameters=[org_q]),
            "post": _admin("createKey", "Create an API key (its secret is shown once)", ref("ApiKeyWithSecret"), 404,
                           status=201, body=json_body(ref("ApiKeyCreate"))),
        },
        "/admin/v1/keys/{id}/revoke": {
            "post": _admin("revokeKey", "Revoke an API key (401 from then on)", ref("ApiKey"), 404,
                           parameters=[key_id]),
        },
        "/admin/v1/keys/{id}/rotate": {
            "post": _admin("rotateKey", "A new secret; the old one stays valid for the grace period",
                           ref("ApiKeyWithSecret"), 404, parameters=[key_id],
                           body=json_body(ref("ApiKeyRotate"), required=False)),
        },
        "/admin/v1/limits": {
            "get": _admin("listLimits", "Limits per org and key", ref("LimitsList"), parameters=[org_q]),
            "post": _admin("setLimits", "Set an org's or a key's limits (and routing policy)", ref("LimitsEntry"),
                           404, body=json_body(ref("LimitsSet"))),
        },
        "/admin/v1/usage": {
            "get": _admin("usageReport", "Requests, tokens, cost and latency per group", ref("UsageReport"), 400,
                          503, parameters=[
                              query("by", {"type": "string", "enum": list(GROUPS), "default": "model"}, "Group by."),
                              org_q, query("key", {"type": "string"}, "Only this key's requests."),
                              query("since", {"type": "string"},
                                    "A duration back from now (`24h`, `7d`), an ISO date/time or epoch seconds "
                                    "(default: 30 days back)."),
                          ]),
        },
        "/admin/v1/audit": {
            "get": _admin("listAudit", "The audit log", ref("AuditList"), 400, parameters=[
                query("since", {"type": "string"}, "As for `usage`."),
                query("action", {"type": "string"}, "Only actions starting with this (`key.`, `node.revoke`)."),
                query("limit", {"type": "integer"}, "At most this many events (clamped to 1..10000; default 1000)."),
            ]),
        },
        "/admin/v1/tokens": {
            "get": _admin("listTokens", "Enrollment tokens (never their secrets)", ref("EnrollmentTokenList")),
            "post": _admin("createToken", "Create an enrollment token (shown once)", ref("EnrollmentTokenCreated"),
                           404, status=201, body=json_body(ref("EnrollmentTokenCreate"))),
        },
        "/admin/v1/nodes": {
            "get": _admin("listNodes", "The fleet's nodes", ref("NodeList"), parameters=[org_q]),
        },
        "/admin/v1/nodes/{node_id}": {
            "get": _admin("getNode", "One node", ref("Node"), 404, parameters=[node_id]),
        },
        "/admin/v1/nodes/{node_id}/revoke": {
            "post": _admin("revokeNode", "Revoke a node (out of routing at once; its secret stops working)",
                           ref("Node"), 400, 404, parameters=[node_id]),
        },
        "/admin/v1/nodes/{node_id}/drain": {
            "post": _admin("drainNode", "Drain a node (out of routing at once; told at its next heartbeat)",
                           ref("Node"), 400, 404, parameters=[node_id]),
        },
        "/admin/v1/routes": {
            "get": _admin("listRoutes", "Every route serving a model now, with prices and circuit state",
                          ref("RouteList"), 400, 404, parameters=[
                              query("model", {"type": "string", "minLength": 1}, "A public model name.",
                                    required=True)]),
        },
        "/admin/v1/faults": {
            "get": _admin("listFaults", "Routes failed on purpose, with hit counts", ref("FaultList")),
            "post": _admin("setFault", "Fail (or stop failing) the gateway's own calls to a route", ref("FaultState"),
                           404, body=json_body(ref("FaultSet"))),
        },
    }


def _text(description: str, media: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


def _ops_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness of the HTTP API", "tags": ["Operations"],
                             "security": OPEN, "responses": {"200": ok(
                                 {"type": "object", "properties": {"status": {"const": "ok"}},
                                  "required": ["status"]})}}},
        "/metrics": {"get": {
            "operationId": "metrics", "summary": "Prometheus metrics", "tags": ["Operations"],
            "description": "The admin key or `[server] metrics_token` (API keys never); anyone with "
                           "`[server] metrics_public = true`.",
            "security": [{"adminKey": []}, {"metricsToken": []}, {}],
            "responses": {"200": _text("Prometheus text exposition.", "text/plain"), **errors(401, 403)},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This description", "tags": ["Operations"], "security": OPEN,
            "responses": {"200": ok({"type": "object", "required": ["openapi", "info", "paths"]})},
        }},
    }
    for route, (filename, media) in SCRIPTS.items():
        paths[route] = {"get": {
            "operationId": "install_" + filename.replace(".", "_"), "summary": f"The install script {filename}",
            "tags": ["Install"], "security": OPEN,
            "description": "Filled in with this coordinator's addresses (`[server] public_url`, else the Host header) "
                           "and its agent wheel's name and SHA-256.",
            "responses": {"200": _text("The script.", media), **errors(400, 503)},
        }}
    paths[WHEEL_ROUTE] = {"get": {
        "operationId": "agentWheel", "summary": "The agent: this coordinator's shareai, as a wheel",
        "tags": ["Install"], "security": OPEN,
        "responses": {"200": {"description": "The wheel.",
                              "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                   "contentMediaType":
                                                                                   "application/zip"}}}},
                      **errors(503)},
    }}
    paths[SHA256_ROUTE] = {"get": {
        "operationId": "agentWheelSha256", "summary": "The wheel's SHA-256 (`sha256sum -c` format)",
        "tags": ["Install"], "security": OPEN,
        "responses": {"200": _text("`<sha256>  <filename>`", "text/plain"), **errors(503)},
    }}
    return paths


def paths() -> dict[str, Any]:
    return {**_v1(), **_admin_paths(), **_ops_paths()}
