"""OpenAI-shaped errors.

Every error a client can see is an `OpenAIError` carrying its HTTP status and the four fields of
OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`::

    OpenAIError
     ├── InvalidRequest            400 invalid_request_error   (param names the offending field)
     │    └── ContextLengthExceeded 400 code=context_length_exceeded
     ├── AuthenticationError       401 authentication_error    (missing, bad, revoked or expired key)
     ├── PermissionDenied          403 permission_error        (key not allowed this model / org)
     ├── NotFound                  404 invalid_request_error   (unknown model or route)
     ├── MethodNotAllowed          405 invalid_request_error
     ├── PayloadTooLarge           413 invalid_request_error
     ├── RateLimited               429 rate_limit_error        (retry_after seconds, extra headers)
     │    └── QuotaExceeded        429 code=insufficient_quota
     ├── ServerError               500 server_error
     ├── UpstreamFailed            502 upstream_error          (every target failed)
     ├── NoTargetAvailable         503 service_unavailable     (nothing can serve now)
     │    └── AccountingBacklog    503 code=accounting_backlog (usage cannot be written; retry_after)
     └── UpstreamTimeout           504 timeout                 (upstream did not answer in time)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from shareai.wire import jsonc


class OpenAIError(Exception):
    """Base of every client-visible error; `status` is the HTTP status it maps to."""

    status: int = 500
    type: str = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)

    def body_bytes(self) -> bytes:
        """`body()` encoded as compact JSON (the HTTP error body and the SSE error frame)."""
        return jsonc.dumps_bytes(self.body())


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class InvalidRequest(OpenAIError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"


class AuthenticationError(OpenAIError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(OpenAIError):
    status = 403
    type = "permission_error"


class NotFound(OpenAIError):
    status = 404
    type = "invalid_request_error"


class ModelNotFound(NotFound):
    default_code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(f"The model '{model}' does not exist or you do not have access to it.", param="model")


class MethodNotAllowed(OpenAIError):
    status = 405
    type = "invalid_request_error"


class PayloadTooLarge(OpenAIError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(OpenAIError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        merged = dict(headers or {})
        if retry_after is not None:
            merged.setdefault("retry-after", str(max(1, math.ceil(retry_after))))
        super().__init__(message, param=param, code=code, headers=merged)
        self.retry_after = retry_after


class QuotaExceeded(RateLimited):
    type = "insufficient_quota"
    default_code = "insufficient_quota"


class ServerError(OpenAIError):
    status = 500
    type = "server_error"


class UpstreamFailed(OpenAIError):
    status = 502
    type = "upstream_error"
    default_code = "upstream_failed"


class NoTargetAvailable(OpenAIError):
    status = 503
    type = "service_unavailable"
    default_code = "no_target_available"


class AccountingBacklog(NoTargetAvailable):
    """Usage records cannot reach the database fast enough: new requests wait rather than go unaccounted."""

    default_code = "accounting_backlog"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message, headers={"retry-after": str(max(1, math.ceil(retry_after)))})


class UpstreamTimeout(OpenAIError):
    status = 504
    type = "timeout"
    default_code = "upstream_timeout"


_BY_STATUS: dict[int, type[OpenAIError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    429: RateLimited,
    500: ServerError,
    502: UpstreamFailed,
    503: NoTargetAvailable,
    504: UpstreamTimeout,
}


def from_status(status: int, message: str, *, param: str | None = None, code: str | None = None) -> OpenAIError:
    """The error class for an HTTP status (unknown 4xx -> 400, unknown 5xx -> 500)."""
    cls = _BY_STATUS.get(status) or (InvalidRequest if 400 <= status < 500 else ServerError)
    err = cls(message, param=param, code=code)
    err.status = status
    return err
