"""Preconditions of the lab: Linux, root, and the host tools it drives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Collection

from halab.errors import InputError, OperationFailed

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
# Extra host tools per node backend, with the packages that provide them. VM nodes
# (lab.vm_nodes, --backend vm): QEMU, qemu-img, and mkfs.ext4 -d for the image. Podman
# nodes: the engine and the runc runtime (docs/lab.md#containers-for-ci says why runc).
# Docker nodes: the docker CLI.
EXTRA_TOOLS = {
    "vm": {"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "mkfs.ext4": "e2fsprogs"},
    "podman": {"podman": "podman", "runc": "runc", "newuidmap": "uidmap"},
    "docker": {"docker": "docker.io"},  # the CLI; the engine is whatever DOCKER_HOST names
}


def extra_install_command(backend: str) -> str:
    return "apt-get install -y --no-install-recommends " + " ".join(sorted(set(EXTRA_TOOLS[backend].values())))


def missing_tools(backends: Collection[str] = ()) -> list[str]:
    """Tools from TOOLS (and those of `backends`) not found on PATH (sbin dirs included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    tools = {**TOOLS, **{t: p for b in backends for t, p in EXTRA_TOOLS.get(b, {}).items()}}
    return [tool for tool in tools if shutil.which(tool, path=path) is None]


def check_host(backends: Collection[str] = ()) -> None:
    """InputError (exit 2, before anything is made) with the exact remedy unless this host
    can run a lab of `backends`."""
    if not sys.platform.startswith("linux"):
        raise InputError(f"the lab needs Linux (systemd-nspawn); this is {sys.platform}")
    if os.geteuid() != 0:
        raise InputError("the lab needs root (network namespaces, bridges, mounts): run it with sudo")
    missing = missing_tools()
    if missing:
        packages = sorted({TOOLS[tool] for tool in missing})
        raise InputError(
            f"missing host tools: {', '.join(missing)} (packages {', '.join(packages)}).\n"
            f"Install them with:  {INSTALL_COMMAND}\n"
            "or rerun with --install-deps"
        )
    for backend in sorted(set(backends) & EXTRA_TOOLS.keys()):
        missing = missing_tools([backend])
        if missing:
            packages = sorted({EXTRA_TOOLS[backend][tool] for tool in missing})
            raise InputError(
                f"{backend} nodes need {', '.join(missing)} (packages {', '.join(packages)}).\n"
                f"Install them with:  {extra_install_command(backend)}\n"
                "or rerun with --install-deps"
            )


def install_deps(backends: Collection[str] = ()) -> None:
    """Install the host packages with apt-get (output goes to the terminal)."""
    extras = [extra_install_command(b) for b in sorted(set(backends) & EXTRA_TOOLS.keys())]
    commands = [INSTALL_COMMAND, *extras]
    if os.geteuid() != 0:
        raise InputError(f"installing packages needs root: sudo {' && sudo '.join(commands)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in commands:
        if subprocess.run(command.split(), env=env).returncode != 0:
            raise OperationFailed(f"`{command}` failed")
