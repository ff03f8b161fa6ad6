"""Shared paths for the installer tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALLERS = REPO / "installers"
DATA = REPO / "shareai" / "installers_data"

# documented location in installers/ -> canonical package-data copy (what the coordinator serves)
COPIES = {
    INSTALLERS / "install.sh": DATA / "install.sh",
    INSTALLERS / "ubuntu" / "install.sh": DATA / "ubuntu.sh",
    INSTALLERS / "macos" / "install.sh": DATA / "macos.sh",
    INSTALLERS / "windows" / "install.ps1": DATA / "install.ps1",
}
