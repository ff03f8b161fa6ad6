"""The console's HTML pages and static files.

    GET /console/                    overview          GET /console/signin   the sign-in form
    GET /console/{nodes,models,playground,keys,usage,limits,audit}
    GET /console/static/{file}       ES modules, CSS, vendored uPlot (package data, read once at start)

Each page is a small server-rendered shell: the layout, the navigation for the viewer's role, and a
`<main data-page=...>` its ES module (`static/js/<page>.js`) fills from the JSON calls (`api.py`).
There is no inline script or style anywhere (the CSP forbids both); the few strings the server puts
into the HTML are escaped here, and the modules only ever write untrusted text with `textContent`.
Without a live session every page redirects to the sign-in form.
"""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Awaitable, Callable
from importlib import resources
from importlib.resources.abc import Traversable

from aiohttp import web

from shareai import __version__
from shareai.coordinator.console.auth import ConsoleAuth
from shareai.coordinator.console.security import harden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STATIC_PACKAGE = "shareai.coordinator.console"

# (path under /console/, title, minimum role)
PAGES: tuple[tuple[str, str, str], ...] = (
    ("", "Overview", "member"),
    ("nodes", "Nodes", "admin"),
    ("models", "Models", "member"),
    ("playground", "Playground", "member"),
    ("keys", "API keys", "admin"),
    ("usage", "Usage", "member"),
    ("limits", "Limits", "admin"),
    ("audit", "Audit log", "admin"),
)
_RANK = {"member": 0, "admin": 1, "owner": 2}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}


def _walk(root: Traversable, prefix: str = "") -> dict[str, Traversable]:
    out: dict[str, Traversable] = {}
    for entry in root.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            out.update(_walk(entry, name + "/"))
        elif entry.name.endswith(tuple(_TYPES)):
            out[name] = entry
    return out


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every servable file under `static/` (a fixed set: nothing else can be asked for)."""
    root = resources.files(STATIC_PACKAGE).joinpath("static")
    files = {}
    for name, entry in _walk(root).items():
        suffix = name[name.rfind("."):]
        files[name] = (entry.read_bytes(), _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/plain")
    return files


def _layout(title: str, body: str, *, page: str, csrf: str, nav: str = "", user: str = "") -> str:
    e = html.escape
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{e(csrf)}">
<title>{e(title)} · shareai console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/static/console.css">
<link rel="stylesheet" href="/console/static/vendor/uplot/uPlot.min.css">
<script type="module" src="/console/static/js/{e(page)}.js"></script>
</head>
<body>
<header class="top"><a class="brand" href="/console/">shareai</a>{nav}{user}</header>
<main data-page="{e(page)}">
<h1>{e(title)}</h1>
{body}
</main>
<footer>shareai {e(__version__)}</footer>
</body>
</html>
"""


class ConsolePages:
    def __init__(self, auth: ConsoleAuth) -> None:
        self._auth = auth
        self._static: dict[str, tuple[bytes, str]] = {}

    def add_routes(self, app: web.Application) -> None:
        self._static = load_static()
        r = app.router
        r.add_get("/console", self._redirect_root)
        r.add_get("/console/signin", self.signin)
        r.add_get("/console/static/{path:.+}", self.static)
        for path, title, role in PAGES:
            r.add_get(f"/console/{path}", self._page(path or "overview", title, role))

    async def _redirect_root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    async def static(self, request: web.Request) -> web.StreamResponse:
        found = self._static.get(request.match_info["path"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return harden(web.Response(body=body, content_type=content_type), cache=True)

    async def signin(self, request: web.Request) -> web.StreamResponse:
        if self._auth.current(request) is not None:
            raise web.HTTPFound("/console/")
        response = web.Response(content_type="text/html", charset="utf-8")
        token = self._auth.signin_token(request, response)
        body = """<form class="card signin" id="signin-form">
<label>Email <input type="email" name="email" autocomplete="username" required data-testid="login-email"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required
  data-testid="login-password"></label>
<p class="error" role="alert" data-testid="login-error" hidden></p>
<button type="submit" data-testid="login-submit">Sign in</button>
</form>"""
        response.text = _layout("Sign in", body, page="signin", csrf=token)
        return harden(response)

    def _page(self, page: str, title: str, role: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            found = self._auth.current(request)
            if found is None:
                raise web.HTTPFound("/console/signin")
            viewer, session = found
            e = html.escape
            current = ' aria-current="page"'
            links = "".join(f'<a href="/console/{p}"{current if (p or "overview") == page else ""}>{e(t)}</a>'
                            for p, t, r in PAGES if _RANK[viewer.role] >= _RANK[r])
            nav = f'<nav class="nav">{links}</nav>'
            scope = e(viewer.org) if viewer.org else "all orgs"
            user = (f'<div class="user"><span data-testid="user-email">{e(viewer.email)}</span>'
                    f' <span class="muted">{e(viewer.role)} · {scope}</span>'
                    '<button type="button" class="link" id="signout" data-testid="signout">Sign out</button></div>')
            if _RANK[viewer.role] < _RANK[role]:
                body = f'<p class="error" role="alert">This page needs the {e(role)} role.</p>'
                resp = web.Response(text=_layout(title, body, page="denied", csrf=session.csrf, nav=nav, user=user),
                                    content_type="text/html", charset="utf-8", status=403)
                return harden(resp)
            body = '<div id="app" aria-live="polite"><p class="muted">Loading…</p></div>'
            return harden(web.Response(text=_layout(title, body, page=page, csrf=session.csrf, nav=nav, user=user),
                                       content_type="text/html", charset="utf-8"))

        return handler
