"""One lab node as a Podman container: systemd as PID 1 in the netns the lab plumbed for it.

The container joins the node's own network namespace (`--network ns:/run/netns/...`), so
bridges, addresses, NAT rules, cut/restore and the BMCs are the nspawn lab's, unchanged;
the engine's own network (10.88.0.0/16) and port publishing are never used. Its root is
the engine's copy-on-write layer over halab's node image (containerimage.py): it
survives a power cycle like a disk. halab removes only the container it created, by the
ID it recorded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from halab.errors import OperationFailed
from halab.lab import node
from halab.lab.containerimage import engine_binary
from halab.lab.engine import CONTAINERS_CONF
from halab.lab.proc import run
from halab.lab.procs import Proc, wait_gone
from halab.lab.state import LabState, NodeState

LABEL = "halab.lab"
# Beyond Podman's default set: IPaddr2 and keepalived add addresses (as for nspawn nodes).
CAPABILITIES = "NET_ADMIN"


def podman(st: LabState, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`podman ARGS` with the lab's engine settings (engine.CONTAINERS_CONF: runc, no rlimits)."""
    conf = st.dir / "containers.conf"
    if not conf.exists():
        conf.write_text(CONTAINERS_CONF)
    return run([engine_binary("podman"), *args], check=check, env={"CONTAINERS_CONF": str(conf)})


def create(st: LabState, ns: NodeState, image: str) -> None:
    """The node's container (once), with its identity written into its root before boot."""
    if ns.container and _exists(st, ns.container):
        return
    ns.dir(st.name).mkdir(parents=True, exist_ok=True)
    created = podman(st, "create", "--name", ns.machine, "--label", f"{LABEL}={st.name}",
                     f"--network=ns:/run/netns/{ns.netns}", "--systemd=always", f"--hostname={ns.name}",
                     "--no-hosts", "--dns=none", f"--cap-add={CAPABILITIES}", image)  # fmt: skip
    ns.container = created.stdout.strip().splitlines()[-1]
    ns.image = image
    st.save()
    root = Path(podman(st, "mount", ns.container).stdout.strip().splitlines()[-1])
    try:
        node.write_identity(st, ns, root)
        shutil.copy(root / node.HOST_KEY_PUB, host_public_key(st, ns))
    finally:
        podman(st, "umount", ns.container)


def _exists(st: LabState, container: str) -> bool:
    return podman(st, "container", "exists", container, check=False).returncode == 0


def boot(st: LabState, ns: NodeState) -> None:
    """Start the container; record its PID 1 (SIGKILL to it is a power cut)."""
    if ns.container is None:
        raise OperationFailed(f"{ns.name}: no container to start")
    podman(st, "start", ns.container)
    pid = _state(st, ns.container).get("Pid") or 0
    if not pid:
        raise OperationFailed(f"{ns.name}: the container stopped right after its start: {diagnostics(st, ns)}")
    ns.leader = Proc.of(pid)
    st.save()


def _state(st: LabState, container: str) -> dict[str, object]:
    found = podman(st, "container", "inspect", "--format", "{{json .State}}", container, check=False)
    return json.loads(found.stdout) if found.returncode == 0 and found.stdout.strip() else {}


def running(ns: NodeState) -> bool:
    return bool(ns.leader and ns.leader.alive())


def power_off(st: LabState, ns: NodeState) -> None:
    """SIGKILL the container's PID 1 (its PID namespace dies with it), then have the engine
    record the stop, so that the next start really starts it."""
    if ns.leader is not None:
        ns.leader.kill()
        if not wait_gone([ns.leader], timeout=15):
            raise OperationFailed(f"{ns.name}: PID {ns.leader.pid} survives SIGKILL")
    ns.leader = None
    if ns.container is not None:
        podman(st, "stop", "--time", "0", ns.container, check=False)


def remove(st: LabState, ns: NodeState) -> None:
    """Remove the container halab created (by its ID: never another one of that name)."""
    if ns.container is None:
        return
    podman(st, "rm", "--force", "--time", "0", ns.container, check=False)
    if _exists(st, ns.container):
        raise OperationFailed(f"{ns.name}: podman could not remove container {ns.container[:12]}")
    ns.container = None


def host_public_key(st: LabState, ns: NodeState) -> Path:
    return ns.dir(st.name) / "ssh_host_ed25519_key.pub"


def diagnostics(st: LabState, ns: NodeState) -> str:
    if ns.container is None:
        return "(no container)"
    logs = podman(st, "logs", "--tail", "20", ns.container, check=False)
    return f"container state: {_state(st, ns.container)}\n{logs.stdout[-1200:]}{logs.stderr[-300:]}"
