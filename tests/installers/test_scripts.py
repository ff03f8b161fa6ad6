"""Static checks of the install scripts: shellcheck, installers/ links to the package data the
coordinator serves, the systemd unit verifies, the plist parses, the PowerShell script
carries its parameters and marker."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.installers.paths import COPIES, DATA, INSTALLERS, REPO

# installers/ holds links to the package data (one copy of each script): check each file once.
SHELL_SCRIPTS = sorted({p for p in (*INSTALLERS.rglob("*.sh"), *DATA.glob("*.sh")) if not p.is_symlink()})


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


def test_every_script_is_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in SHELL_SCRIPTS}
    assert {"shareai/installers_data/ubuntu.sh", "shareai/installers_data/macos.sh",
            "shareai/installers_data/install.sh", "installers/docker/agent-entrypoint.sh"} <= names


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shellcheck(script: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is not installed: apt-get install -y shellcheck (make tools)")
    out = run("shellcheck", "--shell=sh", "--severity=style", str(script))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("copy", sorted(COPIES), ids=lambda p: p.relative_to(REPO).as_posix())
def test_documented_location_links_to_the_served_package_data(copy: Path) -> None:
    assert copy.is_symlink(), f"{copy.relative_to(REPO)} must be a link to {COPIES[copy].relative_to(REPO)}"
    assert copy.resolve() == COPIES[copy].resolve()
    assert copy.read_bytes() == COPIES[copy].read_bytes()


def test_usage_lists_every_option() -> None:
    for script in (DATA / "ubuntu.sh", DATA / "macos.sh"):
        out = run("sh", str(script), "--help")
        assert out.returncode == 0
        handled = {w.split(")")[0] for w in script.read_text().split() if w.startswith("--") and w.endswith(")")}
        for option in handled:
            assert option in out.stdout, f"{script.name}: {option} handled but not in --help"
        assert {"--tls", "--tls-ca", "--no-tls"} <= handled, script.name
    bad = run("sh", str(DATA / "ubuntu.sh"), "--bogus")
    assert bad.returncode == 1 and "unknown option: --bogus" in bad.stderr
    missing = run("sh", str(DATA / "ubuntu.sh"), "--token")
    assert missing.returncode == 1 and "--token needs a value" in missing.stderr
    missing = run("sh", str(DATA / "macos.sh"), "--tls-ca")
    assert missing.returncode == 1 and "--tls-ca needs a value" in missing.stderr


def unit_for(prefix: Path, data_dir: Path, *extra: str) -> str:
    out = run("sh", str(DATA / "ubuntu.sh"), "--print-unit", "--prefix", str(prefix), "--data-dir", str(data_dir),
              *extra)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_unit_content(tmp_path: Path) -> None:
    unit = unit_for(tmp_path / "venv", tmp_path / "data", "--model", "/models/m 100%.gguf", "--model-name", "m",
                    "--chat-format", "gemma", "--user", "svc")
    lines = unit.splitlines()
    assert "User=svc" in lines and "Restart=on-failure" in lines and "WantedBy=multi-user.target" in lines
    assert f"WorkingDirectory={tmp_path / 'data'}" in lines
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    assert exec_start == (f'ExecStart="{tmp_path}/venv/bin/shareai-agent" "run" "--data-dir" "{tmp_path}/data" '
                          '"--model" "/models/m 100%%.gguf" "--model-name" "m" "--chat-format" "gemma"')


def exec_start(unit: str) -> str:
    return next(line for line in unit.splitlines() if line.startswith("ExecStart="))


def test_unit_runs_the_agent_over_tls_and_a_rerun_keeps_the_choice(tmp_path: Path) -> None:
    venv, data = tmp_path / "venv", tmp_path / "data"
    base = f'ExecStart="{venv}/bin/shareai-agent" "run" "--data-dir" "{data}"'
    assert exec_start(unit_for(venv, data)) == base
    assert exec_start(unit_for(venv, data, "--tls")) == base + ' "--tls"'
    # The service reads the CA from its data dir (the installer copies it there for the service user).
    with_ca = base + f' "--tls" "--tls-ca" "{data}/tls-ca.pem"'
    assert exec_start(unit_for(venv, data, "--tls-ca", "rel/ca.pem")) == with_ca
    # What an earlier run kept in the data dir: a re-run without the flags keeps TLS and the CA...
    data.mkdir()
    (data / "install-tls").write_text("# kept\n")
    assert exec_start(unit_for(venv, data)) == base + ' "--tls"'
    (data / "tls-ca.pem").write_text("ca\n")
    assert exec_start(unit_for(venv, data)) == with_ca
    # ...and --no-tls drops them.
    assert exec_start(unit_for(venv, data, "--no-tls")) == base
    assert exec_start(unit_for(venv, data, "--tls", "--no-tls")) == base


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed (apt-get install -y systemd; `make tools` does it)")
    # verify checks that ExecStart exists and is executable: give it one.
    agent = tmp_path / "venv" / "bin" / "shareai-agent"
    agent.parent.mkdir(parents=True)
    agent.write_text("#!/bin/sh\n")
    agent.chmod(0o755)
    (tmp_path / "data").mkdir()
    unit = tmp_path / "shareai-agent.service"
    unit.write_text(unit_for(tmp_path / "venv", tmp_path / "data", "--tls-ca", "/etc/ca.pem"))
    out = run("systemd-analyze", "verify", "--man=no", str(unit))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "shareai-agent.service" not in out.stderr, out.stderr  # no warnings about our unit
    broken = tmp_path / "broken" / "shareai-agent.service"
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    out = run("systemd-analyze", "verify", "--man=no", str(broken))
    assert "shareai-agent.service:" in out.stderr  # the same check flags a bad value


def plist_for(*args: str, home: Path) -> dict[str, object]:
    out = subprocess.run(["sh", str(DATA / "macos.sh"), "--print-plist", *args], capture_output=True, timeout=60,
                         check=False, env={"HOME": str(home), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    data: dict[str, object] = plistlib.loads(out.stdout)
    return data


def test_launch_agent_plist(tmp_path: Path) -> None:
    plist = plist_for("--model", "/m/a&b <c>.gguf", "--model-name", "g", "--chat-format", "gemma", home=tmp_path)
    assert plist["Label"] == "ai.shareai.agent"
    assert plist["ProgramArguments"] == [
        f"{tmp_path}/.shareai/venv/bin/shareai-agent", "run", "--data-dir", f"{tmp_path}/.shareai/data",
        "--model", "/m/a&b <c>.gguf", "--model-name", "g", "--chat-format", "gemma",
    ]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["StandardErrorPath"] == f"{tmp_path}/Library/Logs/shareai-agent.log"
    assert "UserName" not in plist


def test_plist_runs_the_agent_over_tls(tmp_path: Path) -> None:
    data = f"{tmp_path}/.shareai/data"
    base = [f"{tmp_path}/.shareai/venv/bin/shareai-agent", "run", "--data-dir", data]
    assert plist_for("--tls", home=tmp_path)["ProgramArguments"] == [*base, "--tls"]
    assert plist_for("--tls-ca", "/etc/ca.pem", home=tmp_path)["ProgramArguments"] == [
        *base, "--tls", "--tls-ca", f"{data}/tls-ca.pem"]
    Path(data).mkdir(parents=True)
    (Path(data) / "install-tls").write_text("# kept\n")  # kept by an earlier run
    assert plist_for(home=tmp_path)["ProgramArguments"] == [*base, "--tls"]
    assert plist_for("--no-tls", home=tmp_path)["ProgramArguments"] == base


def test_launch_daemon_plist(tmp_path: Path) -> None:
    plist = plist_for("--system", "--user", "owner", home=tmp_path)
    assert plist["UserName"] == "owner"
    assert plist["ProgramArguments"] == ["/usr/local/shareai/bin/shareai-agent", "run", "--data-dir",
                                         "/usr/local/var/shareai"]
    assert plist["StandardOutPath"] == "/Library/Logs/shareai-agent.log"


def test_powershell_script_shape() -> None:
    text = (DATA / "install.ps1").read_text()
    for param in ("$Token", "$Coordinator", "$Name", "$Prefix", "$DataDir", "$Source", "$Python", "$Model",
                  "$ModelName", "$ChatFormat", "[switch]$Uninstall", "[switch]$AtLogon", "[switch]$Tls",
                  "[string]$TlsCa", "[switch]$NoTls"):
        assert param in text
    assert text.splitlines().count('$ShareaiCoordinator = ""') == 1
    assert text.splitlines().count("$ShareaiTls = $false") == 1
    # The task's arguments and the enrollment carry the TLS flags; the choice is kept in the data dir.
    run_args = text[text.index("function Get-RunArguments"):text.index("function Save-TlsChoice")]
    assert 'if ($script:UseTls) { $words += "--tls" }' in run_args
    assert '$words += @("--tls-ca", $script:RunTlsCa)' in run_args
    enroll = text[text.index("function Invoke-Enroll"):text.index("function Get-RunArguments")]
    assert '$enrollArgs += "--tls"' in enroll and '$enrollArgs += @("--tls-ca", $ca)' in enroll
    assert '(Test-Path $TlsState) -or $ShareaiTls' in text and text.index("Invoke-Enroll\nSave-TlsChoice") > 0
    assert "Register-ScheduledTask" in text and "Unregister-ScheduledTask" in text
    assert "sys.version_info >= (3, 11)" in text
    # The coordinator's wheel by default, hash-checked before anything is created.
    for marker in ('$ShareaiUrl = ""', '$ShareaiWheel = ""', '$ShareaiWheelSha256 = ""'):
        assert text.splitlines().count(marker) == 1, marker
    assert '[string]$Source = ""' in text
    resolve = text[text.index("function Resolve-AgentSource"):text.index("function Test-BuildTools")]
    assert '(Get-FileHash -Algorithm SHA256 -Path $wheel).Hash.ToLowerInvariant()' in resolve
    assert 'if ($got -ne $ShareaiWheelSha256)' in resolve and "nothing was installed" in resolve
    install = text[text.index("function Install-Venv"):text.index("function Invoke-Enroll")]
    assert (install.index("Resolve-AgentSource") < install.index("Assert-BuildTools")
            < install.index("& $py -m venv $Prefix"))
    assert '"--force-reinstall", "--no-deps", $agentSource.Exact' in install
    assert "if ($created) { Remove-Item -Recurse -Force $Prefix }" in install
    # Build tools: Visual Studio's C++ tools found through vswhere, else one instruction; a prebuilt index skips.
    tools = text[text.index("function Test-BuildTools"):text.index("function Invoke-Pip")]
    assert "Microsoft.VisualStudio.Component.VC.Tools.x86.x64" in tools and "vswhere.exe" in tools
    assert "if ($LlamaWheelIndex) { return }" in tools
    assert "winget install Microsoft.VisualStudio.2022.BuildTools" in tools
    assert '"--extra-index-url", $LlamaWheelIndex, "--only-binary", "llama-cpp-python"' in install
    assert "https://abetlen.github.io/llama-cpp-python/whl/$LlamaWheelIndex" in text
    # Progress while pip runs: milestones and a heartbeat line.
    pip = text[text.index("function Invoke-Pip"):text.index("function Install-Venv")]
    assert 'Say "still installing (${elapsed}s): $last"' in pip and "$ProgressSeconds" in pip
    # The token: -TokenFile or the environment in, the environment out; never on enroll's command line.
    assert "[string]$TokenFile" in text and "[string]$LlamaWheelIndex" in text
    assert '"--token"' not in enroll and "$env:SHAREAI_ENROLL_TOKEN = $Token" in enroll
    assert "Remove-Item Env:SHAREAI_ENROLL_TOKEN" in enroll
    # balanced braces and parentheses: a cheap guard against a truncated edit (no pwsh here).
    assert text.count("{") == text.count("}") and text.count("(") == text.count(")")
