"""The console at the HTTP level, against a real coordinator with two orgs (see conftest): sessions,
CSRF, sign-in limiting, audit with the user as actor, and role scoping of every JSON call."""

from __future__ import annotations

import asyncio
import os
import sys

import openai
import pytest

from shareai.coordinator.console.security import CSP
from tests.coordinator.console.conftest import (
    ADMIN_A,
    ADMIN_B,
    ADMIN_KEY,
    MEMBER_A,
    MODEL,
    OWNER,
    PASSWORD,
    XSS_NAME,
    ConsoleClient,
    World,
    admin_call,
)


async def test_sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        status, _, resp = await c.page("/console/")
        assert status == 302 and resp.headers["Location"] == "/console/signin"
        status, text, resp = await c.page("/console/signin")
        assert status == 200 and 'data-testid="login-email"' in text
        assert resp.headers["Content-Security-Policy"] == CSP and "frame-ancestors 'none'" in CSP
        assert "'unsafe-inline'" not in CSP and resp.headers["X-Frame-Options"] == "DENY"
        assert "<script>" not in text and " style=" not in text  # no inline script or style anywhere

        async with c.http.post(f"{c.url}/console/api/signin", json={"email": ADMIN_A, "password": PASSWORD},
                               headers={"x-csrf-token": c.csrf}) as resp:
            assert resp.status == 200
            cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("shareai_console="))
        attrs = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")}
        assert "httponly" in attrs and attrs["samesite"].strip().lower() == "samesite=lax"
        assert attrs["path"].strip() == "Path=/console" and "secure" not in attrs  # plain HTTP here
        me = await c.get("me")
        assert (me["email"], me["role"], me["org"]) == (ADMIN_A, "admin", "org-a")
        status, text, resp = await c.page("/console/nodes")
        assert status == 200 and resp.headers["Content-Security-Policy"] == CSP

        await c.post("signout")
        await c.get("me", expect=401)
        status, _, _ = await c.page("/console/")
        assert status == 302


