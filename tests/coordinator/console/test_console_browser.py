"""The console in a real browser: Playwright for Python driving Debian's Chromium (`make tools`
installs it; Playwright's own browser downloads are never used).

One deployment for the module: a real coordinator (in a thread of its own), a fake provider as a real
HTTP server, two orgs with console users; the machine is enrolled by running the command the console
shows (a real `shareai-agent` process on the light backend). With SHAREAI_CONSOLE_SCREENSHOTS=DIR the
last test writes a screenshot of each page there (docs/console/*.png are made this way).
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import openai
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from shareai.coordinator.compose import ComposedCoordinator, build_coordinator
from shareai.coordinator.config import ProviderConfig, ProviderModel
from shareai.testing.fake_provider import FakeProvider
from tests.coordinator.console.conftest import ADMIN_A, ADMIN_B, MODEL, OWNER, PASSWORD, XSS_NAME, admin_call
from tests.coordinator.fleet.conftest import ADMIN_KEY, make_config

CHROMIUM = "/usr/bin/chromium"
T = TypeVar("T")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium: run `make tools`")


class Deployment:
    """The coordinator and a fake provider on an event loop in a background thread, so the tests
    can drive the browser with Playwright's synchronous API."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="console-deployment", daemon=True)
        self.coord: ComposedCoordinator
        self.provider: FakeProvider
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        self.provider = await FakeProvider(model=MODEL, reply="Hello from the provider").start()
        cfg = make_config(self.tmp / "coord", interval_s=1.0)
        cfg.providers = [ProviderConfig(name="provider-a", base_url=self.provider.base_url, api_keys=["pk-test"],
                                        models=[ProviderModel(MODEL, MODEL, 0.5, 1.5)])]
        self.coord = build_coordinator(cfg, admin_key=ADMIN_KEY)
        await self.coord.start()
        for org in ("org-a", "org-b"):
            await admin_call(self.coord.url, "POST", "/admin/v1/orgs", {"name": org})
        for email, role, org in ((OWNER, "owner", None), (ADMIN_A, "admin", "org-a"), (ADMIN_B, "admin", "org-b")):
            await admin_call(self.coord.url, "POST", "/admin/v1/users",
                             {"email": email, "password": PASSWORD, "role": role, "org": org})

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.run(self.coord.stop(grace_s=1.0))
        self.run(self.provider.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def agent(self, command: str, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        """Runs the console's "agent already installed" command as shown, on this machine's agent."""
        argv = shlex.split(command)
        assert argv[0] == "shareai-agent", command
        return subprocess.run([sys.executable, "-m", "shareai.agent.cli", *argv[1:], "--data-dir", str(data_dir),
                               *extra], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = Deployment(tmp_path_factory.mktemp("console"))
    d.start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """What a page must never do: open a dialog (an XSS `alert`) or break its CSP."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def check(self) -> None:
        assert self.dialogs == []
        assert [e for e in self.errors if "401" not in e] == []


def sign_in(browser: Browser, deployment: Deployment, email: str, *, width: int = 1280) -> tuple[Page, Watch]:
    page = browser.new_context(viewport={"width": width, "height": 800}, base_url=deployment.coord.url).new_page()
    watch = Watch(page)
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    page.get_by_test_id("login-email").fill(email)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("stat-requests")).to_be_visible()
    return page, watch


expect.set_options(timeout=30_000)


def test_a_wrong_password_is_shown_in_place(browser: Browser, deployment: Deployment) -> None:
    page = browser.new_page(base_url=deployment.coord.url)
    watch = Watch(page)
    page.goto("/console/signin")
    page.get_by_test_id("login-email").fill(ADMIN_A)
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    watch.errors = [e for e in watch.errors if "status of 401" not in e]  # the failed fetch is logged
    watch.check()
    page.close()


def test_enroll_a_machine_with_the_consoles_command_and_see_it_online(browser: Browser,
                                                                     deployment: Deployment) -> None:
    page, watch = sign_in(browser, deployment, ADMIN_A)
    page.get_by_role("link", name="Nodes").click()
    expect(page.get_by_text("No nodes yet")).to_be_visible()
    page.get_by_test_id("enroll-create").click()
    command = page.get_by_test_id("enroll-command").inner_text()
    token = re.search(r"--token (enr_\S+)", command)
    assert token is not None and command.startswith(f"curl -fsSL {deployment.coord.url}/install.sh | sudo sh")
    for testid in ("enroll-command-macos", "enroll-command-windows", "enroll-command-docker"):
        assert token.group(1) in page.get_by_test_id(testid).inner_text()
    agent_command = page.get_by_test_id("enroll-command-agent").inner_text()
    assert token.group(1) in agent_command

    data_dir = deployment.tmp / "agent-a"
    done = deployment.agent(agent_command, data_dir, "--name", "browser-rig")
    assert done.returncode == 0, done.stderr
    config = deployment.tmp / "agent.toml"
    config.write_text(f'[agent]\nport = 0\n\n[[models]]\nname = "{MODEL}"\nbackend = "fake"\n')
    deployment.procs.append(subprocess.Popen(
        [sys.executable, "-m", "shareai.agent.cli", "run", "--config", str(config), "--data-dir", str(data_dir),
         "--log-level", "warning"]))
    # The table refreshes by itself: the node shows up, then comes online.
    row = page.get_by_test_id("node-row").filter(has_text="browser-rig")
    expect(row).to_contain_text("online")
    expect(row).to_contain_text(MODEL)
    watch.check()
    page.context.close()


def test_create_a_key_and_use_it_with_the_openai_sdk(browser: Browser, deployment: Deployment) -> None:
    page, watch = sign_in(browser, deployment, ADMIN_A)
    page.goto("/console/keys")
    page.get_by_test_id("key-name").fill("from the browser")
    page.get_by_test_id("key-create").click()
    secret = page.get_by_test_id("key-secret").inner_text().strip()
    assert secret.startswith("sk-")
    expect(page.get_by_test_id("key-row").filter(has_text="from the browser")).to_contain_text("active")
    client = openai.OpenAI(base_url=deployment.coord.url + "/v1", api_key=secret, max_retries=0, timeout=30.0)
    reply = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=8)
    assert reply.choices[0].message.content
    client.close()
    watch.check()
    page.context.close()


def test_stream_in_the_playground_and_see_the_usage_chart_move(browser: Browser, deployment: Deployment) -> None:
    page, watch = sign_in(browser, deployment, ADMIN_A)
    page.goto("/console/usage")
    chart = page.get_by_test_id("usage-chart")
    expect(chart).to_have_attribute("data-requests", re.compile(r"^\d+$"))
    before = int(chart.get_attribute("data-requests") or "0")

    page.goto("/console/playground")
    expect(page.get_by_test_id("playground-model")).to_have_value(MODEL)
    page.get_by_test_id("playground-policy").select_option("route:node")
    page.get_by_test_id("playground-input").fill("Say hello")
    page.get_by_test_id("playground-send").click()
    expect(page.get_by_test_id("playground-route")).to_have_text(re.compile(r"^node:node_"))
    expect(page.get_by_test_id("playground-output")).not_to_be_empty()
    expect(page.get_by_test_id("playground-attempts")).to_have_text("1")
    expect(page.get_by_test_id("playground-cost")).to_have_text(re.compile(r"^\$\d"))
    assert page.get_by_test_id("playground-stream").is_checked()

    page.goto("/console/usage")
    expect(page.get_by_test_id("usage-chart")).to_have_attribute("data-requests", str(before + 1))
    expect(page.get_by_test_id("usage-chart").locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("usage-table")).to_contain_text(MODEL)
    with page.expect_download() as download:
        page.get_by_test_id("usage-csv-route").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("group,requests,") and "node:node_" in text
    watch.check()
    page.context.close()


def test_another_orgs_admin_sees_none_of_it(browser: Browser, deployment: Deployment) -> None:
    page, watch = sign_in(browser, deployment, ADMIN_B)
    page.goto("/console/nodes")
    expect(page.get_by_text("No nodes yet")).to_be_visible()
    page.goto("/console/keys")
    expect(page.get_by_text("No API keys yet")).to_be_visible()
    page.goto("/console/usage")
    expect(page.get_by_test_id("usage-chart")).to_have_attribute("data-requests", "0")
    page.goto("/console/audit")
    expect(page.get_by_test_id("audit-row").first).to_be_visible()  # its own sign-in
    assert "browser-rig" not in page.content() and ADMIN_A not in page.content()
    # Asking the JSON calls for org A directly, with this session, is refused.
    for path in ("nodes?org=org-a", "keys?org=org-a", "usage?org=org-a"):
        assert page.request.get(f"/console/api/{path}").status == 403
    watch.check()
    page.context.close()


def test_a_hostile_node_name_renders_as_text(browser: Browser, deployment: Deployment) -> None:
    owner = deployment.run(admin_call(deployment.coord.url, "POST", "/admin/v1/tokens", {"org": "org-a"}))
    done = deployment.agent(f"shareai-agent enroll --coordinator {deployment.coord.grpc_target} --token "
                            f"{owner['token']}", deployment.tmp / "agent-xss", "--name", XSS_NAME)
    assert done.returncode == 0, done.stderr
    page, watch = sign_in(browser, deployment, ADMIN_A)
    page.goto("/console/nodes")
    row = page.get_by_test_id("node-row").filter(has_text=XSS_NAME)
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("node-name")).to_have_text(XSS_NAME)
    assert page.locator("main img").count() == 0
    page.goto("/console/audit")
    expect(page.get_by_test_id("audit-row").first).to_be_visible()
    assert page.locator("main img").count() == 0
    watch.check()  # no alert() dialog, no CSP violation
    page.context.close()


def test_every_page_renders_without_errors(browser: Browser, deployment: Deployment) -> None:
    """Each page as an owner (every org), at 1280 px and on a phone; screenshots when asked."""
    shots = os.environ.get("SHAREAI_CONSOLE_SCREENSHOTS")
    for width, suffix in ((1280, ""), (390, "-phone")):
        page, watch = sign_in(browser, deployment, OWNER, width=width)
        for path, ready in (("", "stat-requests"), ("nodes", "node-row"), ("models", "model-card"),
                            ("playground", "playground-send"), ("keys", "key-row"), ("usage", "usage-table"),
                            ("limits", None), ("audit", "audit-row")):
            page.goto(f"/console/{path}")
            if ready is not None:
                expect(page.get_by_test_id(ready).first).to_be_visible()
            else:
                expect(page.get_by_text("No limits")).to_be_visible()
            if path == "playground" and not suffix:  # one exchange, without streaming, for the picture
                page.get_by_test_id("playground-stream").uncheck()
                page.get_by_test_id("playground-input").fill("Hello!")
                page.get_by_test_id("playground-send").click()
                expect(page.get_by_test_id("playground-output")).not_to_be_empty()
                expect(page.get_by_test_id("playground-route")).to_have_text(re.compile(r"^(node:|provider-a)"))
            if shots and (not suffix or path in ("", "nodes")):
                page.screenshot(path=str(Path(shots) / f"{path or 'overview'}{suffix}.png"))
        watch.check()
        page.context.close()
    if shots:
        page = browser.new_page(base_url=deployment.coord.url, viewport={"width": 1280, "height": 800})
        page.goto("/console/signin")
        page.screenshot(path=str(Path(shots) / "signin.png"))
        page.close()
