"""The JSON Schemas of the coordinator's bodies (OpenAPI 3.1 `components.schemas`), built in Python.

    SCHEMAS["ChatCompletionRequest"]     # what POST /v1/chat/completions accepts
    ref("Error")                         # {"$ref": "#/components/schemas/Error"}

Request schemas say what the handlers accept (`shareai.wire.validation`, `gateway/requests.py`,
the admin routes' checks); a body outside them is a 400 with the OpenAI error object. The gateway
forwards fields it does not know to providers, so its request objects stay open
(`additionalProperties` is not restricted). Response schemas name the fields clients rely on and
leave room for more (providers add their own).
"""

from __future__ import annotations

from typing import Any

from shareai.coordinator.config import POLICIES
from shareai.coordinator.console.accounts import ROLES as USER_ROLES
from shareai.coordinator.fleet.admin_routes import MAX_TTL_S, MAX_USES
from shareai.coordinator.governance.models import CACHE_MODES
from shareai.coordinator.governance.reports import GROUPS
from shareai.wire.validation import MAX_STOP, ROLES

Schema = dict[str, Any]

# Org names, as `governance.models.check_name` accepts them.
NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# Durations, as `governance.models.parse_duration` accepts them (`30d`, `12h`, `90m`, `45s`, `2w`, seconds).
DURATION_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*[smhdwSMHDW]?\s*$"


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """`schema` or JSON null (the handlers read a null field as an absent one)."""
    return {"anyOf": [schema, {"type": "null"}]}


def _obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties, **extra}
    if required:
        out["required"] = list(required)
    return out


_STRING = {"type": "string"}
_NUMBER = {"type": "number"}
_INTEGER = {"type": "integer"}
_BOOLEAN = {"type": "boolean"}
_TIME = {"type": "number", "description": "Unix time in seconds."}
_NON_BLANK = {"type": "string", "pattern": r"\S"}
_TOKENS = {"type": "array", "items": {"type": "integer"}, "minItems": 1}


def forwarded(description: str) -> Schema:
    """A field the gateway does not read but forwards to the target, which decides (no constraint here,
    so the description promises nothing the gateway does not check)."""
    return {"description": f"Forwarded to the target as sent. {description}"}

_ERROR = _obj({
    "error": _obj({
        "message": _STRING,
        "type": _STRING,
        "param": nullable(_STRING),
        "code": nullable(_STRING),
    }, ("message", "type", "param", "code")),
}, ("error",), description="OpenAI's error object: every error of every route has this body.")

_SAMPLING: dict[str, Schema] = {
    "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
    "top_p": nullable({"type": "number", "minimum": 0, "maximum": 1}),
    "max_tokens": nullable({"type": "integer", "minimum": 1}),
    "stop": nullable({"anyOf": [_STRING, {"type": "array", "items": _STRING, "maxItems": MAX_STOP}]}),
    "seed": nullable(_INTEGER),
    "presence_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
    "frequency_penalty": nullable({"type": "number", "minimum": -2, "maximum": 2}),
    "stream": nullable({**_BOOLEAN, "description": "Answer as `text/event-stream` (server-sent events)."}),
    "stream_options": nullable(_obj({"include_usage": nullable(_BOOLEAN)},
                                    description="Only with `stream: true` (a 400 otherwise).")),
    "n": nullable({"type": "integer", "minimum": 1, "maximum": 128}),
    "user": forwarded("OpenAI: a string identifying the end user."),
}

_CONTENT_PART = {
    **_obj({"type": forwarded("OpenAI: `text`, `image_url`, `input_audio`, `file`."),
            "text": {"description": "A string, in a `text` part."}},
           description="A content part: a `text` part carries a string `text`; other kinds go to providers."),
    "if": {"required": ["type"], "properties": {"type": {"const": "text"}}},
    "then": {"required": ["text"], "properties": {"text": _STRING}},
}

_CHAT_MESSAGE = {
    **_obj({
        "role": {"type": "string", "enum": sorted(ROLES)},
        "content": nullable({"anyOf": [_STRING, {"type": "array", "items": ref("ContentPart")}]}),
        "name": nullable(_STRING),
        "tool_calls": forwarded("OpenAI: the assistant's tool calls, an array."),
        "tool_call_id": forwarded("OpenAI: the tool call a `tool` message answers."),
    }, ("role",), description="`content` may be null or absent only for the `assistant` role."),
    "if": {"not": {"properties": {"role": {"const": "assistant"}}}},
    "then": {"required": ["content"], "properties": {"content": {"type": ["string", "array"]}}},
}