async def test_a_stolen_cookie_stops_working_at_sign_out(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c, ConsoleClient(world.coord.url) as thief:
        await c.sign_in(ADMIN_A)
        thief.http.cookie_jar.update_cookies({"shareai_console": _session_cookie(c)})
        assert (await thief.get("me"))["email"] == ADMIN_A
        await c.post("signout")
        await thief.get("me", expect=401)


def _session_cookie(c: ConsoleClient) -> str:
    return next(m.value for m in c.http.cookie_jar if m.key == "shareai_console")


async def test_signing_in_replaces_a_planted_session_cookie(world: World) -> None:
    async with ConsoleClient(world.coord.url) as victim, ConsoleClient(world.coord.url) as attacker:
        await attacker.sign_in(ADMIN_B)
        planted = _session_cookie(attacker)
        await victim.page("/console/signin")
        victim.http.cookie_jar.update_cookies({"shareai_console": planted})
        await victim.call("POST", "signin", {"email": ADMIN_A, "password": PASSWORD})
        assert _session_cookie(victim) != planted  # a new id on every sign-in, the old one ended
        await attacker.get("me", expect=401)
        assert (await victim.get("me"))["email"] == ADMIN_A


async def test_every_state_changing_call_needs_the_sessions_csrf_token(world: World) -> None:
    node_a, key_a = world.nodes["org-a"], world.keys["org-a"]
    calls = [("keys", {"name": "x"}), ("enroll", {}), ("playground/key", {}), (f"nodes/{node_a}/drain", None),
             (f"keys/{key_a}/rotate", None), (f"keys/{key_a}/revoke", None), ("signout", None)]
    async with ConsoleClient(world.coord.url) as c, ConsoleClient(world.coord.url) as other:
        await c.sign_in(ADMIN_A)
        await other.sign_in(ADMIN_B)
        for path, body in calls:
            for headers in ({"x-csrf-token": ""}, {"x-csrf-token": "guess"}, {"x-csrf-token": other.csrf}):
                out = await c.call("POST", path, body, headers=headers, expect=403)
                assert out["error"]["code"] == "csrf_failed", (path, out)
            # The right token from another site's page is refused too (the Origin says so).
            out = await c.call("POST", path, body, headers={"Origin": "https://evil.example"}, expect=403)
            assert out["error"]["code"] == "csrf_failed"
        # Nothing happened: the key is intact, the node not drained, the session alive.
        assert (await c.get("me"))["email"] == ADMIN_A
        key = next(k for k in (await c.get("keys"))["data"] if k["id"] == key_a)
        assert key["state"] == "active" and key["previous_secret_valid_until"] is None
        assert [n["status"] for n in (await c.get("nodes"))["data"]] == ["online"]
        # A duplicated token header is refused, not resolved either way.
        async with c.http.post(f"{c.url}/console/api/keys", json={"name": "dup"},
                               headers=[("x-csrf-token", c.csrf), ("x-csrf-token", c.csrf)]) as resp:
            assert resp.status == 403
    async with ConsoleClient(world.coord.url) as fresh:
        # Sign-in needs the token of the sign-in page (its pre-session cookie) as well.
        out = await fresh.call("POST", "signin", {"email": ADMIN_A, "password": PASSWORD}, expect=403)
        assert out["error"]["code"] == "csrf_failed"


async def test_sign_in_attempts_are_limited_and_audited(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        for _ in range(4):
            out = await c.sign_in(MEMBER_A, "wrong password!", expect=401)
            assert out["error"]["code"] == "invalid_credentials"
        unknown = await c.sign_in("nobody@org-a.test", "wrong password!", expect=401)
        assert unknown == out  # an unknown email looks exactly like a wrong password
        await c.sign_in(MEMBER_A, "wrong password!", expect=401)  # the fifth for this email
        async with c.http.post(f"{c.url}/console/api/signin", json={"email": MEMBER_A, "password": PASSWORD},
                               headers={"x-csrf-token": c.csrf}) as resp:
            body = await resp.json()
            assert resp.status == 429 and body["error"]["code"] == "signin_rate_limited"
            assert int(resp.headers["retry-after"]) > 0
        await c.get("me", expect=401)
        await c.sign_in(ADMIN_A)  # another email from the same address still may
    events = await world.coord.audit.list(action_prefix="console.signin_failed")
    assert [e.target for e in events] == [f"email:{MEMBER_A}"] * 4 + ["email:nobody@org-a.test", f"email:{MEMBER_A}"]
    assert all(PASSWORD not in str(e.details) and "wrong" not in str(e.details) for e in events)


async def test_a_burst_of_concurrent_guesses_gets_no_more_than_the_allowance(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        await c.page("/console/signin")

        async def guess(i: int) -> int:
            async with c.http.post(f"{c.url}/console/api/signin", json={"email": ADMIN_B, "password": f"guess {i}"},
                                   headers={"x-csrf-token": c.csrf}) as resp:
                return resp.status

        statuses = await asyncio.gather(*(guess(i) for i in range(12)))
        assert sorted(statuses) == [401] * 5 + [429] * 7
        await c.sign_in(ADMIN_B, expect=429)  # the right password too, until the window passes


async def test_malformed_sign_ins_are_openai_shaped_400s(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        await c.page("/console/signin")
        for body in ([], {"email": 5, "password": "x"}, {"email": ADMIN_A}, {"email": "a" * 400, "password": "x"}):
            out = await c.call("POST", "signin", body, expect=400)
            assert set(out["error"]) == {"message", "type", "param", "code"}
        async with c.http.post(f"{c.url}/console/api/signin", data=b"{not json",
                               headers={"x-csrf-token": c.csrf, "content-type": "application/json"}) as resp:
            assert resp.status == 400 and "error" in await resp.json()


async def test_a_member_of_org_a_never_sees_org_b(world: World) -> None:
    node_b, key_b = world.nodes["org-b"], world.keys["org-b"]
    async with ConsoleClient(world.coord.url) as member, ConsoleClient(world.coord.url) as admin:
        await member.sign_in(MEMBER_A)
        await admin.sign_in(ADMIN_A)
        # A member has the playground, models and the org's usage, not the admin pages or calls.
        for path in ("nodes", "keys", "limits", "audit"):
            out = await member.get(path, expect=403)
            assert out["error"]["code"] == "role_required"
            status, _, _ = await member.page(f"/console/{path}")
            assert status == 403
        await member.post("keys", {"name": "x"}, expect=403)
        await member.post("enroll", {}, expect=403)
        await member.post(f"nodes/{world.nodes['org-a']}/drain", expect=403)
        # Naming the other org in a query is refused, never honoured.
        for who in (member, admin):
            for path in ("overview?org=org-b", "models?org=org-b", "usage?org=org-b&by=route",
                         "usage.csv?org=org-b&by=model"):
                out = await who.get(path, expect=403)
                assert out["error"]["code"] == "org_forbidden"
        for path in ("nodes?org=org-b", "keys?org=org-b", "audit?org=org-b", "limits?org=org-b"):
            await admin.get(path, expect=403)
        # Org A's admin sees org A's node and keys only; org B's are "not found", exactly like unknown ids.
        nodes = (await admin.get("nodes"))["data"]
        assert [n["id"] for n in nodes] == [world.nodes["org-a"]] and nodes[0]["name"] == "rig-org-a"
        assert {k["org"] for k in (await admin.get("keys"))["data"]} == {"org-a"}
        for path in (f"nodes/{node_b}/drain", f"nodes/{node_b}/revoke", f"keys/{key_b}/revoke",
                     f"keys/{key_b}/rotate"):
            theirs = await admin.post(path, expect=404)
            unknown = await admin.post(path.replace(node_b, "node_000000000000").replace(key_b, "key_0000"),
                                       expect=404)
            assert theirs["error"]["message"] == unknown["error"]["message"]
        # Changes target the viewer's own org: asking for another one is refused.
        for path in ("keys", "enroll", "playground/key"):
            await admin.post(path, {"org": "org-b", "name": "x"}, expect=403)
        overview = await member.get("overview")
        assert overview["nodes"] == {"online": 1, "total": 1}
        models = (await member.get("models"))["data"]
        assert [m["model"] for m in models] == [MODEL]
        assert {r["route"] for r in models[0]["routes"]} == {f"node:{world.nodes['org-a']}", "provider-a"}
    # Org B's node is untouched, and its admin sees exactly it.
    async with ConsoleClient(world.coord.url) as b:
        await b.sign_in(ADMIN_B)
        nodes = (await b.get("nodes"))["data"]
        assert [(n["id"], n["name"], n["status"]) for n in nodes] == [(node_b, XSS_NAME, "online")]
        assert [k["id"] for k in (await b.get("keys"))["data"]] == [key_b]
        audit = (await b.get("audit"))["data"]
        assert audit and all("org-a" not in str(e) and world.nodes["org-a"] not in str(e) for e in audit)


async def test_usage_is_scoped_to_the_org(world: World) -> None:
    async with ConsoleClient(world.coord.url) as a, ConsoleClient(world.coord.url) as b, \
            ConsoleClient(world.coord.url) as owner:
        await a.sign_in(ADMIN_A)
        await b.sign_in(ADMIN_B)
        await owner.sign_in(OWNER)
        secret = (await a.post("playground/key", {}, expect=201))["secret"]
        async with openai.AsyncOpenAI(base_url=world.coord.url + "/v1", api_key=secret, max_retries=0) as client:
            for _ in range(3):
                await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                     max_tokens=4)
        assert (await a.get("usage?by=model"))["total"]["requests"] == 3
        assert (await b.get("usage?by=model"))["total"]["requests"] == 0
        assert (await owner.get("usage?by=model"))["total"]["requests"] == 3
        assert (await owner.get("usage?by=model&org=org-b"))["total"]["requests"] == 0
        assert (await a.get("overview"))["today"]["requests"] == 3
        spent = await a.get("playground/spent")
        assert spent["requests"] == 3
        async with a.http.get(f"{a.url}/console/api/usage.csv?by=route") as resp:
            assert resp.status == 200 and resp.content_type == "text/csv"
            lines = (await resp.text()).strip().splitlines()
        assert lines[0].startswith("group,requests,") and sum(int(x.split(",")[1]) for x in lines[1:]) == 3


async def test_the_playground_key_lives_only_as_long_as_the_session(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        await c.sign_in(MEMBER_A)
        out = await c.post("playground/key", {}, expect=201)
        assert out["org"] == "org-a" and out["secret"].startswith("sk-")
        async with openai.AsyncOpenAI(base_url=world.coord.url + "/v1", api_key=out["secret"], max_retries=0) as client:
            reply = await client.chat.completions.with_raw_response.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=4,
                extra_headers={"x-shareai-route": "node"})
            assert reply.headers["x-shareai-route"] == f"node:{world.nodes['org-a']}"
            await c.post("signout")
            with pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])


async def test_console_actions_are_audited_with_the_user_as_actor(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        await c.sign_in(ADMIN_A)
        key = await c.post("keys", {"name": "ci"}, expect=201)
        assert key["secret"].startswith("sk-") and key["org"] == "org-a"
        rotated = await c.post(f"keys/{key['id']}/rotate")
        assert rotated["secret"] != key["secret"]
        await c.post(f"keys/{key['id']}/revoke")
        enroll = await c.post("enroll", {}, expect=201)
        token = enroll["token_id"]
        assert all(enroll["commands"][k] for k in ("linux", "macos", "windows", "docker", "agent"))
        assert "--token enr_" in enroll["commands"]["linux"]
        assert f"--coordinator {world.coord.grpc_target}" in enroll["commands"]["agent"]
        await c.post(f"nodes/{world.nodes['org-a']}/drain")
        await c.post("signout")
    events = await world.coord.audit.list()
    mine = [(e.action, e.target) for e in events if e.actor == f"user:{ADMIN_A}"]
    assert ("console.signin", mine[0][1]) == mine[0]
    for expected in (("key.create", f"key:{key['id']}"), ("key.rotate", f"key:{key['id']}"),
                     ("key.revoke", f"key:{key['id']}"), ("token.create", "org:org-a"),
                     ("node.drain", f"node:{world.nodes['org-a']}")):
        assert any(a == expected[0] and t == expected[1] for a, t in mine), (expected, mine)
    assert mine[-1][0] == "console.signout"
    assert any(e.details.get("token_id") == token for e in events)
    async with ConsoleClient(world.coord.url) as c:
        await c.sign_in(ADMIN_A)
        rows = (await c.get(f"audit?actor=user:{ADMIN_A}&action=key."))["data"]
        assert {r["action"] for r in rows} == {"key.create", "key.rotate", "key.revoke"}


async def test_users_over_the_admin_api(world: World) -> None:
    url = world.coord.url
    users = (await admin_call(url, "GET", "/admin/v1/users"))["data"]
    assert {u["email"] for u in users} == {OWNER, ADMIN_A, MEMBER_A, ADMIN_B}
    assert all(set(u) == {"id", "email", "role", "org", "created_at"} for u in users)  # never a hash
    bad = [({"email": "x@y.test", "password": "short", "role": "member", "org": "org-a"}, 400, "weak_password"),
           ({"email": ADMIN_A.upper(), "password": PASSWORD, "role": "member", "org": "org-a"}, 400, "user_exists"),
           ({"email": "x@y.test", "password": PASSWORD, "role": "owner", "org": "org-a"}, 400, "invalid_value"),
           ({"email": "x@y.test", "password": PASSWORD, "role": "member"}, 400, "invalid_value"),
           ({"email": "x@y.test", "password": PASSWORD, "role": "root", "org": "org-a"}, 400, "invalid_value"),
           ({"email": "x@y.test", "password": PASSWORD, "role": "member", "org": "nope"}, 404, "org_not_found"),
           ({"email": "<script>", "password": PASSWORD, "role": "member", "org": "org-a"}, 400, "invalid_value")]
    for body, status, code in bad:
        out = await admin_call(url, "POST", "/admin/v1/users", body, expect=status)
        assert out["error"]["code"] == code, (body, out)
    async with ConsoleClient(url) as c:
        await c.sign_in(MEMBER_A)
        await admin_call(url, "DELETE", f"/admin/v1/users/{MEMBER_A}")
        await c.get("me", expect=401)  # removing a user ends their sessions at once
        await c.sign_in(MEMBER_A, expect=401)
    async with ConsoleClient(url) as c:
        async with c.http.get(f"{url}/admin/v1/users") as resp:
            assert resp.status == 401


async def _cli(url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shareai.coordinator.cli", *args, "--url", url,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SHAREAI_ADMIN_KEY": ADMIN_KEY})
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_user_create_list_remove_on_the_command_line(world: World) -> None:
    url = world.coord.url
    code, out, err = await _cli(url, "user", "create", "cli@org-a.test", "--org", "org-a", "--role", "member",
                                "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert out.strip() == "created member cli@org-a.test in org org-a"
    code, out, _ = await _cli(url, "user", "create", "root@example.test", "--role", "owner", "--password-stdin",
                              stdin=PASSWORD + "\n")
    assert code == 0 and out.strip() == "created owner root@example.test"
    code, _, err = await _cli(url, "user", "create", "x@org-a.test", "--role", "admin", "--password-stdin",
                              stdin=PASSWORD + "\n")
    assert code == 2 and "--org is required" in err
    code, _, err = await _cli(url, "user", "create", "y@org-a.test", "--org", "org-a", "--role", "member",
                              "--password-stdin", stdin="short\n")
    assert code == 1 and err.startswith("error: 400:") and "at least" in err
    code, out, _ = await _cli(url, "user", "list", "--org", "org-a")
    assert code == 0 and "cli@org-a.test" in out and "root@example.test" not in out and PASSWORD not in out
    async with ConsoleClient(url) as c:
        await c.sign_in("cli@org-a.test")
        assert (await c.get("me"))["role"] == "member"
        code, out, _ = await _cli(url, "user", "remove", "cli@org-a.test")
        assert code == 0 and out.strip() == "removed cli@org-a.test"
        await c.get("me", expect=401)
    code, _, err = await _cli(url, "user", "remove", "cli@org-a.test")
    assert code == 1 and "404" in err


async def test_static_files_are_a_fixed_set_served_with_the_policy(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        async with c.http.get(f"{c.url}/console/static/js/lib.js") as resp:
            assert resp.status == 200 and resp.content_type == "text/javascript"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Security-Policy"] == CSP
        for path in ("../subsystem.py", "..%2f..%2fcompose.py", "js/../../passwords.py", "nope.js",
                     "vendor/uplot/LICENSE"):
            async with c.http.get(f"{c.url}/console/static/{path}") as resp:
                assert resp.status == 404, path
        status, _, _ = await c.page("/console/not-a-page")
        assert status == 404


async def test_the_audit_page_shows_the_newest_events_first(world: World) -> None:
    async with ConsoleClient(world.coord.url) as c:
        await c.sign_in(OWNER)
        for i in range(3):
            await c.post("keys", {"name": f"k{i}", "org": "org-a"}, expect=201)
        rows = (await c.get("audit?action=key.create"))["data"]
        names = [r["details"]["name"] for r in rows]
        assert names[:3] == ["k2", "k1", "k0"]
        assert [r["ts"] for r in rows] == sorted((r["ts"] for r in rows), reverse=True)
