"""One lab node: an overlayfs root over the base image, booted by systemd-nspawn in its netns."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from ipaddress import IPv4Interface
from pathlib import Path

from halab.errors import OperationFailed
from halab.lab import names, network
from halab.lab.aptproxy import PORT
from halab.lab.proc import run
from halab.lab.procs import Proc, children, wait_gone
from halab.lab.state import LabState, NodeState

HOST_RESOLV = Path("/etc/resolv.conf")
HOST_LOCAL_CAS = Path("/usr/local/share/ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STUB_RESOLVERS = ("127.0.0.53", "127.0.0.54")
HOST_KEY = Path("etc/ssh/ssh_host_ed25519_key")
HOST_KEY_PUB = HOST_KEY.with_suffix(".pub")


def plumb(state: LabState, node: NodeState, mtu: int) -> None:
    """The node's network namespace and one veth per network it is on, the default route via
    the host's side of its home network and, in a routed lab, routes to the other rooms."""
    spec = state.spec
    nspec = spec.node(node.name)
    if not network.netns_exists(node.netns):
        network.create_netns(node.netns)
    for link, net in enumerate(spec.networks):
        if net.name not in nspec.addresses or network.link_exists(node.veths[link]):
            continue
        address = IPv4Interface(f"{nspec.addresses[net.name]}/{net.subnet.prefixlen}")
        network.add_veth(node.veths[link], node.netns, net.interface, names.bridge(spec.name, link), address, mtu)
    network.replace_default_route(node.netns, str(spec.home(nspec).host_address))
    for subnet, via in spec.routes(nspec):
        network.replace_route(node.netns, str(subnet), str(via))


def mount_root(state: LabState, node: NodeState, image: Path) -> None:
    base = node.dir(state.name)
    for sub in ("upper", "work", "root"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    if not is_mounted(node.root(state.name)):
        node.mounted = True
        state.save()
        opts = f"lowerdir={image},upperdir={base / 'upper'},workdir={base / 'work'}"
        run(["mount", "-t", "overlay", "halab-lab", "-o", opts, str(node.root(state.name))])


def is_mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/self/mountinfo") as info:
        return any(line.split()[4] == target for line in info)


def mounts_under(path: Path) -> list[str]:
    prefix = str(path) + "/"
    with open("/proc/self/mountinfo") as info:
        return [line.split()[4] for line in info if line.split()[4].startswith(prefix)]


def write_identity(state: LabState, node: NodeState, root: Path) -> None:
    """Hostname, /etc/hosts, DNS, machine id, root's key, apt proxy, a fresh host key,
    written into the node's root file system `root` before it boots."""
    primary = state.spec.primary
    _put(root / "etc/hostname", f"{node.name}\n")
    _put(root / "etc/hosts", hosts_file(state))
    _put(root / "etc/resolv.conf", host_resolv_conf())
    _put(root / "etc/machine-id", secrets.token_hex(16) + "\n")
    _put(
        root / "etc/apt/apt.conf.d/01halab-proxy",
        f'Acquire::http::Proxy "http://{primary.host_address}:{PORT}";\nAcquire::https::Proxy "DIRECT";\n',
    )
    _trust_host_cas(root)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _put(ssh_dir / "authorized_keys", state.key.with_suffix(".pub").read_text(), mode=0o600)
    if not (root / HOST_KEY).exists():
        (root / HOST_KEY).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node.name}",
             "-f", str(root / HOST_KEY)])  # fmt: skip


def hosts_file(state: LabState) -> str:
    """/etc/hosts of every node: localhost and each node's address on its home network."""
    hosts = "".join(f"{state.spec.address(n)}\t{n.name}\n" for n in state.spec.nodes)
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{hosts}"


def host_resolv_conf() -> str:
    """The host's resolver config; a local stub resolver is unreachable from a node."""
    text = HOST_RESOLV.read_text() if HOST_RESOLV.exists() else ""
    if any(stub in text for stub in STUB_RESOLVERS):
        upstream = Path("/run/systemd/resolve/resolv.conf")
        if upstream.exists():
            return upstream.read_text()
    return text


def _trust_host_cas(root: Path) -> None:
    """Nodes trust what the host trusts (site CAs, e.g. of an HTTPS-inspecting proxy)."""
    if not HOST_LOCAL_CAS.is_dir():
        return
    for cert in HOST_LOCAL_CAS.glob("*.crt"):
        _put(root / "usr/local/share/ca-certificates" / cert.name, cert.read_text())
    if HOST_CA_BUNDLE.exists():
        _put(root / "etc/ssl/certs/ca-certificates.crt", HOST_CA_BUNDLE.read_text())


def _put(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    path.write_text(text)
    path.chmod(mode)


def boot(state: LabState, node: NodeState) -> None:
    """Start nspawn in the node's namespace; record nspawn's and the container init's PIDs."""
    log = (node.dir(state.name) / "nspawn.log").open("ab")
    argv = [
        "systemd-nspawn", "--quiet", "-D", str(node.root(state.name)), "--boot",
        "--register=no", "--keep-unit", "--console=passive",
        f"--network-namespace-path=/run/netns/{node.netns}",
        "-M", names.machine(state.name, node.name), f"--hostname={node.name}",
        "--capability=CAP_NET_ADMIN", "--resolv-conf=off", "--link-journal=no",
        "--timezone=off",
    ]  # fmt: skip
    # The node has its own network namespace, so its /proc/sys/net may be writable: LVS real
    # servers set arp_ignore/arp_announce there (systemd's documented nspawn switch).
    env = os.environ | {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env
    )
    log.close()
    node.nspawn = Proc.of(child.pid)
    state.save()
    deadline = time.monotonic() + 15
    while node.leader is None:
        # nspawn forks a short-lived helper first; the leader is the child in a new PID ns
        kids = [k for k in children(child.pid) if _in_other_pid_ns(k)]
        if kids:
            node.leader = Proc.of(kids[0])
        elif child.poll() is not None:
            tail = (node.dir(state.name) / "nspawn.log").read_text()[-600:]
            raise OperationFailed(f"{node.name}: systemd-nspawn exited ({child.returncode}): {tail}")
        elif time.monotonic() > deadline:
            raise OperationFailed(f"{node.name}: systemd-nspawn started no container within 15 s")
        else:
            time.sleep(0.02)
    state.save()


def _in_other_pid_ns(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def running(node: NodeState) -> bool:
    return bool(node.leader and node.leader.alive() and node.nspawn and node.nspawn.alive())


def power_off(node: NodeState) -> None:
    """Hard power-off: SIGKILL the container's PID 1 (its whole PID namespace dies) and nspawn.

    Killing nspawn alone is not enough: its container keeps running as an orphan.
    """
    procs = [p for p in (node.leader, node.nspawn) if p is not None]
    for proc in procs:
        proc.kill()
    if not wait_gone(procs, timeout=15):
        raise OperationFailed(f"{node.name}: processes {[p.pid for p in procs]} survive SIGKILL")
    node.leader = node.nspawn = None


def unmount(state: LabState, node: NodeState) -> None:
    root = node.root(state.name)
    for attempt in range(20):
        if not is_mounted(root):
            break
        run(["umount", str(root)], check=False)
        if attempt:
            time.sleep(0.1)
    else:
        run(["umount", "--lazy", str(root)])
    node.mounted = False

