"""The product's acceptance checklist, run against a live deployment (`shareai-coordinator smoke`).

    shareai-coordinator smoke --url http://127.0.0.1:8080 --api-key sk-... --admin-key sa-admin-... --model M

1. routes    a 200 through every route that serves M (each provider, each node), pinned with
             `x-shareai-route`;
2. failover  the admin fault switch fails the gateway's own calls to provider A at the transport;
             requests keep succeeding through the other routes (both pinned as `A,others` and
             unpinned), the switch counts that A really was tried; the switch is always turned off;
3. cost      the same prompt over each route: the cost each answer reports, next to what the usage
             report says per route for the same requests;
4. cache     on an org with `cache=all`: a repeated prompt is a cache hit that costs nothing, and a
             streamed repeat replays from cache too;
5. limits    on a throwaway org: a key with a 2 requests/minute limit gets 429 with `retry-after` and
             `x-ratelimit-*` on its third request; a key with a daily token quota gets 429
             `insufficient_quota` before its tokens overshoot the quota.

Checks 2 to 5 need the admin key (they switch faults, read reports and create orgs); without it they
fail and say so. The throwaway orgs are removed at the end, whatever happened. The exit code is 0
only when every check passed.
"""

from __future__ import annotations

import json
import secrets
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

CHECKS = ("routes", "failover", "cost", "cache", "limits")


@dataclass(slots=True)
class Row:
    check: str
    route: str
    status: str
    latency_ms: float | None
    cost_usd: float | None
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "route": self.route, "status": self.status, "latency_ms": self.latency_ms,
                "cost_usd": self.cost_usd, "verdict": "pass" if self.ok else "FAIL", "detail": self.detail}


