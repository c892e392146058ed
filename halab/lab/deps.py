"""Preconditions of the lab: Linux, root, and the host tools it drives."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from halab.errors import OperationFailed

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
# VM nodes (lab.vm_nodes, --backend vm): QEMU, qemu-img, and mkfs.ext4 -d for the image.
VM_PACKAGES = ("qemu-system-x86", "qemu-utils", "e2fsprogs")
VM_INSTALL_COMMAND = "apt-get install -y --no-install-recommends " + " ".join(VM_PACKAGES)
VM_TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "mkfs.ext4": "e2fsprogs"}


def missing_tools(vm: bool = False) -> list[str]:
    """Tools from TOOLS (and VM_TOOLS if `vm`) not found on PATH (sbin dirs included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    tools = {**TOOLS, **(VM_TOOLS if vm else {})}
    return [tool for tool in tools if shutil.which(tool, path=path) is None]


def check_host(vm: bool = False) -> None:
    """Raise OperationFailed with the exact remedy unless this host can run a lab."""
    if not sys.platform.startswith("linux"):
        raise OperationFailed(f"the lab needs Linux (systemd-nspawn); this is {sys.platform}")
    if os.geteuid() != 0:
        raise OperationFailed("the lab needs root (network namespaces, bridges, mounts): run it with sudo")
    missing = missing_tools()
    if missing:
        packages = sorted({TOOLS[tool] for tool in missing})
        raise OperationFailed(
            f"missing host tools: {', '.join(missing)} (packages {', '.join(packages)}).\n"
            f"Install them with:  {INSTALL_COMMAND}\n"
            "or rerun with --install-deps"
        )
    missing = missing_tools(vm)
    if missing:
        packages = sorted({VM_TOOLS[tool] for tool in missing})
        raise OperationFailed(
            f"VM nodes need {', '.join(missing)} (packages {', '.join(packages)}).\n"
            f"Install them with:  {VM_INSTALL_COMMAND}\n"
            "or rerun with --install-deps"
        )


def install_deps(vm: bool = False) -> None:
    """Install the host packages with apt-get (output goes to the terminal)."""
    commands = [INSTALL_COMMAND, *([VM_INSTALL_COMMAND] if vm else [])]
    if os.geteuid() != 0:
        raise OperationFailed(f"installing packages needs root: sudo {' && sudo '.join(commands)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in commands:
        if subprocess.run(command.split(), env=env).returncode != 0:
            raise OperationFailed(f"`{command}` failed")
