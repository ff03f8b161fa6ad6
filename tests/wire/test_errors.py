from __future__ import annotations

from shareai.wire.errors import (
    ContextLengthExceeded,
    ModelNotFound,
    OpenAIError,
    QuotaExceeded,
    RateLimited,
    from_status,
)


def test_error_body_has_the_four_fields() -> None:
    body = ModelNotFound("nope").body()
    assert body == {"error": {
        "message": "The model 'nope' does not exist or you do not have access to it.",
        "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}


def test_rate_limit_sets_retry_after_rounded_up() -> None:
    err = RateLimited("slow down", retry_after=0.2)
    assert err.status == 429 and err.headers["retry-after"] == "1"
    quota = QuotaExceeded("out of quota")
    assert quota.status == 429 and quota.code == "insufficient_quota"


def test_context_length_code() -> None:
    err = ContextLengthExceeded("too long", param="messages")
    assert (err.status, err.code, err.param) == (400, "context_length_exceeded", "messages")


def test_from_status_maps_known_and_unknown() -> None:
    assert from_status(429, "x").status == 429
    odd = from_status(418, "teapot")
    assert isinstance(odd, OpenAIError) and odd.status == 418 and odd.type == "invalid_request_error"
    assert from_status(599, "x").type == "server_error"