_CHAT_REQUEST = _obj({
    "model": {**_NON_BLANK, "description": "A public model name (`GET /v1/models`)."},
    "messages": {"type": "array", "items": ref("ChatMessage"), "minItems": 1},
    **_SAMPLING,
    "max_completion_tokens": nullable({"type": "integer", "minimum": 1}),
    "response_format": nullable({
        **_obj({
            "type": {"type": "string", "enum": ["text", "json_object", "json_schema"]},
            "json_schema": {"description": "Read only with `type: json_schema`."},
        }, ("type",)),
        "if": {"properties": {"type": {"const": "json_schema"}}},
        "then": {"required": ["json_schema"], "properties": {"json_schema": _obj({
            "name": forwarded("OpenAI: a string."), "schema": nullable({"type": "object"}),
            "strict": forwarded("OpenAI: a boolean.")})}},
    }),
    "logprobs": nullable(_BOOLEAN),
    "top_logprobs": nullable({"type": "integer", "minimum": 0, "maximum": 20,
                              "description": "Requires `logprobs: true`."}),
}, ("model", "messages"),
    examples=[
        {"model": "gemma3-270m", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 16},
        {"model": "gemma3-270m", "messages": [{"role": "system", "content": "Be brief."},
                                              {"role": "user", "content": "Say hello."}],
         "stream": True, "stream_options": {"include_usage": True}},
    ],
    description="OpenAI's chat completion request. Fields not listed (tools, logit_bias, ...) are forwarded to "
                "targets that accept them; a request no candidate target can serve is a 400 "
                "`unsupported_parameter` or `unsupported_value`.")

_COMPLETION_REQUEST = _obj({
    "model": _NON_BLANK,
    "prompt": {"not": {"type": "null"},
               "description": "OpenAI: a string, an array of strings, an array of tokens or an array of token "
                              "arrays. Nodes take one string; other prompts go to providers as sent."},
    **_SAMPLING,
    "logprobs": nullable({"type": "integer", "minimum": 0, "maximum": 5}),
    "echo": nullable(_BOOLEAN),
    "best_of": nullable({"type": "integer", "minimum": 1, "maximum": 128}),
    "suffix": forwarded("OpenAI: a string."),
}, ("model", "prompt"), description="OpenAI's (legacy) text completion request.",
    examples=[{"model": "gemma3-270m", "prompt": "Once upon a time", "max_tokens": 16},
              {"model": "gemma3-270m", "prompt": "Once upon a time", "stream": True}])

_EMBEDDINGS_REQUEST = _obj({
    "model": _NON_BLANK,
    "input": {"anyOf": [_STRING, {"type": "array", "items": _STRING, "minItems": 1}, _TOKENS,
                        {"type": "array", "items": {"type": "array", "items": _INTEGER}, "minItems": 1}]},
    "encoding_format": forwarded("OpenAI: `float` or `base64`."),
    "dimensions": forwarded("OpenAI: an integer >= 1."),
    "user": forwarded("OpenAI: a string."),
}, ("model", "input"), description="OpenAI's embeddings request (never streamed).",
    examples=[{"model": "text-embedding-3-small", "input": ["first text", "second text"]}])

_USAGE = _obj({"prompt_tokens": _INTEGER, "completion_tokens": _INTEGER, "total_tokens": _INTEGER})

_CHAT_COMPLETION = _obj({
    "id": _STRING,
    "object": {"const": "chat.completion"},
    "created": _INTEGER,
    "model": {**_STRING, "description": "The public model name asked for."},
    "choices": {"type": "array", "items": _obj({
        "index": _INTEGER,
        "message": _obj({"role": _STRING, "content": nullable(_STRING)}, ("role",)),
        "finish_reason": nullable(_STRING),
    }, ("index", "message"))},
    "usage": nullable(ref("Usage")),
}, ("id", "object", "created", "model", "choices"))

_COMPLETION = _obj({
    "id": _STRING,
    "object": {"const": "text_completion"},
    "created": _INTEGER,
    "model": _STRING,
    "choices": {"type": "array", "items": _obj({
        "index": _INTEGER, "text": _STRING, "finish_reason": nullable(_STRING)}, ("index", "text"))},
    "usage": nullable(ref("Usage")),
}, ("id", "object", "created", "model", "choices"))

