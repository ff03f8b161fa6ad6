"""Point-and-enroll on a machine that has never seen the project: the one-liner exactly as README
prints it (plus --prefix into a temporary folder and --no-service), WITHOUT --source, against a
running coordinator. The script installs the agent wheel that coordinator serves (its own version,
SHA-256 checked), enrolls, and the installed agent runs and registers.

Refusals leave nothing behind: a wheel whose bytes do not match the hash in the served script, and
a machine without a C/C++ compiler or cmake (llama-cpp-python would compile from source), stop
with one clear line, a non-zero exit, and no virtualenv or data dir.

The token never reaches the agent's argv (`ps` shows argv to every user): a stand-in virtualenv
whose `shareai-agent` is a real script records its argv, its environment's token and its parent's
(the installer's) command line.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp

import shareai
from shareai import __version__
from shareai.coordinator.app import Coordinator
from shareai.coordinator.install_routes import WHEEL_ROUTE
from tests.installers.test_ubuntu_install import TIMEOUT, admin, run_hint, sh

# README: curl -fsSL http://COORDINATOR:8080/install.sh | sudo sh -s -- --token TOKEN (sudo dropped:
# the test installs into a temporary folder as the current user).
ONE_LINER = 'curl -fsSL "{url}/install.sh" | sh -s -- --token "$T" "$@"'


async def _token(coord: Coordinator, uses: int = 1) -> str:
    await admin(coord, "POST", "/admin/v1/orgs", {"name": "acme"})
    token = await admin(coord, "POST", "/admin/v1/tokens", {"org": "acme", "ttl_s": 600, "uses": uses})
    assert isinstance(token, dict)
    return str(token["token"])


async def _served_sha256(coord: Coordinator) -> str:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as s, s.get(coord.url + WHEEL_ROUTE + ".sha256") as r:
        assert r.status == 200
        return (await r.text()).split()[0]


async def test_one_liner_without_source_installs_the_served_wheel_and_the_agent_registers(
    coord: Coordinator, pip_env: dict[str, str], tmp_path: Path, model_path: Path
) -> None:
    prefix, data = tmp_path / "opt-shareai", tmp_path / "var-lib-shareai"
    token = await _token(coord)
    args = ["--prefix", str(prefix), "--data-dir", str(data), "--no-service", "--python", sys._base_executable,
            "--model", str(model_path), "--chat-format", "gemma", "--name", "fresh-box"]
    rc, out = await sh(["bash", "-o", "pipefail", "-c", ONE_LINER.format(url=coord.url), "install", *args],
                       {**pip_env, "T": token})
    assert rc == 0, out
    sha = await _served_sha256(coord)
    assert f"verified shareai-{__version__}-py3-none-any.whl (sha256 {sha})" in out
    assert re.search(r"^shareai: pip: Successfully installed .*shareai-" + re.escape(__version__), out, re.M), out
    assert "shareai: enrolled" in out and token not in out

    # The installed code is the coordinator's, file for file (not a copy from PyPI or the checkout).
    agent_py = prefix / "bin" / "python"
    probe = await asyncio.create_subprocess_exec(
        str(agent_py), "-c", "import shareai, sys; sys.stdout.write(shareai.__file__)",
        stdout=asyncio.subprocess.PIPE, cwd=tmp_path)
    where, _ = await probe.communicate()
    installed = Path(where.decode()).parent
    assert installed.is_relative_to(prefix)
    served_root = Path(shareai.__file__).parent
    assert (installed / "coordinator" / "install_routes.py").read_bytes() == \
        (served_root / "coordinator" / "install_routes.py").read_bytes()
    version = await asyncio.create_subprocess_exec(str(prefix / "bin" / "shareai-agent"), "--version",
                                                   stdout=asyncio.subprocess.PIPE)
    assert (await version.communicate())[0].decode().strip() == f"shareai-agent {__version__}"

    # What the service would run, run: the agent registers and reports its version.
    log = tmp_path / "agent.log"
    with log.open("wb") as sink:
        agent = await asyncio.create_subprocess_exec(*run_hint(out), "--port", "0", stdout=sink, stderr=sink,
                                                     env=pip_env, cwd=tmp_path)
    try:
        for _ in range(600):
            nodes = await admin(coord, "GET", "/admin/v1/nodes")
            assert isinstance(nodes, dict)
            [node] = nodes["data"]
            if node["status"] == "online" or agent.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert node["status"] == "online", log.read_text(errors="replace")
        assert node["name"] == "fresh-box" and node["models"]
        assert node["agent_version"] == node["coordinator_version"] == __version__
    finally:
        if agent.returncode is None:
            agent.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(agent.wait(), 30)
        except TimeoutError:
            agent.kill()
            await agent.wait()
            raise
    assert agent.returncode == 0, log.read_text(errors="replace")


async def test_a_tampered_wheel_is_refused_and_nothing_is_installed(
    coord: Coordinator, pip_env: dict[str, str], tmp_path: Path
) -> None:
    token = await _token(coord)
    sha = await _served_sha256(coord)  # builds the wheel; the scripts carry this hash
    wheel = coord.config.data_dir / "agent-dist" / f"shareai-{__version__}-py3-none-any.whl"
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == sha
    # A swapped file behind the coordinator's back (a compromised mirror or disk would look the same).
    wheel.write_bytes(wheel.read_bytes() + b"\x00tampered")
    prefix, data = tmp_path / "opt-shareai", tmp_path / "var-lib-shareai"
    rc, out = await sh(["bash", "-o", "pipefail", "-c", ONE_LINER.format(url=coord.url), "install", "--prefix",
                        str(prefix), "--data-dir", str(data), "--no-service", "--python", sys._base_executable],
                       {**pip_env, "T": token})
    assert rc == 1, out
    assert f"shareai: error: refusing shareai-{__version__}-py3-none-any.whl: its SHA-256 is" in out
    assert f"expects {sha} (corrupted or tampered with); nothing was installed" in out
    assert not prefix.exists() and not data.exists()
    assert "shareai: pip:" not in out and "enrolling" not in out


def _path_without_build_tools(folder: Path) -> str:
    """A PATH with every command of this one except C/C++ compilers and cmake (symlinks)."""
    folder.mkdir()
    dropped = re.compile(r"^(cc|c\+\+|cmake.*|.*gcc.*|.*g\+\+.*|clang.*|cpp.*)$")
    for entry in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            link = folder / name
            if dropped.match(name) or link.exists() or link.is_symlink():
                continue
            link.symlink_to(Path(entry) / name)
    return str(folder)


async def test_missing_compiler_stops_with_one_line_and_installs_nothing(coord: Coordinator, tmp_path: Path) -> None:
    token = await _token(coord)
    prefix, data = tmp_path / "opt-shareai", tmp_path / "var-lib-shareai"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}  # pip could build from source
    env.update(PATH=_path_without_build_tools(tmp_path / "bin"), T=token)
    rc, out = await sh(["bash", "-o", "pipefail", "-c", ONE_LINER.format(url=coord.url), "install", "--prefix",
                        str(prefix), "--data-dir", str(data), "--no-service", "--python", sys._base_executable], env)
    assert rc == 1, out
    errors = [line for line in out.splitlines() if line.startswith("shareai: error:")]
    assert errors == ["shareai: error: building llama-cpp-python needs a C compiler a C++ compiler cmake: sudo "
                      "apt-get install -y build-essential cmake (or pass --llama-wheel-index for a prebuilt build)"]
    assert not prefix.exists() and not data.exists()


def _stand_in_venv(prefix: Path, record: Path) -> None:
    """A folder the installer takes for its virtualenv: `python` accepts anything (pip "installs",
    llama_cpp "imports"), and `shareai-agent` records its argv, the token in its environment and
    its parent's command line (the installer), then succeeds."""
    (prefix / "bin").mkdir(parents=True)
    (prefix / "pyvenv.cfg").write_text("home = /usr/bin\n")
    python = prefix / "bin" / "python"
    python.write_text("#!/bin/sh\nexit 0\n")
    agent = prefix / "bin" / "shareai-agent"
    agent.write_text(
        "#!/bin/sh\n"
        f'{{ printf "argv:%s\\n" "$*"; printf "env:%s\\n" "${{SHAREAI_ENROLL_TOKEN:-}}"; '
        f'printf "parent:%s\\n" "$(tr "\\0" " " < /proc/$PPID/cmdline)"; }} >> "{record}"\n')
    python.chmod(0o755)
    agent.chmod(0o755)


