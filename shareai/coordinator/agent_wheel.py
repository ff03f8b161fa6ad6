"""The agent wheel a coordinator serves: itself, re-packaged from the files it runs from.

    wheel = build_wheel(out_dir)        # -> AgentWheel(path, filename, sha256, version)
    python -m shareai.coordinator.agent_wheel --out dist/      # `make dist`: the wheel and its .sha256

Why re-package rather than call a build backend: an installed, non-editable coordinator has no
source tree, no setuptools and maybe no network, but it always has its own package files and its
distribution metadata (`METADATA`, `entry_points.txt`). A wheel is a zip of exactly those
(PEP 427), so the coordinator writes one from what it imports: the agents it enrolls then run
the very code it runs. The same builder serves an editable checkout (the package files are the
source tree; the metadata comes from the editable install's dist-info).

The output is reproducible: entries sorted, fixed timestamps and permissions, so the same files
give the same bytes and the same SHA-256, whichever copy (checkout or installed) is packaged.
Package files are those the project's package-data rules ship (`*.py`, `*.pyi`, `py.typed`,
`*.sh`, `*.ps1`, and the console's `*.js`, `*.css`, `LICENSE`, `VERSION`); caches and stray
files are left out. Stdlib only, on purpose: it must run in any environment the coordinator was
installed into.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import shareai

DIST_NAME = "shareai"
TAG = "py3-none-any"
# What pyproject's package data ships; anything else under the package folder stays out.
_SUFFIXES = (".py", ".pyi", ".sh", ".ps1", ".js", ".css")  # .js/.css: the console's static files
_NAMES = ("py.typed", "LICENSE", "VERSION")  # LICENSE, VERSION: the console's vendored uPlot
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: no build time in the bytes


class WheelBuildError(RuntimeError):
    """The running coordinator cannot describe itself as a wheel (e.g. not installed as a distribution)."""


@dataclass(frozen=True, slots=True)
class AgentWheel:
    path: Path
    filename: str
    sha256: str
    version: str


def wheel_filename(version: str) -> str:
    return f"{DIST_NAME}-{version}-{TAG}.whl"


def package_files(root: Path) -> list[Path]:
    """The files of the `shareai` package under `root` that a wheel carries, sorted."""
    found = []
    for path in root.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        if path.suffix in _SUFFIXES or path.name in _NAMES:
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _installed() -> tuple[metadata.Distribution, str]:
    """The installed distribution and its core metadata. A dist-info (METADATA) is preferred over
    an egg-info (PKG-INFO, same format) that a checkout may hold in the current directory."""
    found = list(metadata.distributions(name=DIST_NAME))
    for name in ("METADATA", "PKG-INFO"):
        for dist in found:
            text = dist.read_text(name)
            if text:
                return dist, text
    raise WheelBuildError("shareai is not installed as a distribution (pip install . or make setup); "
                          "the coordinator cannot serve its agent wheel")


def wheel_bytes() -> tuple[str, bytes]:
    """(version, wheel bytes) of the running shareai: its package files plus its distribution metadata."""
    root = Path(shareai.__file__).resolve().parent
    dist, meta = _installed()
    version = dist.version
    if version != shareai.__version__:
        # The wheel would install a version the agent then misreports: refuse rather than drift.
        raise WheelBuildError(f"installed metadata says {version} but shareai.__version__ is "
                              f"{shareai.__version__}; reinstall (pip install .)")
    info = f"{DIST_NAME}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for path in package_files(root):
        entries.append((f"{DIST_NAME}/{path.relative_to(root).as_posix()}", path.read_bytes()))
    entries.append((f"{info}/METADATA", meta.encode()))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        entries.append((f"{info}/entry_points.txt", entry_points.encode()))
    entries.append((f"{info}/WHEEL", ("Wheel-Version: 1.0\nGenerator: shareai.coordinator.agent_wheel\n"
                                      f"Root-Is-Purelib: true\nTag: {TAG}\n").encode()))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    record += f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=_EPOCH)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = (0o100644 << 16)
            zf.writestr(zi, data)
    return version, buf.getvalue()


def build_wheel(out_dir: Path) -> AgentWheel:
    """Write the wheel into `out_dir` (atomically; untouched when the bytes are the same) and describe it.

    Blocking (file reads, deflate): call it from a thread, not the event loop."""
    version, data = wheel_bytes()
    out_dir.mkdir(parents=True, exist_ok=True)
    filename = wheel_filename(version)
    path = out_dir / filename
    sha = hashlib.sha256(data).hexdigest()
    if not path.is_file() or path.read_bytes() != data:
        tmp = out_dir / f".{filename}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.chmod(0o644)
        tmp.replace(path)
    return AgentWheel(path=path, filename=filename, sha256=sha, version=version)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the agent wheel the coordinator serves.")
    parser.add_argument("--out", type=Path, default=Path("dist"))
    args = parser.parse_args(argv)
    wheel = build_wheel(args.out)
    # `sha256sum -c` format, like GET /install/<wheel>.sha256.
    (args.out / f"{wheel.filename}.sha256").write_text(f"{wheel.sha256}  {wheel.filename}\n")
    print(f"{wheel.path}\nsha256 {wheel.sha256}")


if __name__ == "__main__":
    main()
