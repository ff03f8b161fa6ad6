"""Structural checks of the Docker files (no Docker engine here): the compose file parsed with a real
YAML parser, the Dockerfiles parsed into stages and instructions."""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.installers.paths import INSTALLERS, REPO

DOCKER = INSTALLERS / "docker"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, op: str) -> list[str]:
        return [arg for o, arg in self.instructions if o == op]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Instructions with line continuations joined; comments and the parser directive dropped."""
    logical: list[str] = []
    buf = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    assert not buf, f"{path.name}: dangling line continuation"
    stages: list[Stage] = []
    for line in logical:
        op, _, arg = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", arg.strip(), re.IGNORECASE)
            assert m, f"{path.name}: bad FROM {arg!r}"
            stages.append(Stage(m.group(1), m.group(2)))
        else:
            assert stages, f"{path.name}: {op} before FROM"
            stages[-1].instructions.append((op, arg.strip()))
    return stages


def check_image(path: Path, port: str) -> list[Stage]:
    stages = parse_dockerfile(path)
    assert len(stages) >= 2, "multi-stage: build tools stay out of the runtime image"
    names = {s.name for s in stages}
    final = stages[-1]
    for arg in final.all("COPY"):
        m = re.search(r"--from=(\S+)", arg)
        if m:
            assert m.group(1) in names, f"COPY --from={m.group(1)}: no such stage"
        else:
            for src in shlex.split(arg)[:-1]:
                assert (REPO / src).exists(), f"COPY source {src} is not in the repository"
    users = final.all("USER")
    assert users and users[-1] not in ("root", "0"), "the runtime stage runs as a non-root user"
    [health] = final.all("HEALTHCHECK")
    assert health.startswith("--interval=") and " CMD " in health and "/health" in health
    assert port in " ".join(final.all("EXPOSE"))
    assert final.all("ENTRYPOINT") or final.all("CMD")
    return stages


def test_agent_dockerfile() -> None:
    stages = check_image(DOCKER / "Dockerfile.agent", "8001")
    build = stages[0]
    assert any(".[agent,model]" in r for r in build.all("RUN"))
    assert "/health" in stages[-1].all("HEALTHCHECK")[0]
    assert stages[-1].all("ENTRYPOINT") == ['["/usr/local/bin/agent-entrypoint.sh"]']


def test_coordinator_dockerfile() -> None:
    stages = check_image(DOCKER / "Dockerfile.coordinator", "8080")
    assert "/healthz" in stages[-1].all("HEALTHCHECK")[0]
    assert not any("[agent" in r or "llama" in r for r in stages[0].all("RUN")), "no llama.cpp in the coordinator image"
    # gRPC binds loopback by default; in a container, agents come through the published port.
    entry = json.loads(stages[-1].all("ENTRYPOINT")[0])
    assert entry[entry.index("--grpc-host") + 1] == "0.0.0.0" and entry[entry.index("--http-host") + 1] == "0.0.0.0"


def test_dockerignore_keeps_what_the_dockerfiles_copy() -> None:
    for name in ("Dockerfile.agent", "Dockerfile.coordinator"):
        ignore = (DOCKER / f"{name}.dockerignore").read_text().splitlines()
        assert ignore[0] == "*"
        kept = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
        for stage in parse_dockerfile(DOCKER / name):
            for arg in stage.all("COPY"):
                if "--from=" not in arg:
                    for src in shlex.split(arg)[:-1]:
                        assert src.rstrip("/") in kept, f"{name}: COPY {src} is excluded by its .dockerignore"


def test_compose_file() -> None:
    doc = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = doc["services"]
    assert set(services) == {"coordinator", "token", "agent"}
    for name in ("coordinator", "agent"):
        build = services[name]["build"]
        dockerfile = (DOCKER / build["context"]).resolve() / build["dockerfile"]
        assert dockerfile.is_file(), dockerfile
        assert (DOCKER / build["context"]).resolve() == REPO
    assert services["token"]["image"] == services["coordinator"]["image"]
    assert services["token"]["depends_on"]["coordinator"]["condition"] == "service_healthy"
    assert services["agent"]["depends_on"]["token"]["condition"] == "service_completed_successfully"
    agent_env = services["agent"]["environment"]
    assert agent_env["SHAREAI_COORDINATOR"] == "coordinator:50051"
    token_file = agent_env["SHAREAI_TOKEN_FILE"]
    assert token_file.startswith("/run/shareai/") and token_file in services["token"]["command"][0]
    assert "SHAREAI_ADMIN_KEY" in services["coordinator"]["environment"]
    for svc in services.values():
        for volume in svc.get("volumes", []):
            assert volume.split(":")[0] in doc["volumes"], f"undeclared volume {volume}"
    assert "8080:8080" in services["coordinator"]["ports"] and "50051:50051" in services["coordinator"]["ports"]


def test_compose_agent_advertises_its_container_address(tmp_path: Path) -> None:
    """The coordinator accepts only an endpoint on the address the node connects from (never a host
    name such as `agent`): compose sets no advertise URL and the entrypoint advertises the
    container's own IP."""
    doc = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert "SHAREAI_ADVERTISE_URL" not in doc["services"]["agent"]["environment"]
    bin_dir, log = _recording_agent(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SHAREAI_DATA_DIR": str(data), "SHAREAI_COORDINATOR": "c:50051",
           "SHAREAI_MODEL": "/m.gguf", "SHAREAI_MODEL_NAME": "m", "SHAREAI_CHAT_FORMAT": "gemma"}
    out = subprocess.run(["sh", str(DOCKER / "agent-entrypoint.sh")], env=env, capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    run = log.read_text().splitlines()[-1]
    url = run.split("--advertise-url ", 1)[1].split()[0]
    host = url.removeprefix("http://").rsplit(":", 1)[0]
    ipaddress.ip_address(host)  # an IP literal, not a name
    own = subprocess.run(["hostname", "-i"], capture_output=True, text=True, check=True).stdout.split()[0]
    assert url == f"http://{own}:8001/v1"


def _recording_agent(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in `shareai-agent` that appends its arguments, and the token it finds in its environment
    (`env:` line), to a log: (its folder, the log)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    fake = bin_dir / "shareai-agent"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\n'
                    f'[ -z "${{SHAREAI_ENROLL_TOKEN:-}}" ] || printf "env:%s\\n" "$SHAREAI_ENROLL_TOKEN" >> "{log}"\n')
    fake.chmod(0o755)
    return bin_dir, log


def test_agent_entrypoint_enrolls_once_then_runs(tmp_path: Path) -> None:
    """The entrypoint's plumbing, with a recording stand-in for `shareai-agent` on PATH."""
    bin_dir, log = _recording_agent(tmp_path)
    (tmp_path / "token").write_text("sa-enroll-abc")
    (tmp_path / "token").chmod(0o600)
    data = tmp_path / "data"
    data.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin", "SHAREAI_DATA_DIR": str(data),
        "SHAREAI_TOKEN_FILE": str(tmp_path / "token"),
        "SHAREAI_COORDINATOR": "coordinator:50051", "SHAREAI_NODE_NAME": "n1", "SHAREAI_MODEL": "/models/b.gguf",
        "SHAREAI_MODEL_NAME": "gemma-3-270m", "SHAREAI_CHAT_FORMAT": "gemma",
        "SHAREAI_ADVERTISE_URL": "http://agent:8001/v1",
    }
    for _ in range(2):
        out = subprocess.run(["sh", str(DOCKER / "agent-entrypoint.sh"), "--slots", "2"], env=env, capture_output=True,
                             text=True, timeout=30, check=False)
        assert out.returncode == 0, out.stderr
    enroll, run1, run2 = log.read_text().splitlines()
    # The token file is handed over by name: the token itself is not on argv (nor in the environment).
    assert enroll == (f"enroll --token-file {tmp_path / 'token'} --coordinator coordinator:50051 --data-dir {data} "
                      "--name n1")
    assert run1 == run2 == (f"run --data-dir {data} --model /models/b.gguf --model-name gemma-3-270m "
                            "--chat-format gemma --host 0.0.0.0 --port 8001 --advertise-url http://agent:8001/v1 "
                            "--slots 2")


