"""The agent wheel a coordinator serves is itself, re-packaged: complete, valid, reproducible, and
the same bytes whether it runs from the checkout (editable) or from an installed, non-editable copy
that has no source tree."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import shareai
from shareai import __version__
from shareai.coordinator.agent_wheel import build_wheel, package_files
from tests.installers.paths import REPO


def test_wheel_holds_every_package_file_metadata_and_a_valid_record(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    assert wheel.filename == f"shareai-{__version__}-py3-none-any.whl" and wheel.version == __version__
    data = wheel.path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == wheel.sha256
    info = f"shareai-{__version__}.dist-info"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        root = Path(shareai.__file__).parent
        expected = {f"shareai/{p.relative_to(root).as_posix()}" for p in package_files(root)}
        # Everything pyproject ships: every module, the generated gRPC code, the install scripts.
        assert {"shareai/__init__.py", "shareai/proto/fleet/v1/fleet_pb2.py", "shareai/installers_data/ubuntu.sh",
                "shareai/installers_data/install.ps1", "shareai/py.typed"} <= expected
        assert names == expected | {f"{info}/{n}" for n in ("METADATA", "WHEEL", "RECORD", "entry_points.txt")}
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        meta = zf.read(f"{info}/METADATA").decode()
        assert f"\nVersion: {__version__}\n" in meta and 'extra == "agent"' in meta
        assert "shareai-agent = shareai.agent.cli:main" in zf.read(f"{info}/entry_points.txt").decode()
        assert "Tag: py3-none-any" in zf.read(f"{info}/WHEEL").decode()
        rows = list(csv.reader(io.StringIO(zf.read(f"{info}/RECORD").decode())))
        assert {r[0] for r in rows} == names
        for name, digest, size in rows:
            if name.endswith("RECORD"):
                assert digest == size == ""
                continue
            body = zf.read(name)
            want = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={want}" and int(size) == len(body), name


def test_same_files_same_bytes(tmp_path: Path) -> None:
    first = build_wheel(tmp_path / "a")
    second = build_wheel(tmp_path / "b")
    assert first.path.read_bytes() == second.path.read_bytes() and first.sha256 == second.sha256


def test_an_installed_non_editable_copy_repackages_itself_identically(tmp_path: Path) -> None:
    """No source tree, no setuptools, no pip in the target: only the installed files and metadata."""
    wheel = build_wheel(tmp_path / "from-checkout")
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel.path)],
                   check=True, timeout=300, capture_output=True)
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "shareai.coordinator.agent_wheel", "--out",
                          str(tmp_path / "from-installed")], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    rebuilt = tmp_path / "from-installed" / wheel.filename
    installed_root = next((venv / "lib").glob("python3*/site-packages/shareai"))
    assert not installed_root.is_relative_to(REPO) and not (installed_root.parent / "pyproject.toml").exists()
    assert rebuilt.read_bytes() == wheel.path.read_bytes()
    assert out.stdout.splitlines()[1] == f"sha256 {wheel.sha256}"
    sums = tmp_path / "from-installed" / f"{wheel.filename}.sha256"
    assert sums.read_text() == f"{wheel.sha256}  {wheel.filename}\n"  # what `make dist` leaves beside it


def test_pyproject_and_package_agree_on_the_version() -> None:
    text = (REPO / "pyproject.toml").read_text()
    assert f'\nversion = "{__version__}"\n' in text
