"""The console's browser-facing defences, in one place.

- Headers on every console response (`harden`): a strict Content-Security-Policy (scripts, styles,
  images and fetches from this origin only, no inline script or style, `frame-ancestors 'none'`),
  `X-Frame-Options: DENY`, `nosniff`, no referrer, `no-store` for pages and JSON.
- Cookies (`set_cookie`): `HttpOnly`, `SameSite=Lax`, path `/console`, `Secure` when the
  coordinator serves TLS.
- CSRF (`check_csrf`): every state-changing call carries `x-csrf-token`, compared in constant time
  with the session's token (sign-in: with the pre-session cookie the sign-in page set), and its
  `Origin`, when the browser sends one, must be this coordinator's.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from shareai.wire.errors import OpenAIError

SESSION_COOKIE = "shareai_console"
SIGNIN_COOKIE = "shareai_console_signin"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/console"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


class CsrfRefused(OpenAIError):
    status = 403
    type = "permission_error"
    default_code = "csrf_failed"


def harden(response: web.StreamResponse, *, cache: bool = False) -> web.StreamResponse:
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Frame-Options"] = "DENY"
    h["X-Content-Type-Options"] = "nosniff"
    h["Referrer-Policy"] = "no-referrer"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Cache-Control"] = "public, max-age=300" if cache else "no-store"
    return response


def set_cookie(response: web.StreamResponse, name: str, value: str, *, secure: bool,
               max_age: float | None = None) -> None:
    response.set_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="Lax", secure=secure,
                        max_age=int(max_age) if max_age is not None else None)


def clear_cookie(response: web.StreamResponse, name: str, *, secure: bool) -> None:
    response.del_cookie(name, path=COOKIE_PATH, secure=secure, httponly=True, samesite="Lax")


def one_header(request: web.Request, name: str) -> str | None:
    values = request.headers.getall(name, [])
    if len(values) > 1:
        raise CsrfRefused(f"'{name}' was sent more than once.")
    return values[0] if values else None


def public_origin(public_url: str | None) -> str | None:
    """The origin of `[server] public_url` (behind a TLS-terminating proxy the browser's `Origin`
    is that, not the scheme and host the coordinator itself sees)."""
    if not public_url:
        return None
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def check_origin(request: web.Request, also: str | None = None) -> None:
    """A browser names the page's origin on cross-site requests; it must be us."""
    origin = one_header(request, "Origin")
    if origin is None:
        return
    if origin not in (f"{request.scheme}://{request.host}", also):
        raise CsrfRefused("The request comes from another site.")


def check_csrf(request: web.Request, expected: str | None, *, origin: str | None = None) -> None:
    check_origin(request, origin)
    sent = one_header(request, CSRF_HEADER)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused("Missing or wrong CSRF token; reload the page.")