async def test_the_token_reaches_enroll_through_the_environment_never_argv(coord: Coordinator, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sa-enroll-from-file\n")
    token_file.chmod(0o600)
    served = f'curl -fsSL "{coord.url}/install.sh" | sh -s -- "$@"'
    ways = {
        "file": (["--token-file", str(token_file)], {}, "sa-enroll-from-file"),
        "env": ([], {"SHAREAI_ENROLL_TOKEN": "sa-enroll-from-env"}, "sa-enroll-from-env"),
        "argv": (["--token", "sa-enroll-from-argv"], {}, "sa-enroll-from-argv"),
    }
    for way, (extra, env_extra, token) in ways.items():
        prefix, record = tmp_path / way / "venv", tmp_path / way / "record"
        _stand_in_venv(prefix, record)
        rc, out = await sh(["bash", "-o", "pipefail", "-c", served, "install", "--prefix", str(prefix), "--data-dir",
                            str(tmp_path / way / "data"), "--no-service", "--python", sys._base_executable, *extra],
                           {**os.environ, **env_extra})
        assert rc == 0, out
        argv, env, parent = record.read_text().splitlines()
        assert argv == (f"argv:enroll --coordinator 127.0.0.1:{coord.grpc_port} --data-dir {tmp_path / way / 'data'}"
                        ), way
        assert env == f"env:{token}", way
        if way != "argv":  # given on the installer's own command line, it is there: documented, not hidden
            assert token not in parent, way
        assert token not in out, way


async def test_macos_script_checks_the_wheel_and_the_command_line_tools_first(
    coord: Coordinator, tmp_path: Path
) -> None:
    """The macOS installer's refusals run before anything macOS-specific, so they run here too."""
    prefix, data = tmp_path / "shareai-venv", tmp_path / "shareai-data"
    served = f'curl -fsSL "{coord.url}/install/macos.sh" | sh -s -- "$@"'
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PATH"] = _path_without_build_tools(tmp_path / "bin")  # and no xcode-select on Linux
    args = ["--prefix", str(prefix), "--data-dir", str(data), "--no-load", "--python", sys._base_executable]
    rc, out = await sh(["bash", "-o", "pipefail", "-c", served, "install", *args], env)
    assert rc == 1, out
    assert [line for line in out.splitlines() if line.startswith("shareai: error:")] == [
        "shareai: error: building llama-cpp-python needs the Xcode Command Line Tools: xcode-select --install "
        "(or pass --llama-wheel-index for a prebuilt build)"]
    assert "verified shareai-" in out  # the wheel was checked first
    assert not prefix.exists() and not data.exists()
    wheel = coord.config.data_dir / "agent-dist" / f"shareai-{__version__}-py3-none-any.whl"
    wheel.write_bytes(b"PK not the wheel")
    rc, out = await sh(["bash", "-o", "pipefail", "-c", served, "install", *args, "--llama-wheel-index", "metal"], env)
    assert rc == 1 and "corrupted or tampered with); nothing was installed" in out, out
    assert not prefix.exists() and not data.exists()


async def test_a_long_pip_step_prints_progress_instead_of_going_silent(coord: Coordinator, tmp_path: Path) -> None:
    """A stand-in `python` whose pip prints one line, then stays silent until the test has seen the
    installer's heartbeat (no timing assumption: the stand-in waits for the test, not a clock)."""
    prefix, sentinel = tmp_path / "venv", tmp_path / "heartbeat-seen"
    _stand_in_venv(prefix, tmp_path / "record")
    (prefix / "bin" / "python").write_text(
        '#!/bin/sh\ncase "$*" in\n  *"-m pip install"*"--force-reinstall"*) exit 0 ;;\n'
        '  *"-m pip install"*) echo "Collecting shareai (from the stand-in)"\n'
        f'    while [ ! -f "{sentinel}" ]; do sleep 0.1; done\n'
        '    echo "Successfully installed shareai-stand-in" ;;\nesac\nexit 0\n')
    served = f'curl -fsSL "{coord.url}/install.sh" | sh -s -- "$@"'
    proc = await asyncio.create_subprocess_exec(
        "bash", "-o", "pipefail", "-c", served, "install", "--prefix", str(prefix), "--data-dir",
        str(tmp_path / "data"), "--no-service", "--python", sys._base_executable,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "SHAREAI_PROGRESS_S": "1"})
    assert proc.stdout is not None
    lines: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode().rstrip("\n")
            lines.append(line)
            if line.startswith("shareai: still installing ("):
                sentinel.touch()

    try:
        await asyncio.wait_for(asyncio.gather(read(), proc.wait()), 120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    out = "\n".join(lines)
    assert proc.returncode == 0, out
    first = lines.index("shareai: pip: Collecting shareai (from the stand-in)")
    beat = next(i for i, line in enumerate(lines) if line.startswith("shareai: still installing ("))
    assert lines[beat].endswith("s): Collecting shareai (from the stand-in)")  # with pip's last line
    done = lines.index("shareai: pip: Successfully installed shareai-stand-in")
    assert first < beat < done
