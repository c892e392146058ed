"""Virtual BMCs of lab nodes: IPMI over LAN (RMCP+, `lanplus`), as OpenStack's VirtualBMC
serves virtual machines, on pyghmi's BMC server.

Every node gets a BMC on the host side of the lab's primary network, at UDP port
`bmc.port + i` (node i in file order), and, when the file asks for a second power path
(for fencing levels), a "PDU outlet" at `bmc.pdu_port + i` served by the same process.
`power off` is the lab's crash, `power on` boots the node, `power cycle` and `reset` do
both, `power status` is the node's real state (see `bmcserver`). Each node's BMC is its
own process (`python -m halab.lab.bmcserver LAB NODE ADDRESS PORT [PDU_PORT]`), recorded
by PID and start time like every lab process; it reads the credentials from its stdin,
never from its arguments, its environment or a file others can read, and logs no password.
`unplug` makes a BMC stop answering (an iptables DROP rule for its port) to test
fencing failures; `plug` puts it back.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from halab.errors import InputError, OperationFailed
from halab.lab import names, network, state
from halab.lab.procs import Proc
from halab.lab.spec import LabSpec
from halab.lab.state import LabState

DEVICES = ("bmc", "pdu")


def password(spec: LabSpec) -> str | None:
    """The BMCs' password from the file's `lab.bmc.password` source, or None (generated)."""
    source = spec.bmc.password
    if source is None:
        return None
    from halab.secrets import rules  # the secret rules of the cluster file (env, file, format)

    try:
        return str(rules().resolve({"name": "lab.bmc.password", "format": "ipmi_password", **source}))
    except rules().SecretError as exc:
        raise InputError(str(exc)) from None


def generated_password_file(st: LabState) -> Path:
    return st.dir / "bmc-password"


def _generated_password(st: LabState) -> str:
    path = generated_password_file(st)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(12)[:16] + "\n")
    return path.read_text().strip()


def ports(spec: LabSpec, node: str) -> dict[str, int]:
    """UDP ports of the node's power devices: its BMC, and its PDU outlet if any."""
    index = [n.name for n in spec.nodes].index(node)
    out = {"bmc": spec.bmc.port + index}
    if spec.bmc.pdu_port is not None:
        out["pdu"] = spec.bmc.pdu_port + index
    return out


def ensure(st: LabState, given_password: str | None) -> None:
    """Start the BMC of every node that has none running (called by `lab up`)."""
    address = str(st.spec.primary.host_address)
    secret = given_password if given_password is not None else _generated_password(st)
    for nspec in st.spec.nodes:
        ns = st.nodes[nspec.name]
        if ns.bmc is not None and ns.bmc.alive():
            continue
        node_ports = ports(st.spec, nspec.name)
        log = (ns.dir(st.name) / "bmc.log").open("ab")
        argv = [sys.executable, "-m", "halab.lab.bmcserver", st.name, nspec.name, address,
                *(str(node_ports[d]) for d in DEVICES if d in node_ports)]  # fmt: skip
        child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=log, start_new_session=True)
        log.close()
        ns.bmc = Proc.of(child.pid)
        st.save()
        assert child.stdin is not None
        child.stdin.write(f"{st.spec.bmc.username}\n{secret}\n".encode())
        child.stdin.close()
        _wait_listening(st, nspec.name, child, address, list(node_ports.values()))


def _wait_listening(st: LabState, node: str, child: subprocess.Popen, address: str, udp_ports: list[int]) -> None:
    """Until the BMC holds its ports (a bind of the same port then fails)."""
    deadline = time.monotonic() + 15
    while True:
        if all(_bound(address, port) for port in udp_ports):
            return
        if child.poll() is not None or time.monotonic() > deadline:
            log = st.nodes[node].dir(st.name) / "bmc.log"
            raise OperationFailed(f"{node}: the virtual BMC did not start: {log.read_text(errors='replace')[-600:]}")
        time.sleep(0.05)


def _bound(address: str, port: int) -> bool:
    """Whether a socket holds address:port, read from the kernel's table (a probe bind
    would hold the port for a moment and could make the BMC's own bind fail)."""
    local = f"{struct.unpack('=I', socket.inet_aton(address))[0]:08X}:{port:04X}"
    rows = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(row.split()[1] == local for row in rows)


def _drop_rule(st: LabState, port: int) -> list[str]:
    address = str(st.spec.primary.host_address)
    return ["filter", "INPUT", "-d", address, "-p", "udp", "--dport", str(port), "-j", "DROP",
            "-m", "comment", "--comment", names.comment(st.name)]  # fmt: skip


def set_plugged(name: str, node: str, device: str, plugged: bool) -> None:
    """Unplug (the device stops answering) or plug back a node's BMC or PDU outlet."""
    with state.locked(name):
        st = state.load(name)
        if st is None:
            raise InputError(f"no lab named {name!r} is up (see `halab lab list`)")
        st.spec.node(node)
        node_ports = ports(st.spec, node)
        if device not in node_ports:
            raise InputError(f"--device {device}: {node} has {', '.join(node_ports)} (lab.bmc.pdu_port is not set)")
        rule = _drop_rule(st, node_ports[device])
        if plugged:
            network.delete_rule(rule)
            st.unplugged = [r for r in st.unplugged if r != rule]
        elif rule not in st.unplugged:
            st.unplugged.append(rule)
            st.save()  # recorded before it exists, like every lab object
            network.insert_rule(rule, 1)
        st.save()


def power_log(st: LabState, node: str) -> list[str]:
    """The node's power actions as its BMC process logged them ("DATE TIME DEVICE: power ACTION")."""
    log = st.nodes[node].dir(st.name) / "bmc.log"
    return [line for line in log.read_text(errors="replace").splitlines() if ": power " in line] if log.exists() else []


def describe(st: LabState, node: str) -> dict[str, Any]:
    """What `lab status` shows of a node's power devices."""
    ns = st.nodes.get(node)
    address = str(st.spec.primary.host_address)
    return {
        device: {
            "address": f"{address}:{port}",
            "state": "unplugged" if _drop_rule(st, port) in st.unplugged else "answering",
            "process": "running" if ns and ns.bmc and ns.bmc.alive() else "stopped",
        }
        for device, port in ports(st.spec, node).items()
    }
