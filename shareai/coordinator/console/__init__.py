"""The console: the coordinator's web UI under `/console/` (users, sessions, pages, JSON calls).

    passwords.py   scrypt hashing of user passwords (stdlib, memory-hard)
    accounts.py    users and roles (owner / admin / member), stored in SQLite, audited
    sessions.py    server-side sessions: idle and absolute expiry, CSRF token, playground key
    signin.py      sign-in attempt limiting (pure sliding window over `now`)
    security.py    the response headers (CSP, frame-ancestors), cookies, CSRF and origin checks
    scope.py       who sees what: a `Viewer` and the org filter every JSON call applies
    views.py       the data of each page, built from the fleet, governance and gateway parts
    api.py         the JSON calls under `/console/api/` (what the pages' ES modules fetch)
    pages.py       the HTML shells and the static files (ES modules, CSS, vendored uPlot)
    admin_routes.py, cli.py   `/admin/v1/users` and `shareai-coordinator user create|list|remove`
    subsystem.py   `ConsoleSubsystem`, wired by `compose.build_coordinator`
"""
