"""Preconditions of the lab: Linux, root, and the host tools it drives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from halab.lab.errors import LabError

PACKAGES = ("systemd-container", "debootstrap", "iptables", "iproute2", "openssh-client")
INSTALL_COMMAND = "apt-get install -y " + " ".join(PACKAGES)
# tool -> Debian package providing it
TOOLS = {
    "systemd-nspawn": "systemd-container",
    "debootstrap": "debootstrap",
    "iptables": "iptables",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def missing_tools() -> list[str]:
    """Tools from TOOLS not found on PATH (sbin dirs included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [tool for tool in TOOLS if shutil.which(tool, path=path) is None]


def check_host() -> None:
    """Raise LabError with the exact remedy unless this host can run a lab."""
    if not sys.platform.startswith("linux"):
        raise LabError(f"the lab needs Linux (systemd-nspawn); this is {sys.platform}")
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, bridges, mounts): run it with sudo")
    missing = missing_tools()
    if missing:
        packages = sorted({TOOLS[tool] for tool in missing})
        raise LabError(
            f"missing host tools: {', '.join(missing)} (packages {', '.join(packages)}).\n"
            f"Install them with:  {INSTALL_COMMAND}\n"
            "or rerun with --install-deps"
        )


def install_deps() -> None:
    """Install the host packages with apt-get (output goes to the terminal)."""
    if os.geteuid() != 0:
        raise LabError(f"installing packages needs root: sudo {INSTALL_COMMAND}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(INSTALL_COMMAND.split(), env=env).returncode != 0:
        raise LabError(f"`{INSTALL_COMMAND}` failed")