_EMBEDDINGS = _obj({
    "object": {"const": "list"},
    "model": _STRING,
    "data": {"type": "array", "items": _obj({
        "object": {"const": "embedding"},
        "index": _INTEGER,
        "embedding": {"anyOf": [{"type": "array", "items": _NUMBER}, _STRING]},
    }, ("object", "index", "embedding"))},
    "usage": nullable(ref("Usage")),
}, ("object", "data"))

_MODEL = _obj({"id": _STRING, "object": {"const": "model"}, "created": _INTEGER, "owned_by": _STRING},
              ("id", "object", "created", "owned_by"))

_CHAT_CHUNK = _obj({
    "id": _STRING,
    "object": {"const": "chat.completion.chunk"},
    "created": _INTEGER,
    "model": _STRING,
    "choices": {"type": "array", "items": _obj({
        "index": _INTEGER,
        "delta": _obj({"role": _STRING, "content": nullable(_STRING)}),
        "finish_reason": nullable(_STRING),
    }, ("index",))},
    "usage": nullable(ref("Usage")),
}, ("object", "choices"))

_COMPLETION_CHUNK = _obj({
    "id": _STRING,
    "object": {"const": "text_completion"},
    "created": _INTEGER,
    "model": _STRING,
    "choices": {"type": "array", "items": _obj({
        "index": _INTEGER, "text": _STRING, "finish_reason": nullable(_STRING)}, ("index",))},
    "usage": nullable(ref("Usage")),
}, ("object", "choices"))


def event_stream(chunk: str) -> Schema:
    """One server-sent event of a stream of `chunk`s (OpenAPI before 3.2: the schema of an event):
    `data:` is a JSON chunk, the OpenAI error object when the stream fails after its first byte, or
    the final `[DONE]`. The last chunk carries `usage` when `stream_options.include_usage` is true."""
    return _obj({
        "event": _STRING,
        "id": _STRING,
        "retry": _INTEGER,
        "data": {"type": "string", "anyOf": [
            {"const": "[DONE]"},
            {"contentMediaType": "application/json", "contentSchema": {"anyOf": [ref(chunk), ref("Error")]}},
        ]},
    }, ("data",), description="A server-sent event: `data: {chunk}`, an `error` object, or `data: [DONE]`.")


# -- admin ---------------------------------------------------------------------------------------

_POLICY = {"type": "string", "enum": list(POLICIES)}

_LIMIT_FIELDS: dict[str, Schema] = {
    "rpm": nullable(_INTEGER), "tpm": nullable(_INTEGER),
    "daily_tokens": nullable(_INTEGER), "monthly_tokens": nullable(_INTEGER),
    "daily_cost": nullable(_NUMBER), "monthly_cost": nullable(_NUMBER),
}

_LIMITS = _obj({**_LIMIT_FIELDS, "policy": nullable(_STRING)},
               description="A limit of null is no limit; setting one to 0 removes it.")

_ORG = _obj({
    "name": _STRING, "policy": nullable(_STRING), "private": _BOOLEAN, "cache_mode": _STRING,
    "cache_ttl_s": _NUMBER, "created_at": _TIME, "limits": nullable(ref("Limits")),
}, ("name", "policy", "private", "cache_mode", "cache_ttl_s", "created_at", "limits"))

_ORG_FIELDS: dict[str, Schema] = {
    "policy": nullable({"anyOf": [_POLICY, {"const": ""}]}),
    "private": nullable(_BOOLEAN),
    "cache": nullable({"type": "string", "enum": list(CACHE_MODES)}),
    "cache_ttl_s": nullable({"type": "number", "exclusiveMinimum": 0}),
}

_ORG_CREATE = _obj({"name": {"type": "string", "pattern": NAME_PATTERN}, **_ORG_FIELDS}, ("name",))
_ORG_UPDATE = _obj(_ORG_FIELDS, description="Absent fields stay as they are; at least one is required (400).")

_ORG_DELETED = _obj({"name": _STRING, "deleted": {"const": True},
                     "removed_keys": {"type": "array", "items": _STRING}}, ("name", "deleted"),
                    description="Also says which enrollment tokens and nodes were revoked with the org.")

_KEY = _obj({
    "id": _STRING, "org": _STRING, "name": _STRING,
    "prefix": {**_STRING, "description": "The first characters of the secret, for listings."},
    "created_at": _TIME,
    "models": nullable({"type": "array", "items": _STRING}),
    "expires_at": nullable(_TIME), "revoked_at": nullable(_TIME),
    "previous_secret_valid_until": nullable(_TIME),
}, ("id", "org", "name", "prefix", "created_at", "models", "expires_at", "revoked_at"))