@dataclass(slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    latency_ms: float

    @property
    def route(self) -> str:
        return self.headers.get("x-shareai-route", "")

    @property
    def cost(self) -> float | None:
        value = self.headers.get("x-shareai-cost-usd")
        return float(value) if value is not None else None

    def error(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            err = self.body["error"]
            return f"{err.get('code') or err.get('type')}: {err.get('message')}"
        return str(self.body)[:120]


class SmokeError(Exception):
    """The deployment could not be checked at all (unreachable, bad admin key, unknown model)."""


class Smoke:
    def __init__(self, url: str, api_key: str, *, admin_key: str | None, model: str, timeout_s: float = 120.0,
                 max_tokens: int = 12, ca_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.ca_file = ca_file  # a private CA for an https:// coordinator (`--tls-ca`)
        self.api_key = api_key
        self.admin_key = admin_key
        self.model = model
        self.max_tokens = max_tokens
        self.rows: list[Row] = []
        self.tag = "smoke-" + secrets.token_hex(4)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    # -- HTTP -----------------------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None
        return self._session

    async def chat(self, key: str, content: str, *, headers: dict[str, str] | None = None,
                   stream: bool = False) -> Answer:
        body: dict[str, Any] = {"model": self.model, "messages": [{"role": "user", "content": content}],
                                "max_tokens": self.max_tokens, "temperature": 0}
        if stream:
            body["stream"] = True
        t0 = time.monotonic()
        async with self.session.post(f"{self.url}/v1/chat/completions", json=body,
                                     headers={"Authorization": f"Bearer {key}", **(headers or {})}) as resp:
            raw = await resp.read()
            latency = (time.monotonic() - t0) * 1000
            hdrs = {k.lower(): v for k, v in resp.headers.items()}
            if stream and resp.status == 200:
                parsed: Any = raw.decode(errors="replace")
            else:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = raw.decode(errors="replace")
            return Answer(resp.status, hdrs, parsed, latency)

    async def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if not self.admin_key:
            raise SmokeError("needs --admin-key")
        async with self.session.request(method, self.url + path, json=body,
                                        headers={"Authorization": f"Bearer {self.admin_key}"}) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 300:
                message = data.get("error", {}).get("message") if isinstance(data, dict) else data
                raise SmokeError(f"{method} {path}: {resp.status} {message}")
            return data

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> list[Row]:
        tls = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True
        async with aiohttp.ClientSession(timeout=self._timeout,
                                         connector=aiohttp.TCPConnector(ssl=tls)) as self._session:
            routes = await self.discover()
            await self.check_routes(routes)
            await self._guarded("failover", self.check_failover, routes)
            await self._guarded("cost", self.check_cost, routes)
            try:
                await self._guarded("cache", self.check_cache)
                await self._guarded("limits", self.check_limits)
            finally:
                await self.cleanup()
        self._session = None
        return self.rows

    async def _guarded(self, check: str, fn: Any, *args: Any) -> None:
        try:
            await fn(*args)
        except (SmokeError, aiohttp.ClientError, TimeoutError) as exc:
            self.rows.append(Row(check, "-", "-", None, None, False, str(exc) or type(exc).__name__))

    async def discover(self) -> list[dict[str, Any]]:
        """The routes serving the model: from the admin API, or (without the admin key) the
        providers and nodes the caller can see are unknown, so only the unpinned route is checked."""
        try:
            async with self.session.get(f"{self.url}/v1/models/{self.model}",
                                        headers={"Authorization": f"Bearer {self.api_key}"}) as resp:
                if resp.status == 401:
                    raise SmokeError("the API key was refused (401)")
                if resp.status == 404:
                    raise SmokeError(f"the model '{self.model}' is not routable for this API key (404)")
        except aiohttp.ClientConnectionError as exc:
            raise SmokeError(f"cannot reach {self.url}: {exc}") from None
        if not self.admin_key:
            return []
        listed = await self.admin("GET", f"/admin/v1/routes?model={self.model}")
        return list(listed["data"])

    async def check_routes(self, routes: list[dict[str, Any]]) -> None:
        if not routes:
            answer = await self.chat(self.api_key, "Say hello.")
            self.rows.append(Row("routes", answer.route or "-", str(answer.status), answer.latency_ms, answer.cost,
                                 False, "needs --admin-key to list and pin every route"))
            return
        for r in routes:
            answer = await self.chat(self.api_key, "Say hello.", headers={"x-shareai-route": r["route"]})
            ok = answer.status == 200 and answer.route == r["route"]
            detail = "" if ok else (answer.error() if answer.status != 200 else f"served by {answer.route}")
            self.rows.append(Row("routes", r["route"], str(answer.status), answer.latency_ms, answer.cost, ok, detail))
        if not any(r["kind"] == "node" for r in routes):
            self.rows.append(Row("routes", "node", "-", None, None, False, "no enrolled node serves this model"))
        if sum(1 for r in routes if r["kind"] == "provider") < 2:
            self.rows.append(Row("routes", "providers", "-", None, None, False,
                                 "the checklist needs two providers for this model"))

    async def check_failover(self, routes: list[dict[str, Any]]) -> None:
        if not self.admin_key:
            raise SmokeError("needs --admin-key")
        providers = [r["route"] for r in routes if r["kind"] == "provider"]
        if not providers or len(routes) < 2:
            raise SmokeError("needs a provider and at least one other route")
        victim = providers[0]
        others = [r["route"] for r in routes if r["route"] != victim]
        await self.admin("POST", "/admin/v1/faults", {"route": victim, "enabled": True})
        answers: list[tuple[str, Answer]] = []
        try:
            # Unpinned first: the deployment's own policy decides (A is tried if it ranks first);
            # then pinned as "A, then the others", so A is tried first whatever the policy says.
            for i in range(3):
                answers.append(("unpinned", await self.chat(self.api_key, f"Failover check unpinned {i}.")))
            for i in range(3):
                chain = ",".join([victim, *others])
                answers.append((f"{victim} first", await self.chat(self.api_key, f"Failover check {i}.",
                                                                    headers={"x-shareai-route": chain})))
            faults = await self.admin("GET", "/admin/v1/faults")
        finally:
            await self.admin("POST", "/admin/v1/faults", {"route": victim, "enabled": False})
        hits = next((f["hits"] for f in faults["data"] if f["route"] == victim), 0)
        for how, answer in answers:
            ok = answer.status == 200 and answer.route not in ("", victim)
            if how != "unpinned":
                ok = ok and int(answer.headers.get("x-shareai-attempts", "0")) >= 2
            detail = f"{how}; {victim} down; attempts {answer.headers.get('x-shareai-attempts', '?')}"
            if answer.status != 200:
                detail += f"; {answer.error()}"
            self.rows.append(Row("failover", answer.route or "-", str(answer.status), answer.latency_ms, answer.cost,
                                 ok, detail))
        self.rows.append(Row("failover", victim, "-", None, None, hits >= 3,
                             f"the gateway tried {victim} {hits} time(s) while it was down; restored"))

    async def _org(self, suffix: str, **settings: Any) -> str:
        name = f"{self.tag}{suffix}"
        await self.admin("POST", "/admin/v1/orgs", {"name": name, **settings})
        return name

    async def _key(self, org: str, name: str) -> tuple[str, str]:
        key = await self.admin("POST", "/admin/v1/keys", {"org": org, "name": name})
        return key["id"], key["secret"]

    async def check_cost(self, routes: list[dict[str, Any]]) -> None:
        """Sent with the admin key, which may use every route (every org's nodes too) and whose
        requests the usage report can isolate (`key=admin`, since the check began)."""
        if not routes or not self.admin_key:
            raise SmokeError("no routes to compare" if self.admin_key else "needs --admin-key")
        since = time.time() - 1
        prompt = f"Compare routes {self.tag}: name three colours."
        sent: dict[str, Answer] = {}
        for r in routes:
            sent[r["route"]] = await self.chat(self.admin_key, prompt, headers={"x-shareai-route": r["route"]})
        report = await self.admin("GET", f"/admin/v1/usage?by=route&key=admin&since={since}")
        by_route = {g["group"]: g for g in report["data"]}
        for route, answer in sent.items():
            group = by_route.get(route)
            reported = group["cost_usd"] if group else None
            ok = (answer.status == 200 and group is not None and group["requests"] == 1 and answer.cost is not None
                  and reported is not None and abs(answer.cost - reported) <= max(1e-9, 0.01 * abs(answer.cost)))
            usage = answer.body.get("usage", {}) if isinstance(answer.body, dict) else {}
            detail = (f"tokens {usage.get('prompt_tokens', '?')}+{usage.get('completion_tokens', '?')}; "
                      f"report: {group['requests'] if group else 0} request(s), cost {reported}")
            if answer.status != 200:
                detail += f"; {answer.error()}"
            self.rows.append(Row("cost", route, str(answer.status), answer.latency_ms, answer.cost, ok, detail))
        priced = {route: a.cost for route, a in sent.items() if a.cost is not None}
        if priced:
            cheapest = min(priced, key=lambda k: priced[k])
            self.rows.append(Row("cost", cheapest, "-", None, priced[cheapest], True,
                                 "cheapest route for this prompt"))

    async def check_cache(self) -> None:
        org = await self._org("-cache", cache="all", cache_ttl_s=300)
        _, secret = await self._key(org, "cache")
        prompt = f"Cache check {self.tag}: repeat after me."
        first = await self.chat(secret, prompt)
        second = await self.chat(secret, prompt)
        streamed = await self.chat(secret, prompt, stream=True)
        self.rows.append(Row("cache", first.route or "-", str(first.status), first.latency_ms, first.cost,
                             first.status == 200 and first.headers.get("x-shareai-cache") == "miss",
                             f"first: cache {first.headers.get('x-shareai-cache', 'n/a')}"))
        same = isinstance(first.body, dict) and isinstance(second.body, dict) and \
            first.body.get("choices") == second.body.get("choices")
        self.rows.append(Row("cache", second.route or "-", str(second.status), second.latency_ms, second.cost,
                             second.status == 200 and second.headers.get("x-shareai-cache") == "hit"
                             and second.cost == 0 and same,
                             f"repeat: cache {second.headers.get('x-shareai-cache', 'n/a')}, same answer: {same}"))
        replayed = isinstance(streamed.body, str) and streamed.body.rstrip().endswith("data: [DONE]")
        self.rows.append(Row("cache", streamed.route or "-", str(streamed.status), streamed.latency_ms,
                             streamed.cost, streamed.status == 200 and
                             streamed.headers.get("x-shareai-cache") == "hit" and replayed,
                             f"streamed repeat: cache {streamed.headers.get('x-shareai-cache', 'n/a')}"))

    async def check_limits(self) -> None:
        org = await self._org("-limits", cache="off")
        rl_id, rl_secret = await self._key(org, "rate-limited")
        await self.admin("POST", "/admin/v1/limits", {"org": org, "key": rl_id, "rpm": 2})
        answers = [await self.chat(rl_secret, f"Rate limit check {i}.") for i in range(3)]
        codes = [a.status for a in answers]
        last = answers[-1]
        ok = codes == [200, 200, 429] and "retry-after" in last.headers and \
            last.headers.get("x-ratelimit-limit-requests") == "2"
        self.rows.append(Row("limits", "rpm=2", "/".join(map(str, codes)), last.latency_ms, None, ok,
                             f"third request: retry-after {last.headers.get('retry-after', 'missing')}s, "
                             f"remaining {last.headers.get('x-ratelimit-remaining-requests', '?')}"))

        # A request reserves an upper bound: 64 tokens a request, 16 a message, the prompt's bytes (under
        # 40 here) and max_tokens (docs/architecture.md, Governance). One reservation plus a little
        # lets a few requests through (they use far less) before the quota refuses one.
        quota = (64 + 16 + 40 + self.max_tokens) + 3 * self.max_tokens
        q_id, q_secret = await self._key(org, "quota")
        await self.admin("POST", "/admin/v1/limits", {"org": org, "key": q_id, "daily_tokens": quota})
        codes = []
        refused: Answer | None = None
        for i in range(12):
            answer = await self.chat(q_secret, f"Quota check {i}.")
            codes.append(answer.status)
            if answer.status == 429:
                refused = answer
                break
        report = await self.admin("GET", f"/admin/v1/usage?by=key&org={org}")
        used = next((g["total_tokens"] for g in report["data"] if g["group"] == q_id), 0)
        code = (refused.body.get("error", {}).get("code") if refused is not None and isinstance(refused.body, dict)
                else None)
        ok = refused is not None and code == "insufficient_quota" and used <= quota and codes[0] == 200
        self.rows.append(Row("limits", f"daily_tokens={quota}", "/".join(map(str, codes)),
                             refused.latency_ms if refused else None, None, ok,
                             f"refused with {code or 'nothing'} after {len(codes) - 1} request(s); "
                             f"{used} of {quota} tokens used"))

    async def cleanup(self) -> None:
        if not self.admin_key:
            return
        orgs = await self.admin("GET", "/admin/v1/orgs")
        for org in orgs["data"]:
            if org["name"].startswith(self.tag):
                await self.admin("DELETE", f"/admin/v1/orgs/{org['name']}")


def render(rows: list[Row]) -> str:
    header = ("CHECK", "ROUTE", "STATUS", "LATENCY", "COST USD", "VERDICT", "DETAIL")
    lines = [(r.check, r.route, r.status, f"{r.latency_ms:.0f} ms" if r.latency_ms is not None else "-",
              f"{r.cost_usd:.8f}" if r.cost_usd is not None else "-", "pass" if r.ok else "FAIL", r.detail)
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
           for row in (header, *lines)]
    passed = {c for c in CHECKS if any(r.check == c for r in rows) and all(r.ok for r in rows if r.check == c)}
    out.append("")
    out.append(f"{len(passed)} passed, {len(CHECKS) - len(passed)} failed: "
               + ", ".join(f"{c} {'ok' if c in passed else 'FAILED'}" for c in CHECKS))
    return "\n".join(out)


def all_passed(rows: list[Row]) -> bool:
    return all(any(r.check == c for r in rows) for c in CHECKS) and all(r.ok for r in rows)
