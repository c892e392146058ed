"""SSH to lab nodes: the per-lab key, pinned host keys, connection options, readiness."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from halab.errors import OperationFailed
from halab.lab import names
from halab.lab.proc import run
from halab.lab.state import LabState


def make_key(path: Path, comment: str) -> None:
    """An ed25519 key pair without passphrase, private part mode 0600."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    path.chmod(0o600)


def write_known_hosts(state: LabState, host_keys: dict[str, str]) -> None:
    """Pin each node's host key under its name and all its addresses."""
    lines = []
    for node in state.spec.nodes:
        if node.name in host_keys:
            names = ",".join([node.name, *(str(a) for a in node.addresses.values())])
            lines.append(f"{names} {host_keys[node.name]}\n")
    state.known_hosts.write_text("".join(lines))


# Control sockets: unix socket paths must stay under 108 bytes, so not in the state dir.
CONTROL_DIR = Path("/run/halab-lab")


def control_path(state: LabState) -> str:
    return f"{CONTROL_DIR}/{names.prefix(state.name)}-%C"


def common_options(state: LabState) -> list[str]:
    CONTROL_DIR.mkdir(mode=0o700, exist_ok=True)
    return [
        "-o", f"UserKnownHostsFile={state.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={control_path(state)}",
        "-o", "ControlPersist=60s",
    ]  # fmt: skip


def ssh_argv(state: LabState, node: str, command: list[str], tty: bool = False) -> list[str]:
    address = state.spec.address(state.spec.node(node))
    return [
        "ssh", "-i", str(state.key), *common_options(state),
        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10",
        *(["-t"] if tty else []), f"root@{address}", *(["--", *command] if command else []),
    ]  # fmt: skip


def close_masters(state: LabState) -> None:
    """Stop ControlPersist masters of this lab (they would linger up to 60 s otherwise)."""
    for sock in CONTROL_DIR.glob(f"{names.prefix(state.name)}-*"):
        run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "lab"], check=False, timeout=5)


def wait_banner(address: str, deadline: float, alive: Callable[[], bool] | None = None) -> None:
    """Wait until sshd at `address` sends its banner (fail early once `alive()` is False)."""
    while True:
        if alive is not None and not alive():
            raise OperationFailed(f"{address}: the node stopped while waiting for SSH")
        try:
            with socket.create_connection((address, 22), timeout=1) as conn:
                conn.settimeout(2)
                if conn.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise OperationFailed(f"{address}: no SSH banner before the deadline")
        time.sleep(0.2)


def wait_ssh(state: LabState, node: str, timeout: float = 90, alive: Callable[[], bool] | None = None) -> None:
    """Wait until `node` accepts the lab key and runs a command."""
    deadline = time.monotonic() + timeout
    address = str(state.spec.address(state.spec.node(node)))
    wait_banner(address, deadline, alive)
    while True:
        result = run(ssh_argv(state, node, ["true"]), check=False, timeout=60)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise OperationFailed(f"{node}: SSH answers but login fails: {result.stderr.strip()}")
        time.sleep(0.5)