_KEY_SECRET = {"allOf": [ref("ApiKey"), _obj({"secret": {"type": "string", "pattern": "^sk-",
                                                         "description": "Shown this once."}}, ("secret",))]}

_DURATION = {"anyOf": [{"type": "string", "pattern": DURATION_PATTERN}, {"type": "number", "exclusiveMinimum": 0}],
             "description": "A duration: `30d`, `12h`, `90m`, `45s`, `2w` or seconds."}

_KEY_CREATE = _obj({
    "org": {"type": "string", "pattern": NAME_PATTERN},
    "name": nullable({"type": "string", "maxLength": 128}),
    "models": nullable({"anyOf": [{"type": "array", "items": {"type": "string", "minLength": 1}},
                                  {**_STRING, "description": "Comma-separated model names."}]}),
    "expires": nullable({"anyOf": [_DURATION, {"const": ""}]}),
}, ("org",))

_KEY_ROTATE = _obj({"grace": nullable({"anyOf": [_DURATION, {"const": ""}]})},
                   description="How long the old secret keeps working (default 24h).")

_LIMITS_ENTRY = {"allOf": [ref("Limits"), _obj({"scope": _STRING, "org": nullable(_STRING)}, ("scope", "org"))]}

_LIMITS_SET = _obj({
    "org": {"type": "string", "pattern": NAME_PATTERN},
    "key": nullable({**_STRING, "description": "A key of `org`: the limits are the key's rather than the org's."}),
    **{name: nullable({"type": "integer", "minimum": 0}) for name in ("rpm", "tpm", "daily_tokens", "monthly_tokens")},
    **{name: nullable({"type": "number", "minimum": 0}) for name in ("daily_cost", "monthly_cost")},
    "policy": nullable({"anyOf": [_POLICY, {"const": ""}]}),
}, ("org",))

_USAGE_GROUP = _obj({
    "group": nullable(_STRING), "requests": _INTEGER, "errors": _INTEGER, "cache_hits": _INTEGER,
    "prompt_tokens": _INTEGER, "completion_tokens": _INTEGER, "total_tokens": _INTEGER,
    "cost_usd": _NUMBER, "cost_per_request_usd": _NUMBER,
    "latency_p50_ms": nullable(_NUMBER), "latency_p95_ms": nullable(_NUMBER),
}, ("group", "requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"))

_USAGE_REPORT = _obj({
    "by": {"type": "string", "enum": list(GROUPS)}, "since": _TIME, "org": nullable(_STRING), "key": nullable(_STRING),
    "data": {"type": "array", "items": ref("UsageGroup")},
    "total": _obj({"requests": _INTEGER, "total_tokens": _INTEGER, "cost_usd": _NUMBER},
                  ("requests", "total_tokens", "cost_usd")),
}, ("by", "since", "data", "total"))

_AUDIT_EVENT = _obj({"ts": _TIME, "actor": _STRING, "action": _STRING, "target": _STRING,
                     "details": {"type": "object"}}, ("ts", "actor", "action", "target", "details"))

_TOKEN = _obj({
    "id": _STRING, "org": _STRING, "created_at": _TIME, "expires_at": _TIME, "uses_total": _INTEGER,
    "uses_left": _INTEGER, "revoked_at": nullable(_TIME),
    "state": {"type": "string", "enum": ["active", "revoked", "expired", "used"]},
}, ("id", "org", "created_at", "expires_at", "uses_total", "uses_left"))

_TOKEN_CREATED = {"allOf": [ref("EnrollmentToken"),
                            _obj({"token": {**_STRING, "description": "Shown this once."}}, ("token",))]}

_TOKEN_CREATE = _obj({
    "org": {"type": "string", "pattern": r"\S", "description": "An existing org (404 otherwise)."},
    "ttl_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_TTL_S, "default": 3600},
    "uses": {"type": "integer", "minimum": 1, "maximum": MAX_USES, "default": 1},
}, ("org",))

_NODE = _obj({
    "id": _STRING, "name": _STRING, "org": _STRING,
    "status": _STRING,
    "enrolled_at": _TIME, "revoked_at": nullable(_TIME), "last_seen": nullable(_TIME),
    "endpoint_url": nullable(_STRING), "mode": nullable(_STRING), "price": nullable({"type": "object"}),
    "models": {"type": "array", "items": _STRING},
    "load": {"type": "object", "additionalProperties": _obj({
        "slots": _INTEGER, "busy": _INTEGER, "free": _INTEGER, "queue_depth": _INTEGER, "queue_limit": _INTEGER,
        "n_ctx": _INTEGER})},
    "gpus": {"type": "array", "items": {"type": "object"}},
    "gpu_status": _STRING, "agent_version": _STRING, "coordinator_version": _STRING,
    "host": {"type": "object"},
    "availability": _STRING,
}, ("id", "name", "org", "status", "models", "load", "gpus"))