def test_agent_entrypoint_passes_tls_settings_to_enroll_and_run(tmp_path: Path) -> None:
    bin_dir, log = _recording_agent(tmp_path)
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    data = tmp_path / "data"
    data.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin", "SHAREAI_DATA_DIR": str(data), "SHAREAI_TOKEN": "enr_x",
        "SHAREAI_COORDINATOR": "coordinator:50051", "SHAREAI_NODE_NAME": "n1", "SHAREAI_MODEL": "/m.gguf",
        "SHAREAI_MODEL_NAME": "m", "SHAREAI_CHAT_FORMAT": "gemma", "SHAREAI_TLS_CA": str(ca),
    }
    out = subprocess.run(["sh", str(DOCKER / "agent-entrypoint.sh")], env=env, capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    enroll, env_token, run = log.read_text().splitlines()
    # SHAREAI_TOKEN reaches enroll through the environment, not argv.
    assert "enr_x" not in enroll and env_token == "env:enr_x"
    assert enroll == f"enroll --coordinator coordinator:50051 --data-dir {data} --name n1 --tls --tls-ca {ca}"
    assert run.startswith(f"run --data-dir {data} --tls --tls-ca {ca} --model /m.gguf")

    missing = subprocess.run(["sh", str(DOCKER / "agent-entrypoint.sh")],
                             env={**env, "SHAREAI_TLS_CA": str(tmp_path / "absent.pem")},
                             capture_output=True, text=True, timeout=30, check=False)
    assert missing.returncode == 1 and "is not readable" in missing.stderr


def test_compose_token_service_leaves_a_0600_token_file(tmp_path: Path) -> None:
    """The token service's own command, run by sh with a stand-in `shareai-coordinator` (a real script
    printing a token) and the shared volume mapped to a temporary folder."""
    doc = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    command = doc["services"]["token"]["command"][0]
    volume = tmp_path / "run-shareai"
    volume.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "shareai-coordinator"
    fake.write_text('#!/bin/sh\ncase "$1 $2" in\n  "org list") echo "[]" ;;\n  "token create") echo enr_compose ;;\n'
                    'esac\n')
    fake.chmod(0o755)
    out = subprocess.run(["sh", "-c", command.replace("/run/shareai", str(volume))], capture_output=True, text=True,
                         timeout=30, check=False, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    token = volume / "token"
    assert token.read_text().strip() == "enr_compose"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
