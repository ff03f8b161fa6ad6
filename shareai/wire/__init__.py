"""The OpenAI wire format, shared by the node agent and the coordinator.

- `errors`: the exception tree and the `{"error": {...}}` body, mapped to HTTP status in one place.
- `sse`: server-sent-events framing (encode for servers, parse for clients of upstreams).
- `validation`: request bodies parsed into typed requests, with `param`-naming 400s.
- `jsonc`: the JSON codec of the request path (orjson where installed, `json` semantics kept).
- `http`: aiohttp glue (JSON body reading with a size limit, the error middleware).
"""