_ROUTE = _obj({
    "route": _STRING, "kind": {"type": "string", "enum": ["provider", "node"]}, "upstream_model": _STRING,
    "input_per_mtok": nullable(_NUMBER), "output_per_mtok": nullable(_NUMBER), "circuit": _STRING,
    "fault": _BOOLEAN,
}, ("route", "kind", "circuit", "fault"))

_FAULT_SET = _obj({"route": {"type": "string", "minLength": 1,
                             "description": "A provider name or `node:<id>` (404 for an unknown provider)."},
                   "enabled": {**_BOOLEAN, "default": True}}, ("route",))

_USER = _obj({"id": _STRING, "email": _STRING, "role": {"type": "string", "enum": list(USER_ROLES)},
              "org": nullable(_STRING), "created_at": _TIME}, ("id", "email", "role", "org", "created_at"),
             description="A console user (never the password or its hash).")
_USER_CREATE = _obj({"email": _STRING, "password": _STRING, "role": {"type": "string", "enum": list(USER_ROLES)},
                     "org": {**_STRING, "description": "Required for `admin` and `member`; none for `owner`."}},
                    ("email", "password", "role"))


def _list(item: Schema) -> Schema:
    return _obj({"data": {"type": "array", "items": item}}, ("data",))


SCHEMAS: dict[str, Schema] = {
    "Error": _ERROR,
    "ContentPart": _CONTENT_PART,
    "ChatMessage": _CHAT_MESSAGE,
    "ChatCompletionRequest": _CHAT_REQUEST,
    "CompletionRequest": _COMPLETION_REQUEST,
    "EmbeddingsRequest": _EMBEDDINGS_REQUEST,
    "Usage": _USAGE,
    "ChatCompletion": _CHAT_COMPLETION,
    "Completion": _COMPLETION,
    "Embeddings": _EMBEDDINGS,
    "Model": _MODEL,
    "ModelList": _obj({"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}},
                      ("object", "data")),
    "ChatCompletionChunk": _CHAT_CHUNK,
    "CompletionChunk": _COMPLETION_CHUNK,
    "ChatCompletionEvent": event_stream("ChatCompletionChunk"),
    "CompletionEvent": event_stream("CompletionChunk"),
    "Limits": _LIMITS,
    "Org": _ORG,
    "OrgList": _list(ref("Org")),
    "OrgCreate": _ORG_CREATE,
    "OrgUpdate": _ORG_UPDATE,
    "OrgDeleted": _ORG_DELETED,
    "User": _USER,
    "UserList": _list(ref("User")),
    "UserCreate": _USER_CREATE,
    "UserRemoved": {"allOf": [ref("User"), _obj({"removed": {"const": True}}, ("removed",))]},
    "ApiKey": _KEY,
    "ApiKeyList": _list(ref("ApiKey")),
    "ApiKeyWithSecret": _KEY_SECRET,
    "ApiKeyCreate": _KEY_CREATE,
    "ApiKeyRotate": _KEY_ROTATE,
    "LimitsEntry": _LIMITS_ENTRY,
    "LimitsList": _list(ref("LimitsEntry")),
    "LimitsSet": _LIMITS_SET,
    "UsageGroup": _USAGE_GROUP,
    "UsageReport": _USAGE_REPORT,
    "AuditEvent": _AUDIT_EVENT,
    "AuditList": _list(ref("AuditEvent")),
    "EnrollmentToken": _TOKEN,
    "EnrollmentTokenList": _list(ref("EnrollmentToken")),
    "EnrollmentTokenCreated": _TOKEN_CREATED,
    "EnrollmentTokenCreate": _TOKEN_CREATE,
    "Node": _NODE,
    "NodeList": _list(ref("Node")),
    "Route": _ROUTE,
    "RouteList": _obj({"model": _STRING, "data": {"type": "array", "items": ref("Route")}}, ("model", "data")),
    "FaultList": _list(_obj({"route": _STRING, "hits": _INTEGER}, ("route", "hits"))),
    "FaultSet": _FAULT_SET,
    "FaultState": _obj({"route": _STRING, "enabled": _BOOLEAN, "hits": _INTEGER}, ("route", "enabled", "hits")),
}
